"""Monte Carlo check of design_model_monitoring's sizing rule, per feature type, with the emitted drift job's own
statistic code: a shift of PSI 0.1 (on the job's bins) is caught with power >= 0.8 and, without a shift, the job
alarms at the planned false-alarm rate (1% per check). Seeded; each case runs in a few seconds."""

from __future__ import annotations

import math
import types

import numpy as np
import pytest
from scipy import optimize, stats

from ml_expert_mcp.tools.monitoring.artifacts import drift_job_source
from ml_expert_mcp.tools.monitoring.design import design_model_monitoring
from ml_expert_mcp.tools.monitoring.inputs import DesignMonitoringRequest

ALPHA, POWER, PSI = 0.01, 0.8, 0.1
NULL_RUNS, SHIFT_RUNS = 3000, 2000


def job() -> types.ModuleType:
    module = types.ModuleType("drift_job")
    exec(compile(drift_job_source(), "drift_job.py", "exec"), module.__dict__)  # the emitted text, as run
    return module


def plan(kind: str, categories: int = 20):
    req = DesignMonitoringRequest.model_validate({
        "model_name": "m", "features": [{"name": "f", "type": kind, "categories": categories}],
        "predictions_per_hour": 1000, "min_window_hours": 0.01, "min_psi": PSI, "power": POWER,
        "false_alarm_rate": ALPHA})
    return design_model_monitoring(req)


def psi(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum((q - p) * np.log(q / p)))


def binned(job_module, values, feature, bins) -> np.ndarray:
    counts = job_module.bin_counts(values, feature, bins).astype(float)
    return counts / counts.sum()


# Each case: a sampler for the reference law and one for the shifted law, with the shift solved so that the
# PSI of the two laws on the job's bins (learnt from a large reference sample) is 0.1.
def numeric_case(job_module, feature):
    big = np.random.default_rng(99).normal(size=400_000)
    bins = job_module.bin_reference(big, feature)
    p = binned(job_module, big, feature, bins)

    def shift_psi(d: float) -> float:
        cdf = stats.norm.cdf(bins["edges"] - d)
        return psi(p, np.diff(np.concatenate([[0.0], cdf, [1.0]])))

    d = optimize.brentq(lambda x: shift_psi(x) - PSI, 1e-3, 3)
    return (lambda rng, k: rng.normal(size=k)), (lambda rng, k: rng.normal(loc=d, size=k))


def count_case(job_module, feature):
    big = np.random.default_rng(99).poisson(4.0, size=400_000)
    bins = job_module.bin_reference(big, feature)
    p = binned(job_module, big, feature, bins)

    def shift_psi(lam: float) -> float:
        cdf = stats.poisson.cdf(bins["edges"] - 1, lam)  # bin i holds edges[i-1] <= x < edges[i]
        return psi(p, np.diff(np.concatenate([[0.0], cdf, [1.0]])))

    lam = optimize.brentq(lambda x: shift_psi(x) - PSI, 4.0, 10)
    return (lambda rng, k: rng.poisson(4.0, size=k)), (lambda rng, k: rng.poisson(lam, size=k))


def categorical_case(job_module, feature):
    names = np.array([f"c{i}" for i in range(8)])
    p = np.array([0.25, 0.2, 0.15, 0.12, 0.1, 0.08, 0.06, 0.04])
    # the hardest shape: all of the PSI from mass moved between two categories
    eps = optimize.brentq(lambda e: psi(p, p + np.r_[0, e, -e, 0, 0, 0, 0, 0]) - PSI, 1e-6, 0.1499)
    q = p + np.r_[0, eps, -eps, 0, 0, 0, 0, 0]
    return (lambda rng, k: rng.choice(names, size=k, p=p)), (lambda rng, k: rng.choice(names, size=k, p=q))


def boolean_case(job_module, feature):
    base = 0.3
    q = optimize.brentq(lambda x: psi(np.array([1 - base, base]), np.array([1 - x, x])) - PSI, base + 1e-6, 0.99)
    as_text = np.array(["false", "true"])
    return (lambda rng, k: as_text[(rng.random(k) < base).astype(int)]), \
        (lambda rng, k: as_text[(rng.random(k) < q).astype(int)])


CASES = {"numeric": numeric_case, "count": count_case, "categorical": categorical_case, "boolean": boolean_case}


@pytest.mark.parametrize("kind", list(CASES))
def test_power_and_false_alarms_by_monte_carlo(kind: str) -> None:
    design = plan(kind, categories=8)
    n, m = design.window.sample_size, design.window.reference_size
    job_module = job()
    feature = design.artifacts.drift_job_config["features"][0]
    alpha = design.artifacts.drift_job_config["alpha_per_feature"]
    reference_law, shifted_law = CASES[kind](job_module, feature)
    rng = np.random.default_rng(20261127)
    false_alarms = sum(job_module.check_feature(reference_law(rng, m), reference_law(rng, n), feature, alpha)["alarm"]
                       for _ in range(NULL_RUNS))
    caught = sum(job_module.check_feature(reference_law(rng, m), shifted_law(rng, n), feature, alpha)["alarm"]
                 for _ in range(SHIFT_RUNS))
    fa_rate, power = false_alarms / NULL_RUNS, caught / SHIFT_RUNS
    print(f"{kind}: n={n} m={m} false alarms {fa_rate:.4f} power {power:.4f}")
    # false alarms: calibrated to exactly ALPHA; allow the Monte Carlo noise of NULL_RUNS (one-sided 99.9%)
    assert fa_rate <= ALPHA + 3.1 * math.sqrt(ALPHA * (1 - ALPHA) / NULL_RUNS)
    assert power >= POWER


def test_performance_check_power_and_false_alarms_by_monte_carlo() -> None:
    """Labels per window and the alarm level for a proportion metric: accuracy 0.9, a drop of 0.03 caught with power
    >= 0.8 at <= 1% false alarms per check (binomial draws of the planned number of labels)."""
    req = DesignMonitoringRequest.model_validate({
        "model_name": "m", "features": [{"name": "f", "type": "numeric"}], "predictions_per_hour": 1000,
        "performance": {"baseline": 0.9, "min_change": 0.03}, "false_alarm_rate": ALPHA, "power": POWER})
    perf = design_model_monitoring(req).performance
    rng = np.random.default_rng(11)
    runs = 20_000
    null = rng.binomial(perf.labels_per_window, 0.9, runs) / perf.labels_per_window
    shifted = rng.binomial(perf.labels_per_window, 0.87, runs) / perf.labels_per_window
    fa_rate, power = float(np.mean(null < perf.alarm_below)), float(np.mean(shifted < perf.alarm_below))
    print(f"performance: labels={perf.labels_per_window} false alarms {fa_rate:.4f} power {power:.4f}")
    assert fa_rate <= ALPHA + 3.1 * math.sqrt(ALPHA * (1 - ALPHA) / runs)
    assert power >= POWER
