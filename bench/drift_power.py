"""Monte Carlo figures of design_model_monitoring's sizing rule, per feature type: false alarms with no shift and
power at a shift of PSI 0.1, at the planned window and reference sizes, with the emitted drift job's own code.

    python -m bench.drift_power [--runs 5000]

Prints one line per type with 95% binomial intervals (the tests run fewer draws: tests/test_monitoring_drift_mc.py).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from tests.test_monitoring_drift_mc import ALPHA, CASES, POWER, job, plan


def interval(hits: int, runs: int) -> tuple[float, float]:
    p = hits / runs
    half = 1.96 * math.sqrt(p * (1 - p) / runs)
    return max(0.0, p - half), min(1.0, p + half)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5000)
    args = parser.parse_args()
    module = job()
    print(f"target: power >= {POWER} at a shift of PSI 0.1, false alarms <= {ALPHA} per check")
    for kind, case in CASES.items():
        design = plan(kind, categories=8)
        n, m = design.window.sample_size, design.window.reference_size
        feature = design.artifacts.drift_job_config["features"][0]
        alpha = design.artifacts.drift_job_config["alpha_per_feature"]
        reference_law, shifted_law = case(module, feature)
        rng = np.random.default_rng(7)
        fa = sum(module.check_feature(reference_law(rng, m), reference_law(rng, n), feature, alpha)["alarm"]
                 for _ in range(args.runs))
        hit = sum(module.check_feature(reference_law(rng, m), shifted_law(rng, n), feature, alpha)["alarm"]
                  for _ in range(args.runs))
        lo_fa, hi_fa = interval(fa, args.runs)
        lo_p, hi_p = interval(hit, args.runs)
        print(f"{kind:12s} n={n:4d} m={m:5d} statistic={feature['statistic']:15s} "
              f"false alarms {fa / args.runs:.4f} [{lo_fa:.4f}, {hi_fa:.4f}]  power {hit / args.runs:.4f} "
              f"[{lo_p:.4f}, {hi_p:.4f}]  planned power {design.features[0].power_at_min_psi:.4f}")


if __name__ == "__main__":
    main()
