"""The batching queue model against a discrete-event simulation of the same policy (seeded, deterministic).

Policy simulated (TF Serving's shared batch scheduler with one batch thread on one device): requests arrive as a
Poisson stream; a batch closes when it holds max_batch_size examples or batch_timeout after its first request,
and starts when the device is free; it is padded to the next allowed size and runs for t(size).
"""

from __future__ import annotations

import collections
import random

import pytest

from ml_expert_mcp.tools.serving.latency import LatencyCurve, capacity, measured_curve, operating_point


def simulate(curve: LatencyCurve, max_batch: int, timeout_s: float, allowed: tuple[int, ...], r: int,
             rps: float, n: int = 60_000, seed: int = 7) -> float:
    """p95 latency (s) of n requests at `rps` requests/s."""
    rng = random.Random(seed)
    arrivals, now = [], 0.0
    for _ in range(n):
        now += rng.expovariate(rps)
        arrivals.append(now)
    queue: collections.deque[float] = collections.deque()
    free, i, latencies = 0.0, 0, []
    while i < n or queue:
        if not queue:
            queue.append(arrivals[i])
            i += 1
        deadline = max(free, queue[0] + timeout_s)
        while i < n and len(queue) * r < max_batch and arrivals[i] <= deadline:
            queue.append(arrivals[i])
            i += 1
        start = max(free, queue[-1]) if len(queue) * r >= max_batch else deadline
        batch = [queue.popleft() for _ in range(min(len(queue), max_batch // r))]
        size = len(batch) * r
        end = start + curve.at(next((a for a in allowed if a >= size), size))
        latencies += [end - a for a in batch]
        free = end
        while i < n and arrivals[i] <= free:
            queue.append(arrivals[i])
            i += 1
    latencies.sort()
    return latencies[int(0.95 * len(latencies))]


ISSUE_CURVE = measured_curve([(1, 4.2), (8, 4.3), (16, 4.35), (32, 4.438), (64, 5.6)])  # flat, then grows
LINEAR_CURVE = measured_curve([(1, 1.0), (8, 3.0), (32, 9.0)])


@pytest.mark.parametrize(("curve", "max_batch", "timeout_s", "sla_s"), [
    (ISSUE_CURVE, 32, 0.0, 0.020),   # the issue's case: capacity used to equal the 7,210/s ceiling
    (ISSUE_CURVE, 64, 0.0, 0.020),
    (ISSUE_CURVE, 32, 0.002, 0.020),
    (LINEAR_CURVE, 8, 0.0, 0.015),
    (LINEAR_CURVE, 1, 0.0, 0.010),   # no batching: M/D/1
])
def test_planned_capacity_meets_the_sla_in_simulation(curve: LatencyCurve, max_batch: int, timeout_s: float,
                                                      sla_s: float) -> None:
    cap = capacity(curve, max_batch, timeout_s, (), 1, 0.95, sla_s)
    ceiling = max_batch / curve.at(max_batch)
    assert 0 < cap < ceiling  # a queueing margin below the throughput ceiling
    simulated = simulate(curve, max_batch, timeout_s, (), 1, cap)
    assert simulated <= sla_s * 1.05, f"simulated p95 {simulated * 1e3:.2f} ms over the {sla_s * 1e3:g} ms SLA"


@pytest.mark.parametrize("fraction", [0.3, 0.75])
def test_model_tracks_the_simulation_below_the_knee(fraction: float) -> None:
    cap = capacity(ISSUE_CURVE, 32, 0.0, (), 1, 0.95, 0.020)
    rps = cap * fraction
    model = operating_point(ISSUE_CURVE, 32, 0.0, (), 1, rps, 0.95).latency_s
    simulated = simulate(ISSUE_CURVE, 32, 0.0, (), 1, rps)
    assert simulated / 1.25 <= model <= simulated * 1.25


def test_the_old_ceiling_fails_the_sla_in_simulation() -> None:
    ceiling = 32 / ISSUE_CURVE.at(32)
    assert simulate(ISSUE_CURVE, 32, 0.0, (), 1, ceiling * 0.995) > 0.020
