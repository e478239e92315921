"""The `finetuning` input of the training tools (issue 17): method, adapter shape, base quantization, memory levers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from ml_expert_mcp.tools.common.models import StrictModel

Method = Literal["full", "lora", "qlora", "dora"]
BaseQuant = Literal["none", "nf4", "nf4_double_quant", "int8", "gptq_int4", "awq_int4", "fp8"]
Stack = Literal["hf_peft", "torchtune", "unsloth", "litgpt"]
ModuleName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", max_length=64)]


class FinetuningSpec(StrictModel):
    """Parameter-efficient or full fine-tuning of a pretrained model."""

    method: Method = Field(default="lora", description="full, lora, qlora (4-bit base + LoRA), dora (LoRA + magnitude).")
    rank: int = Field(default=16, ge=1, le=4096, description="LoRA rank r.")
    alpha: float | None = Field(default=None, gt=0, le=65536, description="LoRA alpha; default 2 x rank.")
    target_modules: Literal["attention", "all_linear"] | list[ModuleName] = Field(
        default="all_linear", max_length=32,
        description="attention (q,k,v,o), all_linear, or module names as the model spells them (q_proj, c_attn, qkv_proj...).")
    lora_dropout: float = Field(default=0.05, ge=0, le=0.9, description="Adapter dropout; > 0 saves a dropped copy of each adapter input.")
    base_quantization: BaseQuant | None = Field(
        default=None, description="Frozen base storage: none (16-bit), nf4, nf4_double_quant, int8 (bitsandbytes), gptq_int4, awq_int4; default nf4_double_quant for qlora, none otherwise.")
    train_embeddings: bool = Field(default=False, description="Input embedding trains (HF modules_to_save).")
    train_lm_head: bool = Field(default=False, description="Output head trains.")
    stack: Stack = Field(default="hf_peft", description="hf_peft (PEFT+TRL), torchtune, unsloth, litgpt.")
    paged_optimizer: bool = Field(default=False, description="bitsandbytes paged optimizer states (evictable to CPU).")
    optimizer_in_backward: bool = Field(default=False, description="Optimizer step fused into backward (no full gradient set).")
    activation_offloading: bool = Field(default=False, description="Checkpointed activations offloaded to CPU (torchtune).")
    compile: bool = Field(default=False, description="torch.compile (fused norms/activations save fewer tensors).")
    chunked_cross_entropy: bool = Field(default=False, description="Loss in chunks: no full fp32 logits copy.")
    logits_fp32: bool = Field(default=True, description="Loss upcasts logits to fp32 (transformers >= 4.46 does); false: 16-bit loss.")
