"""Inputs of plan_llm_serving: the model (preset or config.json fields), formats, engine, GPU, a fixed engine
configuration to evaluate or a workload to plan for, and where it is deployed."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ml_expert_mcp.tools.common.models import StrictModel

ENGINE_VERSION_PATTERN = r"^\d+\.\d+(\.\d+)?$"
HF_MODEL_PATTERN = r"^[\w.-]{1,96}(/[\w.-]{1,96})?$"
WeightFormat = Literal["bf16", "fp16", "fp8", "int8", "int4_awq", "int4_gptq", "mxfp4"]
KvDtype = Literal["auto", "bf16", "fp16", "fp8", "fp8_e4m3", "fp8_e5m2"]
Engine = Literal["vllm", "sglang"]

Dim = Annotated[int | None, Field(le=1_048_576)]  # >= 1 checked where the architecture is resolved
Tokens = Annotated[int, Field(ge=1, le=1_048_576)]


class LlmModel(StrictModel):
    preset: str | None = Field(default=None, max_length=64, description="knowledge://models id; fields override")
    hf_id: str | None = Field(default=None, max_length=192, pattern=HF_MODEL_PATTERN)
    num_hidden_layers: Dim = None
    hidden_size: Dim = None
    num_attention_heads: Dim = None
    num_key_value_heads: Dim = None
    head_dim: Dim = None
    intermediate_size: Dim = None
    vocab_size: Dim = None
    max_position_embeddings: Dim = None
    num_local_experts: Dim = None
    num_experts_per_tok: Dim = None
    moe_intermediate_size: Dim = None
    kv_lora_rank: Dim = None
    qk_rope_head_dim: Dim = None
    sliding_window: Dim = None
    global_layer_every: Dim = Field(default=None, description="full layer per N")
    params_b: float | None = Field(default=None, gt=0, le=10_000, description="Total params, billions")


class EngineConfig(StrictModel):
    tensor_parallel: int = Field(default=1, ge=1, le=64)
    pipeline_parallel: int = Field(default=1, ge=1, le=64)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1.0)
    mem_fraction_static: float | None = Field(default=None, gt=0, le=1.0)
    max_model_len: int | None = Field(default=None, ge=16, le=1_048_576)
    max_num_seqs: int | None = Field(default=None, ge=1, le=65536, description="default: engine's")
    max_num_batched_tokens: int | None = Field(default=None, ge=16, le=1_048_576)


class Workload(StrictModel):
    mode: Literal["rate", "concurrency", "offline"]
    requests_per_s: float | None = Field(default=None, gt=0, le=1e5)
    concurrency: int | None = Field(default=None, ge=1, le=100_000, description="clients, closed loop")
    input_tokens: Tokens
    output_tokens: Tokens
    input_tokens_p95: Tokens | None = None
    ttft_p95_ms: float | None = Field(default=None, gt=0, le=1e6)
    tpot_p95_ms: float | None = Field(default=None, gt=0, le=1e6)

    @model_validator(mode="after")
    def _load(self) -> Workload:
        if self.mode == "rate" and self.requests_per_s is None:
            raise ValueError("workload.requests_per_s: required when mode is 'rate'")
        if self.mode == "concurrency" and self.concurrency is None:
            raise ValueError("workload.concurrency: required when mode is 'concurrency'")
        return self


PINNED_VERSIONS = {"vllm": "0.11.0", "sglang": "0.5.3"}  # the releases whose parsers engine_flags.json holds
MAX_REPLICAS = 64
BLOCK_SIZE = 16  # vLLM's default KV block


class PlanLlmServingRequest(StrictModel):
    model: LlmModel = Field(description="preset or config.json fields")
    weight_format: WeightFormat = Field(default="bf16", description="weights")
    kv_cache_dtype: KvDtype = Field(default="auto", description="KV cache")
    engine: Engine = Field(default="vllm", description="engine")
    engine_version: str | None = Field(default=None, max_length=12, pattern=ENGINE_VERSION_PATTERN,
                                       description="default: pinned; vLLM<0.8: V0")
    gpu: str | None = Field(default=None, max_length=64, description="knowledge://gpus id")
    gpus: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=12, description="to search")
    config: EngineConfig | None = Field(default=None, description="evaluate this; omit to plan")
    workload: Workload | None = Field(default=None, description="load, p95 targets")
