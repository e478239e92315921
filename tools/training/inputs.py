"""Inputs shared by the training tools: the model, how it trains, and the cluster it trains on."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ml_expert_mcp.tools.common.models import StrictModel
from ml_expert_mcp.tools.training.finetuning_inputs import FinetuningSpec
from ml_expert_mcp.tools.training.moe_inputs import MoeSpec

Precision = Literal["fp32", "amp_bf16", "amp_fp16", "bf16", "fp8"]
Optimizer = Literal["adamw", "sgd_momentum", "adafactor", "adam_8bit"]
Checkpointing = Literal["none", "selective", "full"]
AttentionKernel = Literal["sdpa", "eager"]
Framework = Literal["pytorch_fsdp", "deepspeed", "accelerate", "lightning", "megatron", "tensorflow"]



class ModelSpec(StrictModel):
    """A preset name, or a pasted Hugging Face config.json subset, or a non-transformer by size."""

    preset: str | None = Field(max_length=256, default=None, description="Model preset id (see resource knowledge://models), e.g. 'llama-3.1-8b'.")
    hidden_size: int | None = Field(default=None, ge=16, le=65536, description="HF hidden_size (d_model).")
    num_hidden_layers: int | None = Field(default=None, ge=1, le=1024)
    num_attention_heads: int | None = Field(default=None, ge=1, le=1024)
    num_key_value_heads: int | None = Field(default=None, ge=1, le=1024, description="HF num_key_value_heads (GQA); default = heads.")
    intermediate_size: int | None = Field(default=None, ge=16, le=524288, description="HF intermediate_size (FFN width).")
    vocab_size: int | None = Field(default=None, ge=2, le=1_048_576)
    tie_word_embeddings: bool | None = Field(default=None)
    num_local_experts: int | None = Field(default=None, ge=1, le=1024, description="MoE experts per layer (HF num_local_experts).")
    num_experts_per_tok: int | None = Field(default=None, ge=1, le=64, description="MoE experts routed per token.")
    gated_mlp: bool | None = Field(default=None, description="SwiGLU-style gated MLP (Llama) vs plain GELU MLP (GPT/BERT).")
    params: float | None = Field(default=None, ge=1000, le=1e13, description="Non-transformer models: parameter count (absolute, not billions).")
    activation_bytes_per_sample: float | None = Field(
        default=None, ge=1, le=1e12, description="Non-transformer models: training activation bytes per sample at fp32."
    )
    flops_per_sample: float | None = Field(default=None, ge=1, le=1e18, description="Non-transformer: forward FLOPs per sample.")


class TrainingSpec(StrictModel):
    precision: Precision = Field(default="amp_bf16", description="fp32, amp_bf16/amp_fp16 (fp32 weights + autocast), bf16 (pure), fp8 (Transformer Engine).")
    optimizer: Optimizer = Field(default="adamw", description="Optimizer; states: adamw 8 B/param (fp32), sgd_momentum 4, adam_8bit 2, adafactor factored.")
    sequence_length: int = Field(default=2048, ge=1, le=1_048_576, description="Tokens per sample (images: patches).")
    micro_batch_size: int | None = Field(default=None, ge=1, le=4096, description="Samples per GPU per forward pass; omit to let the planner choose.")
    global_batch_size: int | None = Field(default=None, ge=1, le=16_777_216, description="Samples per optimizer step across all GPUs.")
    activation_checkpointing: Checkpointing | None = Field(default=None, description="none, selective, full; omit to let the search choose.")
    attention: AttentionKernel = Field(default="sdpa", description="sdpa = flash/memory-efficient kernels; eager = materialised scores.")
    finetuning: FinetuningSpec | None = Field(default=None, description="Fine-tune a pretrained model (LoRA, QLoRA, DoRA, full); omit to train from scratch.")
    moe: MoeSpec | None = Field(default=None, description="MoE dispatch settings (MoE models only).")


class ClusterSpec(StrictModel):
    gpu: str = Field(max_length=256, default="H100-SXM-80GB", description="GPU id from resource knowledge://gpus, e.g. 'A100-SXM-80GB'.")
    gpus_per_node: int = Field(default=8, ge=1, le=16)
    nodes: int = Field(default=1, ge=1, le=4096)
    intra_node_gbps: float | None = Field(default=None, ge=0.01, le=10000, description="GPU-to-GPU bandwidth inside a node, GB/s one way; default from the GPU catalogue (PCIe if none).")
    inter_node_gbps: float = Field(default=50.0, ge=0.01, le=10000, description="Network bandwidth per GPU between nodes, GB/s (400 Gb/s NIC per GPU = 50).")
    cpu_cores_per_node: int = Field(default=96, ge=1, le=1024, description="CPU cores per node (DataLoader workers).")
    memory_headroom: float = Field(default=0.06, ge=0.0, le=0.5, description="Share of GPU memory kept free.")

    @property
    def num_gpus(self) -> int:
        return self.gpus_per_node * self.nodes


class Layout(StrictModel):
    """How the model is split: data x tensor x pipeline x context parallel, plus sharding."""

    data_parallel: int = Field(default=1, ge=1, le=65536)
    tensor_parallel: int = Field(default=1, ge=1, le=64, description="Tensor-parallel degree (must divide attention heads).")
    pipeline_parallel: int = Field(default=1, ge=1, le=512, description="Pipeline stages (first/last may hold fewer layers).")
    virtual_pipeline_stages: int = Field(default=1, ge=1, le=64, description="Interleaved 1F1B chunks per rank.")
    context_parallel: int = Field(default=1, ge=1, le=64, description="Context (sequence-dimension) parallel degree.")
    expert_parallel: int = Field(default=1, ge=1, le=1024, description="MoE: GPUs the routed experts are split over (must divide the experts).")
    expert_tensor_parallel: int = Field(default=1, ge=1, le=64, description="MoE: tensor-parallel slices of each expert.")
    sequence_parallel: bool = Field(default=True, description="Megatron sequence parallelism with TP (shards norms/dropout).")
    zero_stage: Annotated[int, Field(ge=0, le=3)] = Field(default=0, description="ZeRO stage over data parallel: 0 none (DDP), 1 optimizer, 2 +grads, 3 +params (FSDP full shard).")
    hybrid_shard: bool = Field(default=False, description="Shard within a node only, replicate across nodes (FSDP HYBRID_SHARD / ZeRO++ hpZ).")
    cpu_offload: bool = Field(default=False, description="Optimizer states (and master weights) on CPU.")
    micro_batch_size: int = Field(default=1, ge=1, le=4096, description="Samples per GPU per forward pass.")
    gradient_accumulation_steps: int = Field(default=1, ge=1, le=65536, description="Micro-batches per optimizer step per data-parallel rank.")
    activation_checkpointing: Checkpointing | None = Field(default=None, description="Override of training.activation_checkpointing.")
    recompute_layers: int | None = Field(default=None, ge=1, le=1024, description="Full checkpointing of only N layers per pipeline stage (Megatron block method).")

    @model_validator(mode="after")
    def _consistent(self) -> Layout:
        if self.zero_stage >= 2 and self.pipeline_parallel > 1:
            raise ValueError("layout.zero_stage: ZeRO-2/3 (FSDP) cannot combine with pipeline_parallel > 1 (DeepSpeed's "
                             "pipeline engine refuses it); use 0-1")
        return self
