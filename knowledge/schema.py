"""Pydantic schema of every knowledge file: a fact a plan relies on carries its source and an as-of date."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NodeStatus = Literal["current", "deprecated", "renamed", "removed"]
GpuGeneration = Literal["volta", "turing", "ampere", "ada", "hopper", "blackwell", "tpu", "cdna3", "cdna4"]
ModelFamily = Literal["decoder", "encoder", "vit", "cnn"]


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str = Field(pattern=r"^(https?://\S+|shared/data/\S+)$", description="Web address, or a file under shared/data.")
    title: str = Field(min_length=3)
    as_of: date


class KnowledgeNode(BaseModel):
    """One node of a framework tree (e.g. TF Serving > Batching)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
    title: str = Field(min_length=2)
    summary: str = Field(min_length=10, max_length=600)
    parent: str | None = None
    tags: tuple[str, ...] = ()
    status: NodeStatus = "current"
    successor: str | None = None
    correction: str | None = Field(default=None, description="What changed since the seed text's advice.")
    when_to_use: str | None = Field(default=None, max_length=400, description="When to reach for it (and when not).")
    how_to: str | None = Field(default=None, max_length=900, description="The current way to do it, 3-6 lines.")
    pitfalls: tuple[str, ...] = Field(default=(), max_length=6)
    sources: tuple[Source, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _successor_rules(self) -> KnowledgeNode:
        if self.status in ("deprecated", "renamed", "removed") and not self.correction:
            raise ValueError(f"node {self.id}: status {self.status} needs a correction text")
        if self.status == "renamed" and not self.successor:
            raise ValueError(f"node {self.id}: a renamed node names its successor")
        return self


class GpuSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    name: str
    generation: GpuGeneration
    memory_gib: float = Field(gt=0, description="Labelled memory (vendor GB/GiB as marketed).")
    usable_memory_gib: float = Field(gt=0, description="What the framework can allocate (driver-reported total).")
    hbm_bandwidth_tbps: float = Field(gt=0)
    bf16_tflops: float | None = Field(default=None, description="Dense BF16 tensor TFLOP/s (None: no BF16).")
    fp16_tflops: float | None = Field(default=None, description="Dense FP16 tensor TFLOP/s.")
    fp8_tflops: float | None = None
    tf32_tflops: float | None = None
    fp32_tflops: float | None = None
    sustained_tensor_fraction: float = Field(
        default=1.0, gt=0, le=1, description="Share of the tensor peaks the board sustains in continuous GEMMs under "
        "its power cap (1: the peak clock holds; the 70 W T4 drops to about 24 of 65 FP16 TFLOP/s).")
    intra_node_gbps: float | None = Field(default=None, description="NVLink/ICI bandwidth per GPU, GB/s, one way.")
    pcie_gen: int | None = None
    notes: str | None = Field(default=None, max_length=600, description="Caveats plans repeat: software stack (ROCm, XLA), known prediction bias.")
    sources: tuple[Source, ...] = Field(min_length=1)

    @property
    def supports_bf16(self) -> bool:
        return self.bf16_tflops is not None

    def dense_tflops(self, precision: str) -> float:
        """Dense TFLOP/s the matmuls sustain at `precision` (fp32 runs as TF32 where the GPU has it, fp8 falls back to
        16-bit): the datasheet peak times `sustained_tensor_fraction` on tensor cores (a power-capped board's clock)."""
        if precision == "fp8" and self.fp8_tflops:
            tensor: float | None = self.fp8_tflops
        elif precision in ("amp_bf16", "bf16", "fp8") and self.bf16_tflops:
            tensor = self.bf16_tflops
        elif precision in ("amp_fp16", "fp16", "amp_bf16", "bf16", "fp8"):
            tensor = self.fp16_tflops or self.bf16_tflops
        else:
            tensor = self.tf32_tflops
        if tensor:
            return tensor * self.sustained_tensor_fraction
        return self.fp32_tflops or 1.0


class ModelPreset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    title: str
    family: ModelFamily
    hidden_size: int | None = None
    num_hidden_layers: int | None = None
    num_attention_heads: int | None = None
    num_key_value_heads: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    tie_word_embeddings: bool = False
    num_local_experts: int | None = None
    num_experts_per_tok: int | None = None
    gated_mlp: bool = True
    max_position_embeddings: int | None = None
    # Optional architecture detail (issue 17): head size when heads x head_dim != hidden (Qwen3, Gemma);
    # Mixture-of-Experts layout; DeepSeek multi-head latent attention (MLA); sliding-window layers.
    head_dim: int | None = None
    moe_intermediate_size: int | None = Field(default=None, description="FFN width of one routed expert when it differs from intermediate_size (which then sizes dense layers).")
    num_shared_experts: int = Field(default=0, ge=0, description="Always-active experts per MoE layer (DeepSeek, Llama 4).")
    first_k_dense_replace: int = Field(default=0, ge=0, description="Leading layers with a dense MLP (DeepSeek-V3: 3).")
    moe_layer_step: int = Field(default=1, ge=1, description="Every k-th layer is MoE, the rest dense (Llama 4 Maverick: 2).")
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = Field(default=None, description="MLA compressed KV width (DeepSeek-V3: 512).")
    qk_rope_head_dim: int | None = None
    qk_nope_head_dim: int | None = None
    v_head_dim: int | None = None
    sliding_window: int | None = Field(default=None, description="Local attention window, tokens.")
    global_layer_every: int | None = Field(default=None, description="One full-attention layer every N layers, the rest sliding (Gemma 2 and gpt-oss: 2; Gemma 3: 6).")
    expert_weight_format: Literal["bf16", "mxfp4"] = "bf16"
    hidden_act: str | None = Field(default=None, description="HF hidden_act / activation_function where it changes memory: 'gelu_new' (GPT-2) is unfused.")
    qk_norm: bool = Field(default=False, description="RMSNorm on q and k per head (Qwen3 q_norm/k_norm): saves its inputs.")
    notes: str | None = Field(default=None, max_length=300, description="What the memory and step-time models do not count for this model.")
    linear_module_names: tuple[str, ...] | None = Field(default=None, description="nn.Linear names in one decoder layer as the checkpoint spells them; None: Llama names.")
    params: float | None = Field(default=None, description="Parameter count, for models given by size alone.")
    activation_bytes_per_sample: float | None = Field(default=None, description="Training activations per sample.")
    flops_per_sample: float | None = Field(default=None, description="Forward FLOPs per sample (non-transformers).")
    sources: tuple[Source, ...] = Field(min_length=1)


class InstanceType(BaseModel):
    """A SageMaker ml.* instance type with its on-demand price in one region."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
    vcpus: int = Field(gt=0)
    memory_gib: float = Field(gt=0)
    gpu: str | None = Field(default=None, description="GPU id in gpus.toml; None for CPU instances.")
    gpu_count: int = Field(default=0, ge=0)
    network_gbps: float = Field(gt=0, description="Instance network bandwidth, Gbit/s (EFA where offered).")
    local_nvme: bool = Field(description="NVMe instance storage: no EBS volume, no VolumeKmsKeyId.")
    training: bool = Field(description="Offered for training jobs (checked against botocore's TrainingInstanceType).")
    hosting: bool = Field(description="Offered for endpoints (botocore's ProductionVariantInstanceType).")
    training_usd_per_hour: float | None = Field(default=None, gt=0)
    hosting_usd_per_hour: float | None = Field(default=None, gt=0)
    price_region: str = Field(description="Region the prices are for.")
    sources: tuple[Source, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> InstanceType:
        if (self.gpu is None) != (self.gpu_count == 0):
            raise ValueError(f"{self.id}: gpu and gpu_count must agree")
        if self.training != (self.training_usd_per_hour is not None) or self.hosting != (self.hosting_usd_per_hour is not None):
            raise ValueError(f"{self.id}: a price is given exactly for the uses offered")
        return self


class Alias(BaseModel):
    """A name people type for a catalogue entry (knowledge/aliases.toml): one target, or candidates when ambiguous."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["gpu", "model"]
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$", description="Normalised spelling: lower case, '-' for spaces.")
    to: str | None = None
    candidates: tuple[str, ...] = ()
    why: str | None = Field(default=None, max_length=200, description="Why the name reads as the target.")

    @model_validator(mode="after")
    def _one_reading(self) -> Alias:
        if (self.to is None) == (not self.candidates) or len(self.candidates) == 1:
            raise ValueError(f"alias {self.name}: give `to`, or two or more `candidates`")
        return self


class LatencyAnchor(BaseModel):
    """Serving latency constants for one runtime and model family, fitted on published measurements."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    runtime: Literal["tensorflow", "tensorrt"]
    family: Literal["cnn", "transformer"]
    fixed_ms: float = Field(ge=0, description="Per-batch cost that does not scale with the batch (host dispatch, launches).")
    fixed_ms_per_gb: float = Field(ge=0, description="More fixed cost per GB of weights (more layers, more kernels).")
    efficiency: float = Field(gt=0, le=1, description="Share of the GPU's dense peak reached on the batch-dependent part.")
    flops_per_byte: float = Field(gt=0, description="FLOPs per byte of activation traffic at 2 bytes per value (roofline).")
    max_batch: int = Field(ge=1, description="Largest batch the anchors measured: no estimate beyond it.")
    error_factor: float = Field(ge=1, description="Worst estimated/measured ratio (either way) on the calibration rows.")
    calibrated_on: str = Field(min_length=10, description="Which evidence rows the constants were fitted on.")
    sources: tuple[Source, ...] = Field(min_length=1)
