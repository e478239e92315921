"""GPU memory of an LLM engine the way vLLM and SGLang account it: weights per rank, the KV budget, bytes per token
and the block count the engine logs at start-up.

vLLM V1 (0.8 to 0.11 checked against vllm/v1/core/kv_cache_utils.py and v1/worker/gpu_worker.py of 0.11.0):
available = total x gpu_memory_utilization - (weights + peak activation at max_num_batched_tokens + non-torch);
num_blocks = available // page_size // group_size; "GPU KV cache size" = num_blocks // groups x block_size. Hybrid
sliding-window models put layers in groups of the smallest layer-type count (padded), so every padded layer is
charged per token in the logged figure; the sliding-aware capacity is reported beside it. vLLM V0: num_gpu_blocks =
available // (block_size x bytes per token). SGLang: tokens = (free after weights - total x (1 - mem_fraction_static))
// cell size, page size 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from ml_expert_mcp.knowledge import model_catalog
from ml_expert_mcp.tools.common.aliases import resolve_name
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.serving.llm_inputs import LlmModel

GIB = 1024**3
KV_BYTES = {"bf16": 2, "fp16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}
LINEAR_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4_awq": 0.5 + 4 / 128,
                "int4_gptq": 0.5 + 4 / 128, "mxfp4": 2.0}
MXFP4_BYTES = 0.5 + 1 / 32  # 4-bit values plus one E8M0 scale per 32
SGLANG_KV = ("auto", "fp8_e4m3", "fp8_e5m2")  # sglang 0.5.3 server_args --kv-cache-dtype choices


@dataclass(frozen=True)
class Arch:
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    max_len: int
    experts: int = 0
    experts_per_tok: int = 0
    moe_intermediate: int = 0
    shared_experts: int = 0
    first_dense: int = 0
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    sliding_window: int = 0
    global_every: int = 0
    tied: bool = False
    params: float = 0.0
    vision_params: float = 0.0
    mxfp4_experts: bool = False

    @property
    def mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def full_layers(self) -> int:
        if not self.sliding_window or not self.global_every:
            return self.layers
        return self.layers // self.global_every

    @property
    def sliding_layers(self) -> int:
        return self.layers - self.full_layers


def preset_id(model: LlmModel) -> str | None:
    """The decoder preset model.preset names, common names included ("llama-3-70b"; see alias_note)."""
    if model.preset is None:
        return None
    decoders = [k for k, v in model_catalog().items() if v.family == "decoder"]
    return resolve_name("model", model.preset, decoders, "model.preset")


def resolve_arch(model: LlmModel) -> Arch:
    """The architecture from the preset (knowledge/models.toml) overridden by the fields given."""
    base: dict[str, Any] = {}
    if model.preset is not None:
        base = model_catalog()[preset_id(model)].model_dump()  # type: ignore[index]
    given = {k: v for k, v in model.model_dump().items() if v is not None}
    for key, value in given.items():
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise PlanInputError(f"model.{key}", f"must be >= 1, got {value}")
    merged: dict[str, Any] = {**base, **given}
    need = ("num_hidden_layers", "hidden_size", "num_attention_heads")
    missing = [k for k in need if not merged.get(k)]
    if missing:
        raise PlanInputError("model", f"give a preset or the config.json fields {', '.join(missing)}")
    heads = int(merged["num_attention_heads"])
    hidden = int(merged["hidden_size"])
    arch = Arch(
        layers=int(merged["num_hidden_layers"]),
        hidden=hidden, heads=heads,
        kv_heads=int(merged.get("num_key_value_heads") or heads),
        head_dim=int(merged.get("head_dim") or hidden // heads),
        intermediate=int(merged.get("intermediate_size") or 4 * hidden),
        vocab=int(merged.get("vocab_size") or 32000),
        max_len=int(merged.get("max_position_embeddings") or 4096),
        experts=int(merged.get("num_local_experts") or 0),
        experts_per_tok=int(merged.get("num_experts_per_tok") or 0),
        moe_intermediate=int(merged.get("moe_intermediate_size") or merged.get("intermediate_size") or 0),
        shared_experts=int(merged.get("num_shared_experts") or 0),
        first_dense=int(merged.get("first_k_dense_replace") or 0),
        kv_lora_rank=int(merged.get("kv_lora_rank") or 0),
        qk_rope_head_dim=int(merged.get("qk_rope_head_dim") or 0),
        sliding_window=int(merged.get("sliding_window") or 0),
        global_every=int(merged.get("global_layer_every") or 0),
        tied=bool(merged.get("tie_word_embeddings") or False),
        vision_params=float(merged.get("vision_params_b") or 0.0) * 1e9,  # preset field
        mxfp4_experts=merged.get("expert_weight_format") == "mxfp4",
    )
    if arch.mla and not arch.qk_rope_head_dim:
        raise PlanInputError("model.qk_rope_head_dim", "MLA models (kv_lora_rank set) need qk_rope_head_dim")
    params = float(merged["params_b"]) * 1e9 if merged.get("params_b") else 0.0
    return replace(arch, params=params or sum(param_groups(arch).values()))


def param_groups(arch: Arch) -> dict[str, float]:
    """Parameters by kind: embeddings (incl. LM head), attention, dense MLP, routed experts."""
    h = arch.hidden
    if arch.mla:
        q = h * arch.heads * (arch.head_dim + arch.qk_rope_head_dim)
        attn = q + h * (arch.kv_lora_rank + arch.qk_rope_head_dim) + arch.kv_lora_rank * arch.heads * 2 * arch.head_dim \
            + arch.heads * arch.head_dim * h
    else:
        attn = h * arch.heads * arch.head_dim * 2 + 2 * h * arch.kv_heads * arch.head_dim
    mlp_mult = 3
    moe_layers = arch.layers - arch.first_dense if arch.experts else 0
    dense_layers = arch.layers - moe_layers
    experts = moe_layers * arch.experts * mlp_mult * h * arch.moe_intermediate
    shared = moe_layers * arch.shared_experts * mlp_mult * h * arch.moe_intermediate
    dense = dense_layers * mlp_mult * h * arch.intermediate + shared + moe_layers * h * arch.experts
    embed = arch.vocab * h * (1 if arch.tied else 2)
    return {"embed": float(embed), "attention": float(attn * arch.layers), "dense": float(dense),
            "experts": float(experts), "vision": arch.vision_params}


def active_params(arch: Arch) -> float:
    g = param_groups(arch)
    scale = arch.params / max(sum(g.values()), 1.0)
    routed = g["experts"] * (arch.experts_per_tok / arch.experts) if arch.experts else 0.0
    return (g["attention"] + g["dense"] + routed + g["embed"] / (1 if arch.tied else 2)) * scale


def weight_bytes(arch: Arch, weight_format: str) -> float:
    """Checkpoint bytes on the GPUs (all ranks): embeddings stay 16-bit; experts MXFP4 when the format says so."""
    g = param_groups(arch)
    scale = arch.params / max(sum(g.values()), 1.0)
    linear = LINEAR_BYTES[weight_format]
    expert_bytes = MXFP4_BYTES if (weight_format == "mxfp4" or arch.mxfp4_experts) else linear
    return scale * (g["embed"] * 2 + (g["attention"] + g["dense"]) * linear + g["experts"] * expert_bytes) \
        + g["vision"] * 2


def check_parallel(arch: Arch, tp: int, pp: int, field: str = "config.tensor_parallel") -> None:
    if arch.heads % tp:
        raise PlanInputError(field, f"{tp} does not divide the {arch.heads} attention heads; use one of "
                             f"{[d for d in range(1, 65) if arch.heads % d == 0]}")
    if not arch.mla and arch.kv_heads >= tp and arch.kv_heads % tp:
        raise PlanInputError(field, f"{tp} does not divide the {arch.kv_heads} KV heads")
    if not arch.mla and arch.kv_heads < tp and tp % arch.kv_heads:
        raise PlanInputError(field, f"{tp} is not a multiple of the {arch.kv_heads} KV heads")
    if pp > arch.layers:
        raise PlanInputError("config.pipeline_parallel", f"{pp} stages for {arch.layers} layers")


def kv_dtype_bytes(kv_dtype: str, engine: str, weight_format: str) -> int:
    if engine == "sglang" and kv_dtype not in SGLANG_KV:
        raise PlanInputError("kv_cache_dtype", f"SGLang accepts {', '.join(SGLANG_KV)}; got {kv_dtype!r}")
    if kv_dtype == "auto":
        return 2  # the model dtype (bf16/fp16) for every weight format here
    return KV_BYTES[kv_dtype]


def layer_bytes_per_token(arch: Arch, tp: int, kv_bytes: int) -> int:
    """KV bytes per token of one attention layer on one rank (K and V; MLA: one latent, not split by TP)."""
    if arch.mla:
        return (arch.kv_lora_rank + arch.qk_rope_head_dim) * kv_bytes
    return 2 * max(1, arch.kv_heads // tp) * arch.head_dim * kv_bytes


@dataclass(frozen=True)
class KvLayout:
    layer_bytes: int         # per token per layer per rank
    stage_layers: int        # attention layers on the largest pipeline stage
    groups: int              # vLLM KV cache groups
    group_size: int          # layers sharing one pool slot
    full_layers: int
    sliding_layers: int
    bytes_per_token: int     # the engine's per-token charge on one rank (padded layers included)
    exact_bytes_per_token: int  # 2 x layers x KV heads per rank x head_dim x dtype (no padding)


def kv_layout(arch: Arch, tp: int, pp: int, kv_bytes: int, hybrid: bool = True) -> KvLayout:
    per_layer = layer_bytes_per_token(arch, tp, kv_bytes)
    stage = math.ceil(arch.layers / pp)
    full = math.ceil(arch.full_layers / pp)
    sliding = stage - full
    if hybrid and sliding and full:
        size = min(full, sliding)
        groups = math.ceil(full / size) + math.ceil(sliding / size)
    else:
        size, groups = stage, 1
    return KvLayout(per_layer, stage, groups, size, full if sliding else stage, sliding if full else 0,
                    per_layer * size * groups, per_layer * stage)


def vllm_blocks(available_bytes: float, layout: KvLayout, block_size: int, v1: bool = True) -> int:
    page = layout.layer_bytes * block_size
    if not v1:
        return max(int(available_bytes // (page * layout.stage_layers)), 0)
    return max(int(available_bytes // page // layout.group_size), 0)


def vllm_tokens(num_blocks: int, layout: KvLayout, block_size: int) -> int:
    """'GPU KV cache size: N tokens' as vLLM 0.8-0.11 logs it."""
    return num_blocks // layout.groups * block_size


def vllm_concurrency(num_blocks: int, layout: KvLayout, block_size: int, max_model_len: int, window: int,
                     max_num_batched_tokens: int) -> float:
    """'Maximum concurrency for max_model_len tokens per request' (sliding groups hold window + one chunk)."""
    return sliding_concurrency(num_blocks, layout, block_size, max_model_len, window, max_num_batched_tokens)


def sliding_concurrency(num_blocks: int, layout: KvLayout, block_size: int, seq_len: int, window: int,
                        max_num_batched_tokens: int) -> float:
    """Sequences of seq_len tokens that fit when sliding layers hold only their window (vLLM's admission rule)."""
    full_groups = math.ceil(layout.full_layers / layout.group_size) if layout.sliding_layers else 1
    sliding_groups = layout.groups - full_groups if layout.sliding_layers else 0
    per_full = math.ceil(seq_len / block_size)
    per_sliding = math.ceil(min(window - 1 + max_num_batched_tokens, seq_len) / block_size) + 1
    return num_blocks / (full_groups * per_full + sliding_groups * per_sliding)


@dataclass(frozen=True)
class VllmReport:
    layout: KvLayout
    blocks: int
    tokens: int            # "GPU KV cache size: N tokens" as this version logs it
    concurrency: float     # "Maximum concurrency for max_model_len tokens per request"
    sliding_aware: int | None


def vllm_report(available_bytes: float, arch: Arch, tp: int, pp: int, kv_bytes: int, block: int,
                max_model_len: int, max_num_batched_tokens: int, version: tuple[int, int]) -> VllmReport:
    """The start-up figures of a vLLM version: V0 below 0.8 (blocks x block size); V1 treats sliding-window
    layers as full attention before the hybrid allocator (0.10); logs num_blocks // groups x block size up to
    0.19 (issue 40691) and int(concurrency x max_model_len) after the fix (PR 40694; 0.20 assumed)."""
    v1 = version >= (0, 8)
    layout = kv_layout(arch, tp, pp, kv_bytes, hybrid=version >= (0, 10))
    blocks = vllm_blocks(max(available_bytes, 0.0), layout, block, v1)
    window = arch.sliding_window or max_model_len
    conc = vllm_concurrency(blocks, layout, block, max_model_len, window, max_num_batched_tokens)
    if not v1:
        tokens = blocks * block
    elif version < (0, 20):
        tokens = vllm_tokens(blocks, layout, block)
    else:
        tokens = int(conc * max_model_len)
    return VllmReport(layout, blocks, tokens, conc, int(conc * max_model_len) if layout.sliding_layers else None)


def sglang_tokens(available_bytes: float, layout: KvLayout) -> int:
    return max(int(available_bytes // layout.exact_bytes_per_token), 0)


@dataclass(frozen=True)
class Budget:
    total_gib: float
    weights_gib: float
    activation_gib: float
    non_torch_gib: float
    cuda_graph_gib: float
    available_gib: float


# vLLM V1's profile run ends with a dummy sampler pass over max_num_seqs rows of fp32 logits over the whole vocabulary;
# with the top-k/top-p sort's copies and int64 indices that peak is about 8 logits-sized buffers (fitted on the
# 7 H100 start-up logs of vLLM 0.11 marked split=fit in bench/evidence/llm_kv_cache.csv, llm-d-benchmark's
# empirical-vllm-memory-results.md; those rows are not scored). V0 sampled max_num_seqs rows once (2 buffers).
V1_SAMPLER_BUFFERS = 8
V0_SAMPLER_BUFFERS = 2
V1_NON_TORCH_GIB = (0.13, 0.55)  # TP1, TP>1 (same rows)


def vllm_default_limits(total_gib: float, gpu_name: str, v1: bool, max_model_len: int) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) `vllm serve` picks (vLLM 0.11 EngineArgs._set_default_args)."""
    if not v1:
        return max(max_model_len, 2048), 256
    if total_gib >= 70 and "A100" not in gpu_name:
        return 8192, 1024
    return 2048, 256


def activation_gib(arch: Arch, tp: int, max_num_batched_tokens: int, max_num_seqs: int, v1: bool = True) -> float:
    """Peak of vLLM's profile run: one forward of max_num_batched_tokens tokens, then the sampler's fp32 logits."""
    inter = (arch.moe_intermediate * max(arch.experts_per_tok, 1) if arch.experts else arch.intermediate) / tp
    hidden_states = max_num_batched_tokens * (2 * arch.hidden + 3 * inter) * 2
    sampler = max_num_seqs * arch.vocab * 4 * (V1_SAMPLER_BUFFERS if v1 else V0_SAMPLER_BUFFERS)
    return (hidden_states + sampler) / GIB


def vllm_budget(arch: Arch, weights_total: float, total_gib: float, util: float, tp: int, pp: int,
                max_num_batched_tokens: int, max_num_seqs: int, version: tuple[int, int]) -> Budget:
    weights = weights_total / (tp * pp) / GIB
    act = activation_gib(arch, tp, max_num_batched_tokens, max_num_seqs, v1=version >= (0, 8))
    non_torch = V1_NON_TORCH_GIB[tp > 1] if version >= (0, 8) else 0.25 + (0.35 if tp > 1 else 0.0)
    graphs = 0.0
    if version >= (0, 21):  # CUDA-graph memory profiling on by default since v0.21.0 (vLLM's own start-up log)
        graphs = min(0.5 + 0.002 * max_num_seqs, 2.0)
    avail = total_gib * util - weights - act - non_torch - graphs
    return Budget(total_gib, weights, act, non_torch, graphs, avail)


def sglang_chunk(total_gib: float) -> int:
    """SGLang 0.5.3's default chunked_prefill_size by GPU memory (server_args._handle_gpu_memory_settings)."""
    mib = total_gib * 1024
    return 2048 if mib < 35 * 1024 else 4096 if mib < 60 * 1024 else 8192 if mib < 160 * 1024 else 16384


def sglang_default_fraction(total_gib: float, tp: int, pp: int) -> float:
    """SGLang 0.5.3's default mem_fraction_static: (memory - reserved) / memory, reserved in MiB as its code sums it."""
    mib = total_gib * 1024
    if mib < 20 * 1024:
        graph_bs = 8
    elif mib < 35 * 1024:
        graph_bs = 16 if tp < 4 else 80
    elif mib < 60 * 1024:
        graph_bs = 32 if tp < 4 else 160
    elif mib < 160 * 1024:
        graph_bs = 256 if tp < 4 else 512
    else:
        graph_bs = 512
    reserved = 512 + max(sglang_chunk(total_gib), 2048) * 1.5 + graph_bs * 2 + tp * pp / 8 * 1024
    if mib > 60 * 1024:
        reserved = max(reserved, 10 * 1024)
    return round((mib - reserved) / mib, 3)


def sglang_budget(weights_total: float, total_gib: float, fraction: float, tp: int, pp: int) -> Budget:
    weights = weights_total / (tp * pp) / GIB
    non_torch = 0.5 + (0.3 if tp > 1 else 0.0)
    avail = total_gib * fraction - weights - non_torch
    return Budget(total_gib, weights, 0.0, non_torch, 0.0, avail)
