"""Latency and capacity of one model-server replica under Poisson load, with or without server-side batching.

Model (every step is written out so a test can redo it by hand):
- Execution time of a batch of b examples, t(b), comes from a latency curve: measured points interpolated
  linearly (never extrapolated past the largest measured batch), or estimated as a fixed cost plus a per-example
  compute cost from the hardware catalogue.
- The device runs one batch at a time (an accelerator serialises batches; on CPU all cores serve one batch).
- A batch closes when it holds `max_batch` examples or `timeout` after its first request; under load it also
  takes whatever queued while the previous batch ran. So at arrival rate lam (examples/s, Poisson) the batch size
  is the fixed point b = min(max_batch, max(r + lam*timeout, lam*t(b))), r = examples per request, and batches
  are padded up to the next allowed size before they run. Device busy fraction rho = lam*t(b_exec)/b.
- Timeout-bound (lam*t(b) < r + lam*timeout): the first request of a batch waits fill = min(timeout,
  (max_batch-r)/lam); the batch then finds the device busy with probability rho and waits a uniform residual of
  one batch, so the p-quantile of that wait is t*max(0, 1-(1-p)/rho).
- Device-bound (batches form while the device runs): no fill wait; a request waits the residual of the running
  batch, p-quantile p*t.
- At the cap (b = max_batch) full batches queue as M/D/1 with smoothed arrivals: mean Wq = rho*t/(2(1-rho))/sqrt(k),
  k = requests per full batch (arrivals counted in batches are smoother than Poisson batches), tail taken as
  P(W > w) = rho*exp(-w*rho/Wq), p-quantile (Wq/rho)*ln(rho/(1-p)) when rho > 1-p, else 0. Below the cap the
  same tail at the cap's utilisation bounds the device wait from below (bursts overflow max_batch and queue).
- Checked against a discrete-event simulation of the policy: tests/test_serving_queue.py.
- Latency at the percentile = fill + wait quantile + t(b_exec). Load fraction = lam / (max_batch/t(max_batch)),
  the share of the replica's throughput ceiling in use. Network time outside the server is not included.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass

from ml_expert_mcp.knowledge import GpuSpec, LatencyAnchor, latency_anchors
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.serving.inputs import BYTES_PER_PARAM, ModelCost

# CPU estimate (no published anchors: a measured curve should replace it; its error band is wider).
CPU_CORE_PEAK_GFLOPS = 80.0  # 2.5 GHz x 32 FP32 FLOP/cycle (AVX2: 2 FMA units x 8 lanes x 2 FLOP)
CPU_EFFICIENCY = 0.30  # share of peak an inference graph reaches on CPU
CPU_MEMORY_GBPS_PER_CORE = 10.0
CPU_FIXED_SECONDS = 0.3e-3
CPU_ERROR_FACTOR = 3.0  # uncalibrated: planned at 3x the central estimate
CPU_MAX_BATCH = 256


@dataclass(frozen=True)
class LatencyCurve:
    batches: tuple[int, ...]  # increasing
    seconds: tuple[float, ...]
    source: str  # "measured" or "estimated"
    error_factor: float = 1.0  # estimated curves: the planning curve is the central estimate times this

    def scaled(self, factor: float) -> LatencyCurve:
        """The slow end of the estimate's error band: every point times `factor`."""
        return LatencyCurve(self.batches, tuple(t * factor for t in self.seconds), self.source, factor)

    @property
    def max_batch(self) -> int:
        return self.batches[-1]

    def at(self, batch: float) -> float:
        """t(batch): linear between points, flat below the first, proportional past the last (single point)."""
        xs, ys = self.batches, self.seconds
        if batch <= xs[0]:
            return ys[0]
        i = bisect_left(xs, batch)
        if i == len(xs):
            slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) if len(xs) > 1 else ys[-1] / xs[-1]
            return ys[-1] + slope * (batch - xs[-1])
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 + (y1 - y0) * (batch - x0) / (x1 - x0)


def measured_curve(points: list[tuple[int, float]]) -> LatencyCurve:
    pts = sorted(points)
    return LatencyCurve(tuple(b for b, _ in pts), tuple(ms / 1000.0 for _, ms in pts), "measured")


def cost_curve(cost: ModelCost, cpu_cores: int, gpu: GpuSpec | None) -> tuple[LatencyCurve, list[str]]:
    """The curve a model's cost gives on one server: the measured points, or the slow end of the estimate's band."""
    if cost.measured:
        curve = measured_curve([(p.batch_size, p.latency_ms) for p in cost.measured])
        return curve, [f"measured curve, {len(curve.batches)} points, interpolated linearly; batches above "
                       f"{curve.max_batch} are not considered"]
    assert cost.flops_per_example is not None and cost.params is not None
    central, notes = estimated_curve(cost.flops_per_example, cost.params, BYTES_PER_PARAM[cost.precision], cpu_cores,
                                     gpu, cost.precision, cost.runtime, cost.family)
    factor = central.error_factor
    notes.append(f"ESTIMATE, not a measurement: expected error up to {factor:g}x either way; capacity is planned on "
                 f"the slow end (every point x {factor:g}). Measure t(b) and pass cost.measured to replace it")
    return central.scaled(factor), notes


def anchored_seconds(batch: float, flops: float, weight_bytes: float, value_bytes: float, peak_flops: float,
                     bandwidth: float, fixed_s: float, fixed_s_per_gb: float, efficiency: float,
                     flops_per_byte: float) -> float:
    """t(b) = fixed + max(compute, memory): fixed = fixed_s + fixed_s_per_gb x weight GB (kernel count grows with
    depth); compute = b F / (peak x efficiency); memory = (weights + b x activation traffic) / bandwidth, activation
    traffic = F / flops_per_byte at 2 bytes per value (scaled by value_bytes / 2)."""
    fixed_s += fixed_s_per_gb * weight_bytes / 1e9
    compute = batch * flops / (peak_flops * efficiency)
    memory = (weight_bytes + batch * flops / flops_per_byte * value_bytes / 2) / bandwidth
    return fixed_s + max(compute, memory)


def _batches(max_batch: int) -> tuple[int, ...]:
    out, b = [], 1
    while b < max_batch:
        out.append(b)
        b *= 2
    return (*out, max_batch)


def estimated_curve(flops_per_example: float, params: float, bytes_per_param: float, cpu_cores: int,
                    gpu: GpuSpec | None, precision: str, runtime: str = "tensorflow",
                    family: str | None = None) -> tuple[LatencyCurve, list[str]]:
    """Central estimate of t(b) at 1, 2, 4, ... up to the largest batch the anchors measured (never beyond)."""
    weight_bytes = params * bytes_per_param
    if gpu is None:
        flops_per_s = cpu_cores * CPU_CORE_PEAK_GFLOPS * 1e9 * CPU_EFFICIENCY
        weights_s = weight_bytes / (cpu_cores * CPU_MEMORY_GBPS_PER_CORE * 1e9)
        fixed = CPU_FIXED_SECONDS + weights_s
        per_example = flops_per_example / flops_per_s
        batches = _batches(CPU_MAX_BATCH)
        notes = [f"CPU: {cpu_cores} cores x {CPU_CORE_PEAK_GFLOPS:g} GFLOP/s peak x {CPU_EFFICIENCY} efficiency, "
                 f"fixed {CPU_FIXED_SECONDS * 1e3:g} ms + weights read at {CPU_MEMORY_GBPS_PER_CORE:g} GB/s per core "
                 "(not calibrated on published CPU measurements)",
                 f"central estimate t(b) = {fixed * 1e3:.4g} ms + b x {per_example * 1e3:.4g} ms"]
        return LatencyCurve(batches, tuple(fixed + b * per_example for b in batches), "estimated",
                            CPU_ERROR_FACTOR), notes
    anchors = latency_anchors()
    families = [family] if family else sorted({f for r, f in anchors if r == runtime})
    peak = gpu.dense_tflops(precision) * 1e12
    bandwidth = gpu.hbm_bandwidth_tbps * 1e12
    value_bytes = {"fp32": 4, "fp16": 2, "bf16": 2}[precision]
    best: tuple[float, LatencyAnchor] | None = None
    for fam in families:
        anchor = anchors.get((runtime, fam))
        if anchor is None:
            continue
        t_max = anchored_seconds(anchor.max_batch, flops_per_example, weight_bytes, value_bytes, peak, bandwidth,
                                 anchor.fixed_ms / 1e3, anchor.fixed_ms_per_gb / 1e3, anchor.efficiency,
                                 anchor.flops_per_byte)
        if best is None or t_max / anchor.max_batch > best[0]:  # family unknown: the slower anchor
            best = (t_max / anchor.max_batch, anchor)
    if best is None:
        raise PlanInputError("cost.family", f"no latency anchors for runtime {runtime!r} and family {family!r}; "
                             "accepted: " + ", ".join(f"{r}/{f}" for r, f in sorted(anchors)))
    a = best[1]
    batches = _batches(a.max_batch)
    seconds = tuple(anchored_seconds(b, flops_per_example, weight_bytes, value_bytes, peak, bandwidth,
                                     a.fixed_ms / 1e3, a.fixed_ms_per_gb / 1e3, a.efficiency, a.flops_per_byte)
                    for b in batches)
    notes = [f"GPU {gpu.id}, {a.runtime} {a.family} anchor (knowledge/serving_latency.toml, fitted on "
             f"{a.calibrated_on}): t(b) = {a.fixed_ms:g} ms + {a.fixed_ms_per_gb:g} ms/GB of weights + max(b x FLOPs / ({peak / 1e12:g} TFLOP/s x "
             f"{a.efficiency:g}), (weights + b x FLOPs / {a.flops_per_byte:g} FLOP/B) / {gpu.hbm_bandwidth_tbps:g} TB/s)",
             f"central estimate: t(1) = {seconds[0] * 1e3:.3g} ms, t({a.max_batch}) = {seconds[-1] * 1e3:.3g} ms; "
             f"no batch above {a.max_batch} (largest batch the anchors measured)"]
    if gpu.sustained_tensor_fraction < 1 and (precision != "fp32" or gpu.tf32_tflops):
        notes.append(f"{gpu.id} sustains {gpu.sustained_tensor_fraction:g} of its datasheet tensor peak in continuous "
                     "GEMMs (power cap): the compute term uses that")
    if not family:
        notes.append(f"cost.family not given: the slower anchor ({a.family}) is used")
    return LatencyCurve(batches, seconds, "estimated", a.error_factor), notes


@dataclass(frozen=True)
class OperatingPoint:
    arrival: float  # examples/s at this replica
    batch: float  # examples per batch (expected)
    executed_batch: int  # after padding to an allowed size
    service_s: float  # t(executed_batch)
    busy: float  # device busy fraction rho
    load: float  # arrival / throughput ceiling at max_batch
    fill_s: float
    wait_s: float  # wait for the device at the percentile
    latency_s: float  # at the percentile
    regime: str  # "timeout-bound", "device-bound", "full batches"
    mean_queue_s: float = 0.0  # mean time in the batching queue (fill + device wait): Little's law uses it


def _padded(batch: float, allowed: tuple[int, ...], max_batch: int) -> int:
    size = min(max_batch, math.ceil(batch - 1e-9))
    for a in allowed:
        if a >= size:
            return a
    return size


def operating_point(curve: LatencyCurve, max_batch: int, timeout_s: float, allowed: tuple[int, ...],
                    request_examples: int, arrival: float, percentile: float,
                    service: dict[int, float] | None = None) -> OperatingPoint:
    """The replica at one arrival rate. `service` memoises t(padded size) across calls for one setting."""
    return OperatingPoint(*_point(curve, max_batch, timeout_s, allowed, request_examples, arrival, percentile,
                                  {} if service is None else service))


_Point = tuple[float, float, int, float, float, float, float, float, float, str, float]  # OperatingPoint's fields


def _point(curve: LatencyCurve, max_batch: int, timeout_s: float, allowed: tuple[int, ...], request_examples: int,
           arrival: float, percentile: float, memo: dict[int, float]) -> _Point:
    """operating_point's fields as a tuple: the capacity bisection reads only the latency, many times."""

    def t_of(size: int) -> float:
        value = memo.get(size)
        if value is None:
            value = memo[size] = curve.at(size)
        return value

    r, p = request_examples, percentile
    t_cap = t_of(_padded(max_batch, allowed, max_batch))
    ceiling = max_batch / t_cap
    floor = min(max_batch, r + arrival * timeout_s)
    batch = floor
    for _ in range(12):  # fixed point of b = min(max_batch, max(floor, lam * t(b)))
        nxt = min(max_batch, max(floor, arrival * t_of(_padded(batch, allowed, max_batch))))
        if abs(nxt - batch) <= 1e-9 * max_batch:
            break
        batch = nxt
    executed = _padded(batch, allowed, max_batch)
    t = t_of(executed)
    rho = arrival * t / batch
    load = arrival / ceiling
    if batch >= max_batch - 1e-9:
        regime = "full batches"
        fill = min(timeout_s, (max_batch - r) / arrival) if max_batch > r else 0.0
        if rho >= 1.0:
            return arrival, batch, executed, t, rho, load, fill, math.inf, math.inf, regime, 0.0
        wq = rho * t / (2.0 * (1.0 - rho)) / math.sqrt(max(1, max_batch // r))  # see the burst bound below
        wait = (wq / rho) * math.log(rho / (1.0 - p)) if rho > 1.0 - p else 0.0
        mean = fill / 2 + wq
    elif arrival * t >= floor - 1e-12:
        regime, fill, wait, mean = "device-bound", 0.0, p * t, t / 2
    else:
        regime = "timeout-bound"
        fill = min(timeout_s, (max_batch - r) / arrival)
        wait = t * max(0.0, 1.0 - (1.0 - p) / rho)
        mean = fill / 2 + rho * t / 2
    # Below the cap the mean batch fits, but Poisson bursts overflow max_batch and queue behind full batches:
    # the same M/D/1 tail at the cap's utilisation bounds the latency from below (it dominates near the ceiling;
    # checked against a discrete-event simulation of the policy in tests/test_serving_queue.py).
    rho_cap = arrival * t_cap / max_batch
    if rho_cap >= 1.0:
        return arrival, batch, executed, t, rho, load, fill, math.inf, math.inf, regime, 0.0
    # Arrivals counted in full batches are smoother than Poisson batches (k requests each): the M/D/1 wait is divided
    # by sqrt(k), between Poisson batches (1) and the heavy-traffic limit (k); sqrt(k) holds in the simulation test.
    wq_cap = rho_cap * t_cap / (2.0 * (1.0 - rho_cap)) / math.sqrt(max(1, max_batch // r))
    burst = (wq_cap / rho_cap) * math.log(rho_cap / (1.0 - p)) if rho_cap > 1.0 - p else 0.0
    if burst > wait:
        wait, mean = burst, max(mean, fill / 2 + wq_cap)
    return arrival, batch, executed, t, rho, load, fill, wait, fill + wait + t, regime, mean


def capacity(curve: LatencyCurve, max_batch: int, timeout_s: float, allowed: tuple[int, ...], request_examples: int,
             percentile: float, sla_s: float) -> float:
    """Largest arrival rate (examples/s) at which the percentile latency still meets the SLA (0 if none does).

    Bisection between a near-idle load (which must meet the SLA, or the setting is rejected) and the throughput
    ceiling; latency grows with load past the light-load dip, so the boundary found is the first crossing.
    """

    memo: dict[int, float] = {}

    def ok(lam: float) -> bool:
        return _point(curve, max_batch, timeout_s, allowed, request_examples, lam, percentile, memo)[8] <= sla_s  # latency_s

    hi = max_batch / curve.at(_padded(max_batch, allowed, max_batch))
    lo = hi * 1e-6
    if not ok(lo):
        return 0.0
    for _ in range(16):  # 2^-16 of the ceiling: finer than a replica count can resolve
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo
