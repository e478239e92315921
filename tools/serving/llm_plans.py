"""Output of plan_llm_serving."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class KvCache(BaseModel):
    bytes_per_token: int = Field(description="The engine's KV charge per token on one GPU (padded layer groups included).")
    exact_bytes_per_token: int = Field(description="2 x layers x KV heads per rank x head_dim x dtype bytes (MLA: latent).")
    available_gib: float = Field(description="KV budget per GPU, GiB (as 'Available KV cache memory').")
    tokens: int = Field(description="As the engine logs 'GPU KV cache size: N tokens' (min over ranks).")
    num_blocks: int
    block_size: int
    groups: int = Field(description="vLLM KV cache groups (hybrid sliding-window models > 1).")
    sliding_aware_tokens: int | None = Field(default=None, description="Tokens of full-length sequences that fit when sliding layers keep only their window.")


class Memory(BaseModel):
    total_gib: float
    weights_gib: float = Field(description="Weights per GPU.")
    activation_gib: float = Field(description="Peak activation of the profile run.")
    non_torch_gib: float
    cuda_graph_gib: float


class EngineSettings(BaseModel):
    engine: str
    engine_version: str
    gpu: str
    tensor_parallel: int
    pipeline_parallel: int
    gpu_memory_utilization: float | None
    mem_fraction_static: float | None
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int
    kv_cache_dtype: str
    block_size: int


class Performance(BaseModel):
    requests_per_s: float = Field(description="Per replica.")
    output_tokens_per_s: float = Field(description="Per replica.")
    concurrency: float = Field(description="Sequences decoding at once.")
    ttft_ms: float
    ttft_p95_ms: float
    tpot_ms: float
    tpot_p95_ms: float
    decode_step_ms: float
    prefill_ms: float = Field(description="Compute time of one mean prompt.")
    prefill_share: float
    limit: str


class Candidate(BaseModel):
    gpu: str
    tensor_parallel: int
    replicas: int
    usd_per_hour: float | None
    meets_targets: bool
    note: str


class LlmArtifacts(BaseModel):
    vllm_command: str
    sglang_command: str
    kubernetes_yaml: str = Field(description="Deployment + Service + HorizontalPodAutoscaler.")
    kserve_yaml: str = Field(description="KServe InferenceService, Hugging Face runtime (vLLM backend).")
    sagemaker_requests: dict[str, Any] = Field(description="CreateModel / CreateEndpointConfig for the LMI (vLLM) container.")


class LlmServingPlan(BaseModel):
    summary: str
    caveats: list[str]
    feasible: bool
    settings: EngineSettings
    replicas: int
    max_concurrent_sequences: float
    kv_cache: KvCache
    memory: Memory
    performance: Performance | None
    candidates: list[Candidate]
    artifacts: LlmArtifacts | None
