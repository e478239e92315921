"""The `finetuning` input of the training tools (issue 17): method, adapter shape, base quantization, memory levers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from ml_expert_mcp.tools.common.models import StrictModel

Method = Literal["full", "lora", "qlora", "dora"]
BaseQuant = Literal["none", "nf4", "nf4_double_quant", "int8", "gptq_int4", "awq_int4", "fp8"]
Stack = Literal["hf_peft", "torchtune", "unsloth", "litgpt"]
Lever = Literal["paged_optimizer", "optimizer_in_backward", "activation_offloading", "compile", "chunked_cross_entropy",
                "loss_16bit"]
ModuleName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", max_length=64)]


class FinetuningSpec(StrictModel):
    method: Method = Field(default="lora", description="full, lora, qlora (quantized base + LoRA), dora.")
    rank: int = Field(default=16, ge=1, le=4096)
    alpha: float | None = Field(default=None, gt=0, le=65536, description="LoRA alpha (default 2 x rank).")
    target_modules: Literal["attention", "all_linear"] | Annotated[list[ModuleName], Field(max_length=32)] = Field(
        default="all_linear", description="attention, all_linear, or Linear names (q_proj, c_attn, qkv_proj...).")
    lora_dropout: float = Field(default=0.05, ge=0, le=0.9)
    base_quantization: BaseQuant | None = Field(default=None, description="Frozen base storage; default nf4_double_quant for qlora, else none.")
    also_train: list[Literal["embeddings", "lm_head"]] = Field(default_factory=list, max_length=2, description="Fully trained besides adapters.")
    stack: Stack = Field(default="hf_peft", description="hf_peft (PEFT + TRL), torchtune, unsloth, litgpt.")
    levers: list[Lever] = Field(default_factory=list, max_length=6)

    @property
    def train_embeddings(self) -> bool:
        return "embeddings" in self.also_train

    @property
    def train_lm_head(self) -> bool:
        return "lm_head" in self.also_train

    @property
    def paged_optimizer(self) -> bool:
        return "paged_optimizer" in self.levers

    @property
    def optimizer_in_backward(self) -> bool:
        return "optimizer_in_backward" in self.levers

    @property
    def activation_offloading(self) -> bool:
        # Unsloth's use_gradient_checkpointing="unsloth" (its documented setting, and the one our option writes)
        # offloads the checkpointed layer inputs to CPU memory
        return "activation_offloading" in self.levers or self.stack == "unsloth"

    @property
    def compile(self) -> bool:
        return "compile" in self.levers

    @property
    def chunked_cross_entropy(self) -> bool:
        return "chunked_cross_entropy" in self.levers

    @property
    def logits_fp32(self) -> bool:
        return "loss_16bit" not in self.levers

    @property
    def lora_alpha(self) -> float:
        return self.alpha if self.alpha is not None else 2.0 * self.rank
