"""Benchmark: the serving latency estimate (no measured curve) against published inference measurements.

Evidence: bench/evidence/inference_latency.csv (ResNet-50 and BERT, TensorFlow and TensorRT, T4 / V100 / A100 /
L40S / H100; each row sourced). Rows marked `calibration` fit the anchors in knowledge/serving_latency.toml
(`--fit` prints them); rows marked `scoring` are never used to fit and are the ones scored here.

Floors printed: estimated vs measured latency at batch 1 and at the largest batch within 2x; the per-replica load
plan_tf_serving plans (no measured curve, and with the measured points) never above the measured ceiling.

Run: python -m bench.serving_accuracy [--fit] [--json bench/results/serving_accuracy.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
from pathlib import Path

from ml_expert_mcp.knowledge import gpu_catalog, latency_anchors
from ml_expert_mcp.tools.serving.latency import anchored_seconds, estimated_curve
from ml_expert_mcp.tools.serving.tf_serving import PlanTFServingRequest, plan_tf_serving

EVIDENCE = Path(__file__).parent / "evidence" / "inference_latency.csv"
FLOOR = 2.0
VALUE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}


def model_facts(model: str, seq: int) -> tuple[float, float, str]:
    """Forward FLOPs per example and parameters.

    ResNet-50 v1.5: 4.1 GMACs = 8.2 GFLOPs at 224x224, 25.6 M parameters (He et al. 2016; torchvision docs).
    BERT (Devlin et al. 2019): 2 x 12 h^2 x layers x seq (dense layers) + 4 x layers x seq^2 x h (attention);
    base h=768, 12 layers, 110 M parameters; large h=1024, 24 layers, 335 M parameters.
    """
    if model == "resnet50":
        return 8.2e9, 25.6e6, "cnn"
    h, layers, params = (768, 12, 110e6) if model == "bert-base" else (1024, 24, 335e6)
    return 2 * 12 * h * h * layers * seq + 4 * layers * seq * seq * h, params, "transformer"


def curves(split: str | None = None) -> list[dict]:
    """One entry per measured setup: its points and facts."""
    out: dict[tuple, dict] = {}
    for r in csv.DictReader(EVIDENCE.open()):
        if split and r["split"] != split:
            continue
        key = (r["model"], r["runtime"], r["precision"], r["gpu"], int(r["seq_len"]), r["source"])
        flops, params, family = model_facts(r["model"], int(r["seq_len"]))
        c = out.setdefault(key, {"model": r["model"], "runtime": r["runtime"], "precision": r["precision"],
                                 "gpu": r["gpu"], "seq": int(r["seq_len"]), "flops": flops, "params": params,
                                 "family": family, "split": r["split"], "source": r["source"], "points": []})
        c["points"].append((int(r["batch"]), float(r["latency_ms"])))
    for c in out.values():
        c["points"].sort()
    return list(out.values())


def fit(runtime: str, family: str) -> dict:
    """Grid search on the calibration rows: the constants that minimise the worst log error (then the RMS)."""
    cal = [c for c in curves("calibration") if c["runtime"] == runtime and c["family"] == family]
    gpus = gpu_catalog()
    pts = []
    for c in cal:
        g = gpus[c["gpu"]]
        for b, ms in c["points"]:
            pts.append((b, c["flops"], c["params"] * VALUE_BYTES[c["precision"]], VALUE_BYTES[c["precision"]],
                        g.dense_tflops(c["precision"]) * 1e12, g.hbm_bandwidth_tbps * 1e12, ms / 1e3))
    best = None
    grid = [(fixed_ms, per_gb, eff, fpb) for fixed_ms in [x / 10 for x in range(0, 121, 2)]
            for per_gb in [x / 2 for x in range(0, 41, 2)] for eff in [x / 50 for x in range(2, 51, 2)]
            for fpb in [2 ** (x / 2) for x in range(4, 31, 2)]]
    for fixed_ms, per_gb, eff, fpb in grid:
        errs = [math.log(anchored_seconds(b, f, w, vb, pk, bw, fixed_ms / 1e3, per_gb / 1e3, eff, fpb) / t)
                for b, f, w, vb, pk, bw, t in pts]
        key = (round(max(abs(e) for e in errs), 3), math.sqrt(sum(e * e for e in errs) / len(errs)))
        if best is None or key < best[0]:
            best = (key, fixed_ms, per_gb, eff, fpb)
    assert best is not None
    (worst, rms), fixed_ms, per_gb, eff, fpb = best
    return {"runtime": runtime, "family": family, "fixed_ms": fixed_ms, "fixed_ms_per_gb": per_gb, "efficiency": eff,
            "flops_per_byte": round(fpb, 2), "calibration_worst_factor": round(math.exp(worst), 2), "rms_log": round(rms, 3),
            "rows": len(pts), "max_batch": max(b for b, *_ in pts)}


def estimate_ms(c: dict, batch: int) -> float:
    gpu = gpu_catalog()[c["gpu"]]
    curve, _ = estimated_curve(c["flops"], c["params"], VALUE_BYTES[c["precision"]], 8, gpu, c["precision"],
                               c["runtime"], c["family"])
    return curve.at(batch) * 1e3


def plan_load(c: dict, measured: bool) -> tuple[float, int]:
    """plan_tf_serving's planned requests/s per replica and max_batch_size, SLA = 2 x the largest measured t(b)."""
    b_max, t_max = c["points"][-1]
    cost = ({"measured": [{"batch_size": b, "latency_ms": t} for b, t in c["points"]]} if measured else
            {"flops_per_example": c["flops"], "params": c["params"], "precision": c["precision"],
             "runtime": c["runtime"], "family": c["family"]})
    req = PlanTFServingRequest.model_validate({
        "model": {"name": c["model"], "base_path": "s3://bucket/models/m"}, "replica": {"gpu": c["gpu"]},
        "traffic": {"peak_rps": 100000}, "sla": {"latency_ms": 2 * t_max, "percentile": "p95"}, "cost": cost})
    plan = plan_tf_serving(req)
    return plan.capacity.planned_rps_per_replica, plan.batching.max_batch_size


def score() -> dict:
    rows, ratios, ceiling_ok = [], [], []
    for c in curves("scoring"):
        ceiling = max(b / (t / 1e3) for b, t in c["points"])
        for b, t in (c["points"][0], c["points"][-1]):
            est = estimate_ms(c, b)
            ratios.append(est / t)
            rows.append(f"  {c['model']:10} {c['runtime']:10} {c['precision']:4} {c['gpu']:15} seq {c['seq']:3} "
                        f"b {b:3}: measured {t:8.2f} ms  estimated {est:8.2f} ms  ratio {est / t:5.2f}")
        for measured in (False, True):
            load, mb = plan_load(c, measured)
            ceiling_ok.append(load <= ceiling)
            rows.append(f"    plan ({'measured curve' if measured else 'estimate      '}): {load:9.1f} req/s per replica "
                        f"(max_batch_size {mb}) vs measured ceiling {ceiling:9.1f}: {'ok' if load <= ceiling else 'OVER'}")
    worst = max(max(r, 1 / r) for r in ratios)
    return {"scored_points": len(ratios), "median_ratio": round(statistics.median(ratios), 3),
            "worst_factor": round(worst, 3), "within_2x": sum(1 / FLOOR <= r <= FLOOR for r in ratios),
            "plans_checked": len(ceiling_ok), "plans_within_ceiling": sum(ceiling_ok),
            "floor_latency_met": worst <= FLOOR, "floor_ceiling_met": all(ceiling_ok), "lines": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fit", action="store_true", help="refit the anchors on the calibration rows and print them")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    if args.fit:
        for runtime, family in sorted(latency_anchors()):
            print(json.dumps(fit(runtime, family)))
        return
    result = score()
    print("Serving latency estimate vs published measurements (scoring rows only; anchors fitted on the "
          "calibration rows)")
    for line in result["lines"]:
        print(line)
    print(f"latency: {result['within_2x']}/{result['scored_points']} points within {FLOOR:g}x, median ratio "
          f"{result['median_ratio']}, worst factor {result['worst_factor']} -> floor "
          f"{'MET' if result['floor_latency_met'] else 'NOT MET'}")
    print(f"ceiling: {result['plans_within_ceiling']}/{result['plans_checked']} plans at or below the measured "
          f"ceiling -> floor {'MET' if result['floor_ceiling_met'] else 'NOT MET'}")
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in result.items() if k != "lines"}, indent=2))


if __name__ == "__main__":
    main()
