"""Latency and throughput of one engine replica under continuous batching with chunked prefill.

A roofline step model: a decode step reads the rank's weights (MoE: the experts the batch touches) and the batch's
KV cache from HBM, or is bound by its FLOPs, whichever is slower; prefill is compute-bound; each layer adds two TP
all-reduces over the GPU's real link (NVLink or PCIe); each step adds a fixed scheduler overhead. Under load,
prefill chunks interleave with decode steps: decode slows by 1 / (1 - prefill share), and prompts wait for the
prefill server (M/D/1). The efficiency constants below are a priori (published kernel efficiencies), not fitted
to the benchmark rows this model is scored on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from ml_expert_mcp.knowledge.schema import GpuSpec

HBM_EFFICIENCY = 0.80      # decode GEMV/attention kernels reach ~75-85% of peak HBM bandwidth
PREFILL_MFU = 0.55         # dense prefill GEMMs at ~50-60% of peak tensor throughput
DECODE_MFU = 0.45
STEP_OVERHEAD_S = 0.0015   # scheduler + sampling + launch per engine step (V1 with CUDA graphs)
ALLREDUCE_LATENCY_S = 8e-6
P95_WAIT_FACTOR = math.log(20)  # p95 of an exponential wait over its mean


@dataclass(frozen=True)
class Replica:
    gpu: GpuSpec
    tp: int
    pp: int
    layers: int
    hidden: int
    heads: int
    head_dim: int
    weight_bytes_rank: float          # all weights on one rank
    expert_bytes_rank: float          # routed-expert part of it
    experts: int
    experts_per_tok: int
    active_params: float              # per token, whole model
    kv_layer_bytes: float             # KV bytes per token per layer per rank
    full_layers: int                  # full-attention layers on a stage
    sliding_layers: int               # sliding-window layers on a stage (read at most `window` tokens)
    window: int
    fp8_compute: bool

    def kv_read_bytes(self, context: float) -> float:
        sliding = min(context, self.window) if self.window else context
        return self.kv_layer_bytes * (self.full_layers * context + self.sliding_layers * sliding)

    @cached_property
    def peak_flops(self) -> float:
        return self.gpu.dense_tflops("fp8" if self.fp8_compute else "bf16") * 1e12

    @cached_property
    def hbm_bytes_s(self) -> float:
        return self.gpu.hbm_bandwidth_tbps * 1e12 * HBM_EFFICIENCY

    @cached_property
    def link_bytes_s(self) -> float:
        if self.gpu.intra_node_gbps:
            return self.gpu.intra_node_gbps * 1e9
        return {3: 12e9, 4: 25e9, 5: 50e9}.get(self.gpu.pcie_gen or 4, 25e9)

    def allreduce_s(self, tokens: float) -> float:
        if self.tp == 1:
            return 0.0
        data = tokens * self.hidden * 2
        per = 2 * (self.tp - 1) / self.tp * data / self.link_bytes_s + ALLREDUCE_LATENCY_S
        return 2 * self.layers / self.pp * per

    def decode_step_s(self, batch: float, context: float) -> float:
        """One decode step for `batch` sequences of `context` tokens (pipeline stages in sequence)."""
        batch = max(batch, 1.0)
        touched = 1.0 if not self.experts else 1 - (1 - self.experts_per_tok / self.experts) ** batch
        weights = self.weight_bytes_rank - self.expert_bytes_rank * (1 - touched)
        mem = (weights + batch * self.kv_read_bytes(context)) / self.hbm_bytes_s
        flops = 2 * self.active_params / (self.tp * self.pp) * batch
        comp = flops / (self.peak_flops * DECODE_MFU)
        return (max(mem, comp) + self.allreduce_s(batch)) * self.pp + STEP_OVERHEAD_S

    def prefill_s(self, tokens: float) -> float:
        """Compute time of a prompt of `tokens` (linear layers + causal attention), all pipeline stages."""
        linear = 2 * self.active_params * tokens
        attention = 2 * self.layers * self.heads * self.head_dim * tokens * tokens  # QK^T and PV, causal half of 4
        comp = (linear + attention) / self.tp / (self.peak_flops * PREFILL_MFU)
        mem = self.weight_bytes_rank * self.pp / self.hbm_bytes_s
        return max(comp, mem) + self.allreduce_s(tokens) * self.pp


@dataclass(frozen=True)
class LoadPoint:
    requests_per_s: float
    concurrency: float          # sequences decoding at once
    ttft_s: float
    ttft_p95_s: float
    tpot_s: float
    tpot_p95_s: float
    output_tokens_per_s: float
    prefill_share: float        # fraction of engine time spent on prefill
    decode_step_s: float
    prefill_s: float
    stable: bool
    limit: str                  # what bounds the replica


def _decode(rep: Replica, rate: float, n_in: float, n_out: float, max_seqs: int, kv_seqs: float,
            chunk: int) -> tuple[float, float, float, float]:
    """Fixed point of (decoding sequences, TPOT) at `rate` requests/s: N = rate x out x TPOT."""
    prefill = rep.prefill_s(n_in)
    share = rate * prefill
    n = 1.0
    step = rep.decode_step_s(n, n_in + n_out / 2)
    for _ in range(60):
        step = rep.decode_step_s(n, n_in + n_out / 2)
        tpot = step / max(1e-9, 1 - share)
        n_new = min(rate * n_out * tpot, max_seqs, kv_seqs)
        if abs(n_new - n) < 1e-3 * max(n, 1):
            n = n_new
            break
        n = 0.5 * n + 0.5 * n_new
    tpot = step / max(1e-9, 1 - share)
    return n, tpot, share, prefill


def at_rate(rep: Replica, rate: float, n_in: float, n_out: float, in_p95: float, max_seqs: int, kv_seqs: float,
            chunk: int) -> LoadPoint:
    n, tpot, share, prefill = _decode(rep, rate, n_in, n_out, max_seqs, kv_seqs, chunk)
    capacity_seqs = min(max_seqs, kv_seqs)
    throughput_cap = capacity_seqs / (n_out * tpot) if tpot > 0 else math.inf
    stable = share < 0.98 and rate <= throughput_cap * 1.0001
    limit = "prefill compute" if share >= 0.98 else "KV cache / max_num_seqs" if not stable else "none"
    step = rep.decode_step_s(n, n_in + n_out / 2)
    # a prompt waits for the prefill server (M/D/1 mean wait), then runs in chunks interleaved with decode steps
    wait = share * prefill / (2 * max(1e-9, 1 - share)) if share < 1 else math.inf
    chunks = math.ceil(n_in / chunk)
    ttft = prefill + wait + chunks * (step if n > 0.5 else STEP_OVERHEAD_S)
    ttft95 = rep.prefill_s(in_p95) + wait * P95_WAIT_FACTOR + math.ceil(in_p95 / chunk) * step
    tpot95 = tpot * (1 + share)  # steps that carry a prefill chunk are slower
    return LoadPoint(rate, n, ttft, ttft95, tpot, tpot95, rate * n_out, share, step, prefill, stable, limit)


def at_concurrency(rep: Replica, clients: int, n_in: float, n_out: float, in_p95: float, max_seqs: int,
                   kv_seqs: float, chunk: int) -> LoadPoint:
    """Closed loop: `clients` each send the next request when the last one ends (benchmark --max-concurrency).

    The request rate solves rate x (TTFT + out x TPOT) = running sequences (Little's law) by bisection below the
    prefill capacity; clients beyond what max_num_seqs and the KV cache admit wait for a free slot.
    """
    running = max(1.0, min(clients, max_seqs, kv_seqs))
    prefill = rep.prefill_s(n_in)
    args = (n_in, n_out, in_p95, max_seqs, kv_seqs, chunk)

    def excess(rate: float) -> float:
        p = at_rate(rep, rate, *args)
        if not math.isfinite(p.ttft_s):
            return math.inf
        return rate * (p.ttft_s + n_out * p.tpot_s) - running

    lo, hi = 0.0, 0.98 / prefill
    for _ in range(60):
        mid = (lo + hi) / 2
        if excess(mid) > 0:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-4 * hi:
            break
    rate = max(lo, 1e-6)
    point = at_rate(rep, rate, *args)
    saturated = hi >= 0.98 / prefill * (1 - 1e-4) and excess(rate) < -0.01 * running
    queued = max(0.0, clients - running)
    extra = queued / rate if queued else 0.0  # clients beyond the running batch wait for a free slot
    limit = "max_num_seqs / KV cache" if queued else ("prefill compute" if saturated else point.limit)
    return LoadPoint(point.requests_per_s, point.concurrency, point.ttft_s + extra, point.ttft_p95_s + extra,
                     point.tpot_s, point.tpot_p95_s, point.output_tokens_per_s, point.prefill_share,
                     point.decode_step_s, point.prefill_s, True, limit)


def max_rate(rep: Replica, n_in: float, n_out: float, in_p95: float, max_seqs: int, kv_seqs: float, chunk: int,
             ttft_target: float | None, tpot_target: float | None) -> LoadPoint | None:
    """The highest request rate one replica sustains within the p95 targets (bisection), or None if none does."""
    def ok(p: LoadPoint) -> bool:
        return p.stable and (ttft_target is None or p.ttft_p95_s <= ttft_target) and \
            (tpot_target is None or p.tpot_p95_s <= tpot_target)

    lo_point = at_rate(rep, 1e-4, n_in, n_out, in_p95, max_seqs, kv_seqs, chunk)
    if not ok(lo_point):
        return None
    lo, hi = 1e-4, 1.0
    while ok(at_rate(rep, hi, n_in, n_out, in_p95, max_seqs, kv_seqs, chunk)) and hi < 1e6:
        lo, hi = hi, hi * 2
    for _ in range(40):
        if hi - lo <= 0.005 * lo:  # 0.5%: finer than the model's accuracy
            break
        mid = (lo + hi) / 2
        if ok(at_rate(rep, mid, n_in, n_out, in_p95, max_seqs, kv_seqs, chunk)):
            lo = mid
        else:
            hi = mid
    return at_rate(rep, lo, n_in, n_out, in_p95, max_seqs, kv_seqs, chunk)
