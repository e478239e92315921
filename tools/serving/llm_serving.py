"""plan_llm_serving: an LLM behind vLLM or SGLang planned from the KV cache up.

Memory is accounted as the engine does it (llm_memory), latency and throughput under continuous batching with
chunked prefill come from llm_latency; planning mode searches GPU type x tensor parallelism x replicas for the lowest
hourly price that meets the p95 targets, and says why each other choice was rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from ml_expert_mcp.knowledge import gpu_catalog, instance_catalog
from ml_expert_mcp.knowledge.schema import GpuSpec, InstanceType
from ml_expert_mcp.tools.common.aliases import alias_notes
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.hardware import resolve_gpu
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.serving import llm_memory as mem
from ml_expert_mcp.tools.serving.llm_inputs import (
    BLOCK_SIZE,
    MAX_REPLICAS,
    PINNED_VERSIONS,
    EngineConfig,
    PlanLlmServingRequest,
    Workload,
)
from ml_expert_mcp.tools.serving.llm_latency import LoadPoint, Replica, at_concurrency, at_rate, max_rate
from ml_expert_mcp.tools.serving.llm_plans import (
    Candidate,
    EngineSettings,
    KvCache,
    LlmServingPlan,
    Memory,
    Performance,
)

DEFAULT_GPUS = ("L4", "A10G", "L40S", "A100-SXM-80GB", "H100-SXM-80GB")
VLLM_KV_DTYPES = ("auto", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2")  # vLLM 0.11 CacheDType (less fp8_inc: Gaudi)
ENGINE_KV_NAME = {"bf16": "bfloat16", "fp16": "float16"}
MAX_TP = 8


def engine_version(req: PlanLlmServingRequest) -> str:
    return req.engine_version or PINNED_VERSIONS[req.engine]


def _version(text: str) -> tuple[int, int]:
    parts = text.split(".")
    return int(parts[0]), int(parts[1])


@dataclass(frozen=True)
class Evaluation:
    gpu: GpuSpec
    settings: EngineSettings
    budget: mem.Budget
    kv: KvCache
    max_concurrency: float
    replica: Replica
    kv_seqs: float          # sequences of the workload's mean length the KV cache holds
    chunk: int


def _kv_name(req: PlanLlmServingRequest) -> str:
    name = ENGINE_KV_NAME.get(req.kv_cache_dtype, req.kv_cache_dtype)
    if req.engine == "vllm" and name not in VLLM_KV_DTYPES:
        raise PlanInputError("kv_cache_dtype", f"vLLM's --kv-cache-dtype accepts {', '.join(VLLM_KV_DTYPES)}; "
                             f"got {req.kv_cache_dtype!r}")
    return name


def evaluate(req: PlanLlmServingRequest, arch: mem.Arch, gpu: GpuSpec, cfg: EngineConfig,
             max_model_len: int, workload: Workload | None) -> Evaluation:
    tp, pp = cfg.tensor_parallel, cfg.pipeline_parallel
    mem.check_parallel(arch, tp, pp)
    kv_bytes = mem.kv_dtype_bytes(req.kv_cache_dtype, req.engine, req.weight_format)
    version = _version(engine_version(req))
    weights_total = mem.weight_bytes(arch, req.weight_format)
    total = gpu.usable_memory_gib
    if req.engine == "vllm":
        default_chunk, default_seqs = mem.vllm_default_limits(total, gpu.id, version >= (0, 8), max_model_len)
        chunk = cfg.max_num_batched_tokens or default_chunk
        max_seqs = cfg.max_num_seqs or default_seqs
        budget = mem.vllm_budget(arch, weights_total, total, cfg.gpu_memory_utilization, tp, pp, chunk, max_seqs,
                                 version)
        block = BLOCK_SIZE
        report = mem.vllm_report(budget.available_gib * mem.GIB, arch, tp, pp, kv_bytes, block, max_model_len, chunk,
                                 version)
        layout, blocks, tokens, conc, sliding = (report.layout, report.blocks, report.tokens, report.concurrency,
                                                 report.sliding_aware)
        util, fraction = cfg.gpu_memory_utilization, None
    else:
        max_seqs = cfg.max_num_seqs or 256
        fraction = cfg.mem_fraction_static or mem.sglang_default_fraction(total, tp, pp)
        chunk = cfg.max_num_batched_tokens or mem.sglang_chunk(total)
        budget = mem.sglang_budget(weights_total, total, fraction, tp, pp)
        layout = mem.kv_layout(arch, tp, pp, kv_bytes, hybrid=False)
        block = 1
        tokens = mem.sglang_tokens(max(budget.available_gib, 0) * mem.GIB, layout)
        blocks = tokens
        conc = tokens / max_model_len
        sliding, util = None, None
    kv = KvCache(bytes_per_token=layout.bytes_per_token if req.engine == "vllm" else layout.exact_bytes_per_token,
                 exact_bytes_per_token=layout.exact_bytes_per_token, available_gib=round(budget.available_gib, 3),
                 tokens=max(tokens, 0), num_blocks=blocks, block_size=block, groups=layout.groups,
                 sliding_aware_tokens=sliding)
    settings = EngineSettings(engine=req.engine, engine_version=engine_version(req), gpu=gpu.id, tensor_parallel=tp,
                              pipeline_parallel=pp, gpu_memory_utilization=util, mem_fraction_static=fraction,
                              max_model_len=max_model_len, max_num_seqs=max_seqs, max_num_batched_tokens=chunk,
                              kv_cache_dtype=_kv_name(req), block_size=block)
    groups = mem.param_groups(arch)
    scale = arch.params / max(sum(groups.values()), 1.0)
    expert_bytes = groups["experts"] * scale * (mem.MXFP4_BYTES if req.weight_format == "mxfp4" or arch.mxfp4_experts
                                                else mem.LINEAR_BYTES[req.weight_format])
    replica = Replica(gpu=gpu, tp=tp, pp=pp, layers=arch.layers, hidden=arch.hidden, heads=arch.heads,
                      head_dim=arch.head_dim, weight_bytes_rank=weights_total / (tp * pp),
                      expert_bytes_rank=expert_bytes / (tp * pp), experts=arch.experts,
                      experts_per_tok=arch.experts_per_tok, active_params=mem.active_params(arch),
                      kv_layer_bytes=layout.layer_bytes, full_layers=layout.full_layers,
                      sliding_layers=layout.sliding_layers, window=arch.sliding_window,
                      fp8_compute=req.weight_format == "fp8" and gpu.fp8_tflops is not None)
    seq = (workload.input_tokens + workload.output_tokens) if workload else max_model_len
    if layout.sliding_layers and req.engine == "vllm":
        kv_seqs = mem.sliding_concurrency(blocks, layout, block, seq, arch.sliding_window, chunk)
    else:
        kv_seqs = max(tokens, 0) / seq
    return Evaluation(gpu, settings, budget, kv, conc, replica, kv_seqs, chunk)


def _price(gpu_id: str, gpus_per_replica: int) -> tuple[float | None, InstanceType | None]:
    options = [i for i in instance_catalog().values()
               if i.gpu == gpu_id and i.hosting and i.gpu_count >= gpus_per_replica]
    if not options:
        return None, None
    best = min(options, key=lambda i: i.hosting_usd_per_hour or math.inf)
    return best.hosting_usd_per_hour, best


def _load(ev: Evaluation, wl: Workload, clients: float | None, rate: float | None) -> LoadPoint:
    in_p95 = wl.input_tokens_p95 or wl.input_tokens
    args = (wl.input_tokens, wl.output_tokens, in_p95, ev.settings.max_num_seqs, ev.kv_seqs, ev.chunk)
    if clients is not None:
        return at_concurrency(ev.replica, max(1, round(clients)), *args)
    return at_rate(ev.replica, rate or 0.0, *args)


def _meets(point: LoadPoint, wl: Workload) -> bool:
    return point.stable and (wl.ttft_p95_ms is None or point.ttft_p95_s * 1e3 <= wl.ttft_p95_ms) and \
        (wl.tpot_p95_ms is None or point.tpot_p95_s * 1e3 <= wl.tpot_p95_ms)


def _replicas(ev: Evaluation, wl: Workload, max_replicas: int) -> tuple[int, LoadPoint | None, str]:
    """Replicas needed for the workload within the targets, the per-replica load point, and why not if none."""
    in_p95 = wl.input_tokens_p95 or wl.input_tokens
    if ev.kv_seqs < 1:
        return 0, None, f"KV cache holds {ev.kv.tokens} tokens: not one {wl.input_tokens + wl.output_tokens}-token sequence"
    if wl.mode == "offline":
        offline = at_concurrency(ev.replica, ev.settings.max_num_seqs, wl.input_tokens, wl.output_tokens, in_p95,
                                 ev.settings.max_num_seqs, ev.kv_seqs, ev.chunk)
        return 1, offline, ""
    if wl.mode == "concurrency":
        assert wl.concurrency is not None
        last: LoadPoint | None = None
        for r in range(1, max_replicas + 1):
            last = _load(ev, wl, math.ceil(wl.concurrency / r), None)
            if _meets(last, wl):
                return r, last, ""
        return 0, last, f"targets missed even with {max_replicas} replicas"
    assert wl.requests_per_s is not None
    best = max_rate(ev.replica, wl.input_tokens, wl.output_tokens, in_p95, ev.settings.max_num_seqs, ev.kv_seqs,
                    ev.chunk, wl.ttft_p95_ms / 1e3 if wl.ttft_p95_ms else None,
                    wl.tpot_p95_ms / 1e3 if wl.tpot_p95_ms else None)
    if best is None:
        idle = _load(ev, wl, None, 1e-4)
        return 0, idle, f"misses the targets even idle (p95 TTFT {idle.ttft_p95_s * 1e3:.0f} ms, " \
                        f"TPOT {idle.tpot_p95_s * 1e3:.1f} ms)"
    replicas = math.ceil(wl.requests_per_s / best.requests_per_s - 1e-9)
    if replicas > max_replicas:
        return 0, best, f"needs {replicas} replicas (> max_replicas {max_replicas}) at {best.requests_per_s:.2f} req/s each"
    return replicas, _load(ev, wl, None, wl.requests_per_s / replicas), ""


def _performance(p: LoadPoint) -> Performance:
    return Performance(requests_per_s=round(p.requests_per_s, 3), output_tokens_per_s=round(p.output_tokens_per_s, 1),
                       concurrency=round(p.concurrency, 2), ttft_ms=round(p.ttft_s * 1e3, 1),
                       ttft_p95_ms=round(p.ttft_p95_s * 1e3, 1), tpot_ms=round(p.tpot_s * 1e3, 2),
                       tpot_p95_ms=round(p.tpot_p95_s * 1e3, 2), decode_step_ms=round(p.decode_step_s * 1e3, 2),
                       prefill_ms=round(p.prefill_s * 1e3, 1), prefill_share=round(p.prefill_share, 3),
                       limit=p.limit)


def _max_model_len(req: PlanLlmServingRequest, arch: mem.Arch) -> int:
    wl = req.workload
    if req.config and req.config.max_model_len:
        if req.config.max_model_len > arch.max_len:
            raise PlanInputError("config.max_model_len", f"{req.config.max_model_len} exceeds the model's "
                                 f"max_position_embeddings {arch.max_len}")
        return req.config.max_model_len
    if wl is not None:
        need = (wl.input_tokens_p95 or wl.input_tokens) + 2 * wl.output_tokens
        if need > arch.max_len:
            raise PlanInputError("workload.input_tokens", f"p95 prompt + 2 x mean output ({need} tokens) exceed the "
                                 f"model's context of {arch.max_len}")
        return min(arch.max_len, max(2048, 1024 * math.ceil(need / 1024)))
    return arch.max_len


Row = tuple[Evaluation, int, LoadPoint | None, float | None, str]


def search(req: PlanLlmServingRequest) -> tuple[list[Row], mem.Arch, int]:
    """Every (GPU, TP) evaluated: (evaluation, replicas (0 = rejected), load point, $/h, reason)."""
    arch = mem.resolve_arch(req.model)
    mml = _max_model_len(req, arch)
    _kv_name(req)
    if req.config is not None:
        if req.gpu is None:
            raise PlanInputError("gpu", "a fixed config needs the GPU id it runs on")
        gpus = [resolve_gpu(req.gpu, "gpu")]
        configs = [req.config]
    else:
        gpus = [resolve_gpu(req.gpu, "gpu")] if req.gpu else \
            [resolve_gpu(g, "gpus") for g in (req.gpus or list(DEFAULT_GPUS))]
        tps = [t for t in range(1, MAX_TP + 1) if arch.heads % t == 0 and
               (arch.mla or (arch.kv_heads % t == 0 if arch.kv_heads >= t else t % arch.kv_heads == 0))]
        configs = [EngineConfig(tensor_parallel=t) for t in tps]
    rows: list[Row] = []
    for gpu in gpus:
        for cfg in configs:
            ev = evaluate(req, arch, gpu, cfg, mml, req.workload)
            per_replica = cfg.tensor_parallel * cfg.pipeline_parallel
            price, inst = _price(gpu.id, per_replica)
            per_instance = inst.gpu_count // per_replica if inst else 1  # replicas packed on one instance
            if ev.budget.available_gib <= 0:
                rows.append((ev, 0, None, price, f"weights {ev.budget.weights_gib:.1f} GiB/GPU leave no KV budget"))
                continue
            if ev.kv.tokens < mml and req.engine == "vllm" and ev.max_concurrency < 1:
                rows.append((ev, 0, None, price, f"KV cache {ev.kv.tokens} tokens < max_model_len {mml}: "
                                                 "the engine refuses to start"))
                continue
            if req.workload is None:
                rows.append((ev, 1, None, price, ""))
                continue
            replicas, point, why = _replicas(ev, req.workload, MAX_REPLICAS)
            cost = price * math.ceil(replicas / per_instance) if price and replicas else price
            rows.append((ev, replicas, point, cost, why))
    return rows, arch, mml


def _choose(rows: list[tuple[Evaluation, int, LoadPoint | None, float | None, str]]) -> int:
    ok = [i for i, r in enumerate(rows) if r[1] > 0]
    if not ok:
        return 0
    return min(ok, key=lambda i: (rows[i][3] if rows[i][3] is not None else math.inf,
                                  rows[i][1] * rows[i][0].settings.tensor_parallel))


@cache
def _gpu_ids() -> tuple[str, ...]:
    return tuple(sorted(gpu_catalog()))


@tool("Plan LLM serving (vLLM / SGLang)")
def plan_llm_serving(req: PlanLlmServingRequest) -> LlmServingPlan:
    """LLM on vLLM/SGLang: KV cache as the engine logs it, TTFT/TPOT/tokens/s under load, cheapest GPU x TP x
    replicas for p95 targets, launch/Kubernetes/KServe/SageMaker artifacts."""
    from ml_expert_mcp.tools.serving.llm_artifacts import build_artifacts

    rows, arch, mml = search(req)
    pick = _choose(rows)
    ev, replicas, point, price, why = rows[pick]
    feasible = replicas > 0
    wl = req.workload
    perf = _performance(point) if point is not None else None
    candidates = sorted(rows, key=lambda r: (r[1] == 0, r[3] if r[3] is not None else math.inf))
    cand_out = [Candidate(gpu=r[0].gpu.id, tensor_parallel=r[0].settings.tensor_parallel, replicas=r[1],
                          usd_per_hour=round(r[3], 2) if r[3] is not None else None, meets_targets=r[1] > 0,
                          note=r[4] or (f"{r[2].requests_per_s:.2f} req/s, p95 TTFT {r[2].ttft_p95_s * 1e3:.0f} ms, "
                                        f"TPOT {r[2].tpot_p95_s * 1e3:.1f} ms per replica" if r[2] else "fits"))
                for r in candidates[:12]]
    s = ev.settings
    head = (f"{req.engine} {engine_version(req)} on {replicas or 1} x {s.tensor_parallel} {ev.gpu.id} "
            f"(TP{s.tensor_parallel}{f', PP{s.pipeline_parallel}' if s.pipeline_parallel > 1 else ''}): "
            f"weights {ev.budget.weights_gib:.1f} GiB/GPU, KV {ev.kv.available_gib:.2f} GiB/GPU = {ev.kv.tokens:,} "
            f"tokens at {ev.kv.bytes_per_token:,} B/token, {ev.max_concurrency:.2f}x sequences of {mml:,} tokens.")
    if perf is not None:
        head += (f" At the load: {perf.output_tokens_per_s:,.0f} output tok/s and {perf.requests_per_s:.2f} req/s "
                 f"per replica, TTFT p95 {perf.ttft_p95_ms:,.0f} ms, TPOT p95 {perf.tpot_p95_ms:.1f} ms.")
    if wl is not None and not feasible:
        best = _what_would_meet(rows)
        head = f"No configuration meets the workload: {why}. " + best + " Closest: " + head
    elif price is not None:
        head += f" About ${price:,.2f}/h on SageMaker hosting prices."
    caveats = [
        "Memory follows vLLM 0.11's accounting (and V0 below 0.8; CUDA graphs counted from 0.21); the activation "
        "peak and non-torch memory are estimated, so the KV budget can differ from the engine's by a few percent.",
        "SGLang sliding-window and MLA-specific pools are modelled as full attention layers.",
        "Latency is a roofline model (HBM 80%, prefill MFU 55%, 1.5 ms step overhead) without speculative decoding, "
        "prefix caching or expert parallelism; p95 from an M/D/1 wait with an exponential tail.",
        "Pipeline stages are modelled without micro-batch overlap (latency adds across stages).",
        "Launch flags are checked against the argument parsers of vLLM 0.11.0 and SGLang 0.5.3 "
        "(knowledge/llm_serving/engine_flags.json); other releases may rename flags.",
    ]
    typed = [("model.preset", req.model.preset, mem.preset_id(req.model) or "")]
    typed += [("gpu", req.gpu, resolve_gpu(req.gpu, "gpu").id)] if req.gpu else []
    typed += [("gpus", g, resolve_gpu(g, "gpus").id) for g in (req.gpus or [])]
    caveats = alias_notes(*typed) + caveats  # names read as catalogue ids ("H100", "llama-3-70b") first
    artifacts = build_artifacts(req, ev, replicas or 1, mml) if feasible or wl is None else None
    return LlmServingPlan(summary=head, caveats=caveats, feasible=feasible or wl is None, settings=s,
                          replicas=replicas or 0, max_concurrent_sequences=round(ev.max_concurrency, 2),
                          kv_cache=ev.kv,
                          memory=Memory(total_gib=round(ev.budget.total_gib, 2),
                                        weights_gib=round(ev.budget.weights_gib, 3),
                                        activation_gib=round(ev.budget.activation_gib, 3),
                                        non_torch_gib=round(ev.budget.non_torch_gib, 3),
                                        cuda_graph_gib=round(ev.budget.cuda_graph_gib, 3)),
                          performance=perf, candidates=cand_out, artifacts=artifacts)


def _what_would_meet(rows: list[tuple[Evaluation, int, LoadPoint | None, float | None, str]]) -> str:
    """The loosest targets the best candidate meets idle, to tell the user what would be feasible."""
    best = None
    for ev, _r, point, _p, _w in rows:
        if point is None:
            continue
        if best is None or point.ttft_p95_s + point.tpot_p95_s * 10 < best[1].ttft_p95_s + best[1].tpot_p95_s * 10:
            best = (ev, point)
    if best is None:
        return "No GPU in the search holds the model with a KV cache: use a larger GPU, more tensor parallelism, " \
               "a quantized weight format or a shorter max_model_len."
    ev, p = best
    return (f"{ev.gpu.id} TP{ev.settings.tensor_parallel} reaches p95 TTFT {p.ttft_p95_s * 1e3:,.0f} ms and TPOT "
            f"{p.tpot_p95_s * 1e3:.1f} ms at light load: targets at or above these would be met "
            f"(or raise max_replicas, shorten prompts, or use fp8 weights).")
