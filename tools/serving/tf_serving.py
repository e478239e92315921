"""plan_tf_serving: TensorFlow Serving batching, capacity, configs, Kubernetes manifests and a canary plan.

The batching setting is searched, not copied: every max_batch_size (request size x 2^k, up to the largest
measured batch) and batch_timeout_micros on a grid is scored by the SLA-bound capacity of one replica under the
queueing model of `ml_expert_mcp.tools.serving.latency`; batching is kept only where it beats no batching by 10%. The rest
follows the queueing model: one batch thread (the device runs one batch at a time, as the model assumes) and a
queue of the batches that can still meet the SLA. Padding to allowed sizes is kept only where it costs < 2%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ml_expert_mcp.knowledge import node_index
from ml_expert_mcp.tools.common.aliases import alias_notes
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.hardware import resolve_gpu
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.serving.artifacts import render_artifacts, rollout_steps, watch_metrics
from ml_expert_mcp.tools.serving.inputs import PlanTFServingRequest
from ml_expert_mcp.tools.serving.latency import LatencyCurve, capacity, cost_curve, operating_point
from ml_expert_mcp.tools.serving.plans import (
    BatchingDecision,
    CapacityPlan,
    LatencyModel,
    ReplicaPrediction,
    TFServingCandidate,
    TFServingPlan,
)

__all__ = ["PlanTFServingRequest", "TFServingPlan", "plan_tf_serving"]

TIMEOUTS_MICROS = (0, 500, 1000, 2000, 5000, 10000, 20000, 50000)  # the guide: 0 or a few ms; longer for slow models
BATCHING_GAIN = 1.10  # batching must raise capacity by 10% to be worth its latency and moving parts
NEAR_BEST = 0.98  # settings within 2% of the best capacity count as equal; the smallest batch wins



@dataclass(frozen=True)
class BatchingSetting:
    max_batch: int
    timeout_micros: int
    allowed: tuple[int, ...]
    capacity: float  # examples/s within the SLA


def _allowed_sizes(max_batch: int, request_examples: int, gpu: bool) -> tuple[int, ...]:
    """GPU: pad to a few sizes (fewer compiled shapes); CPU: no padding, it would only waste compute."""
    if not gpu or max_batch == request_examples:
        return ()
    sizes = sorted({max_batch // d for d in (8, 4, 2, 1) if max_batch // d >= request_examples})
    return tuple(sizes)


def _search(curve: LatencyCurve, req: PlanTFServingRequest, p: float, sla_s: float) -> list[BatchingSetting]:
    """No batching, then every max_batch_size at timeout 0, then the timeout grid for the three best sizes.

    Under load batches fill from the queue, so a timeout rarely adds capacity; it is tried where it could matter
    (the best sizes), and the grid stops once longer timeouts keep losing capacity.
    """
    r = req.traffic.examples_per_request
    gpu = req.replica.gpu is not None
    settings = [BatchingSetting(r, 0, (), capacity(curve, r, 0.0, (), r, p, sla_s))]
    sizes = []
    max_batch = 2 * r
    while max_batch <= min(curve.max_batch, 4096):
        sizes.append((max_batch, _allowed_sizes(max_batch, r, gpu)))
        max_batch *= 2
    at_zero = []
    for b, allowed in sizes:  # pad only where it pays: padding must cost under 2% of the unpadded capacity
        plain = BatchingSetting(b, 0, (), capacity(curve, b, 0.0, (), r, p, sla_s))
        padded = BatchingSetting(b, 0, allowed, capacity(curve, b, 0.0, allowed, r, p, sla_s)) if allowed else plain
        at_zero.append(padded if padded.capacity >= NEAR_BEST * plain.capacity else plain)
    settings += at_zero
    for first in sorted(at_zero, key=lambda s: (-s.capacity, s.max_batch))[:3]:
        best, worse = first.capacity, 0
        for micros in TIMEOUTS_MICROS[1:]:
            if micros / 1e6 > sla_s / 2 or worse == 2:  # longer timeouts only add fill wait once capacity falls
                break
            cap = capacity(curve, first.max_batch, micros / 1e6, first.allowed, r, p, sla_s)
            settings.append(BatchingSetting(first.max_batch, micros, first.allowed, cap))
            worse = worse + 1 if cap < NEAR_BEST * best else 0
            best = max(best, cap)
    return settings


def _choose(settings: list[BatchingSetting]) -> tuple[BatchingSetting, str]:
    off = settings[0]
    batched = settings[1:]
    if not batched:
        return off, "one measured batch size only: measure larger batches to evaluate batching"
    best_cap = max(s.capacity for s in batched)
    best = min((s for s in batched if s.capacity >= NEAR_BEST * best_cap),
               key=lambda s: (s.max_batch, s.timeout_micros))
    if off.capacity > 0 and best.capacity < BATCHING_GAIN * off.capacity:
        return off, (f"batching off: the best batched setting carries {best.capacity:.0f} examples/s within the SLA, "
                     f"less than {BATCHING_GAIN:.2f}x the {off.capacity:.0f} without it")
    if best.capacity <= 0:
        return off, "no setting meets the SLA"
    gain = f"{best.capacity / off.capacity:.2f}x" if off.capacity > 0 else "the only way"
    return best, (f"batching on: max_batch_size {best.max_batch} with a {best.timeout_micros} us timeout carries "
                  f"{best.capacity:.0f} examples/s within the SLA, {gain} no batching")


@tool("Plan a TensorFlow Serving deployment")
def plan_tf_serving(req: PlanTFServingRequest) -> TFServingPlan:
    """Batching (max_batch_size, timeout, threads) from a latency curve and a p95/p99 SLA, replicas, models.config,
    batching and monitoring configs, command line, Kubernetes manifests and a canary plan.
    """
    # Batching, replicas and TF Serving artifacts for a latency SLA; see the module docstring for the model.
    gpu = resolve_gpu(req.replica.gpu, "replica.gpu") if req.replica.gpu else None
    curve, assumptions = cost_curve(req.cost, req.replica.cpu_cores, gpu)
    if gpu is not None:  # what a typed name ("T4 16GB", "A10G") was read as
        assumptions = [*assumptions, *alias_notes(("replica.gpu", req.replica.gpu, gpu.id))]
    r = req.traffic.examples_per_request
    if curve.max_batch < r:
        raise PlanInputError("cost.measured", f"the largest measured batch ({curve.max_batch}) is below "
                             f"traffic.examples_per_request ({r}); measure a batch of at least {r}")
    p = 0.95 if req.sla.percentile == "p95" else 0.99
    sla_s = req.sla.latency_ms / 1000.0
    settings = _search(curve, req, p, sla_s)
    chosen, reason = _choose(settings)
    warnings: list[str] = []
    if gpu is not None and gpu.generation in ("cdna3", "cdna4", "tpu"):
        warnings.append(f"{gpu.id}: the tensorflow/serving GPU images are CUDA builds; on this accelerator serve from "
                        f"a ROCm/XLA build of TensorFlow Serving or another server ({gpu.notes or ''})".replace(" ()", ""))
    feasible = chosen.capacity > 0
    if curve.source == "estimated":
        warnings.append(f"no measured curve: latency and capacity rest on an estimate (expected error up to "
                        f"{curve.error_factor:g}x), planned at its slow end; measure t(b) on the replica and pass "
                        "cost.measured before sizing production")
    headroom = req.deployment.headroom
    peak_ex = req.traffic.peak_rps * r
    avg_ex = (req.traffic.average_rps or req.traffic.peak_rps / 3) * r
    if feasible:
        planned = chosen.capacity * (1 - headroom)
    else:
        planned = r / curve.at(r) * (1 - headroom)
        warnings.append(f"infeasible: one request alone takes {curve.at(r) * 1e3:.3g} ms to execute, over the "
                        f"{req.sla.latency_ms:g} ms SLA; a faster accelerator or a smaller model is needed. "
                        "Replicas below are sized for throughput only.")
    replicas = max(1, math.ceil(peak_ex / planned - 1e-9))
    min_r = req.deployment.min_replicas or max(2, math.ceil(avg_ex / planned - 1e-9))
    max_r = req.deployment.max_replicas or max(replicas, math.ceil(1.5 * replicas), min_r)
    min_r = min(min_r, max_r)
    if max_r < replicas:
        warnings.append(f"deployment.max_replicas {max_r} cannot carry the peak; {replicas} replicas are needed")
    at_peak = operating_point(curve, chosen.max_batch, chosen.timeout_micros / 1e6, chosen.allowed, r,
                              peak_ex / replicas, p)
    avg_replicas = max(min_r, math.ceil(avg_ex / planned - 1e-9))
    at_avg = operating_point(curve, chosen.max_batch, chosen.timeout_micros / 1e6, chosen.allowed, r,
                             avg_ex / avg_replicas, p)
    # The queueing model runs one batch at a time on the device, so one batch thread; the queue holds the batches
    # that can still finish within the SLA (later ones are rejected at once rather than served late).
    threads = 1
    enqueued = max(2, math.ceil(sla_s / curve.at(chosen.max_batch)) + 1)
    batching = BatchingDecision(
        enabled=chosen.max_batch > r, max_batch_size=chosen.max_batch, batch_timeout_micros=chosen.timeout_micros,
        num_batch_threads=threads, max_enqueued_batches=enqueued, allowed_batch_sizes=list(chosen.allowed),
        pad_variable_length_inputs=req.model.variable_length_inputs and chosen.max_batch > r, reason=reason,
        guide=node_index()["tensorflow.serving.batching"].sources[0].url)
    queue_capacity = batching.max_enqueued_batches * chosen.max_batch
    if batching.enabled and at_peak.arrival * at_peak.wait_s > queue_capacity:
        warnings.append(f"at peak about {at_peak.arrival * at_peak.wait_s:.0f} examples may wait, over the queue's "
                        f"{queue_capacity}; raise max_enqueued_batches or replicas")
    best_per_size: dict[int, BatchingSetting] = {}
    for s in settings:  # the best timeout for each max_batch_size, so the list compares sizes
        if s.max_batch not in best_per_size or s.capacity > best_per_size[s.max_batch].capacity:
            best_per_size[s.max_batch] = s
    top = [chosen] + sorted((s for s in best_per_size.values() if s.max_batch != chosen.max_batch),
                            key=lambda s: (-s.capacity, s.max_batch))[:5]
    artifacts = render_artifacts(req, batching, at_peak, min_r, max_r)
    return TFServingPlan(
        feasible=feasible,
        latency_model=LatencyModel(source=curve.source, points_ms=[[b, round(t * 1e3, 4)] for b, t in
                                                                   zip(curve.batches, curve.seconds, strict=True)],
                                   assumptions=assumptions, expected_error_factor=curve.error_factor),
        batching=batching,
        at_peak=ReplicaPrediction.of(at_peak, r, req.sla.percentile),
        at_average=ReplicaPrediction.of(at_avg, r, req.sla.percentile),
        candidates=[TFServingCandidate(max_batch_size=s.max_batch, batch_timeout_micros=s.timeout_micros,
                                       sla_capacity_rps=round(s.capacity / r, 2)) for s in top],
        capacity=CapacityPlan(sla_capacity_rps_per_replica=round(chosen.capacity / r, 2),
                              planned_rps_per_replica=round(planned / r, 2), headroom=headroom,
                              replicas_at_peak=replicas, min_replicas=min_r, max_replicas=max_r,
                              replicas_at_average=avg_replicas,
                              load_fraction_at_peak=round(at_peak.load, 4)),
        artifacts=artifacts,
        rollout=rollout_steps(req),
        monitoring=watch_metrics(req, batching.enabled),
        warnings=warnings,
    )
