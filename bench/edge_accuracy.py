"""Benchmark: plan_edge_deployment's predicted artifact size and promised output error against the real converters.

Every CI model (tests/edge_runners: a MobileNetV2 and an MLP in Keras, a CNN and a transformer encoder in PyTorch)
is planned for every path x recipe the tool offers that installs here; the plan's own conversion script runs in
.venv-edge-tf / .venv-edge-torch, the artifact runs in its runtime on a fixed input, and the table compares
predicted with real bytes (floor: within 5%) and the output error with the recipe's tolerance.

Run: python -m bench.edge_accuracy            prints the table of bench/results/edge_accuracy.json (written by
                                              tests/test_edge_conversions.py), or runs the conversions if absent
     python -m bench.edge_accuracy --table-only   the table, failing when the results file is absent (CI)
     python -m bench.edge_accuracy --run      runs the conversions (a few minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from ml_expert_mcp.tools.edge.data import edge_data
from ml_expert_mcp.tools.edge.inputs import PlanEdgeDeploymentRequest
from ml_expert_mcp.tools.edge.planner import plan_edge_deployment

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench/results/edge_accuracy.json"
RUNNERS = REPO / "tests/edge_runners"
TF_PYTHON = REPO / ".venv-edge-tf/bin/python"
TORCH_PYTHON = REPO / ".venv-edge-torch/bin/python"
SIZE_FLOOR = 0.05

# path -> recipes the CI converts (every recipe each path offers whose converter installs on the CI machine)
MATRIX = {
    "litert_tf": ("fp32", "fp16", "dynamic_int8", "full_int8", "int4_weight_only"),
    "litert_micro": ("full_int8",),
    "tfjs": ("fp32", "fp16", "dynamic_int8"),
    "executorch_xnnpack": ("fp32", "dynamic_int8", "full_int8"),
    "executorch_coreml": ("fp32", "fp16"),
    "coreml": ("fp32", "fp16", "dynamic_int8", "int4_weight_only"),
    "onnxruntime_mobile": ("fp32", "dynamic_int8"),
    "onnxruntime_web": ("fp32", "dynamic_int8"),
    "litert_torch": ("fp32", "dynamic_int8", "int4_weight_only"),
}
CONV_OPS = ("conv2d", "depthwise_conv2d")


def wanted(model: dict, recipe: str) -> bool:
    """int4 weight-only is for linear-layer models (the plan says so); convolutional models skip it."""
    return recipe != "int4_weight_only" or not any(layer["op"] in CONV_OPS for layer in model["layers"])


def make_plans(work: Path) -> list[dict]:
    """One plan per model x path x recipe, forced, as a caller would ask for it."""
    plans = []
    for side in ("tf", "torch"):
        models = json.loads((work / f"models_{side}.json").read_text())
        for model_id, model in models.items():
            for path, recipes in MATRIX.items():
                row = edge_data().path_row(path)
                if model["source"] not in row.sources:
                    continue
                for recipe in (r for r in recipes if wanted(model, r)):
                    req = PlanEdgeDeploymentRequest.model_validate({
                        "model": {"source": model["source"], "layers": model["layers"],
                                  "input_shape": model["input_shape"], "representative_samples": 32},
                        "targets": [row.targets[0]], "path": path, "recipe": recipe, "accuracy_tolerance": 1.0})
                    plan = plan_edge_deployment(req)
                    plans.append({"case": f"{model_id}.{path}.{recipe}", "model": model_id, "path": path,
                                  "recipe": recipe, "predicted_bytes": plan.artifact_size_bytes,
                                  "tolerance": plan.expected_max_error, "conversion": plan.artifacts.conversion,
                                  "artifact_name": plan.artifacts.artifact_name, "parameters": plan.parameters})
    (work / "plans.json").write_text(json.dumps(plans, indent=1))
    return plans


def _run(python: Path, script: str, *args: str, timeout: int) -> None:
    proc = subprocess.run([str(python), str(RUNNERS / script), *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{script} {args[0]} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")


def run_all(work: Path) -> list[dict]:
    """Prepare the models in both venvs, plan, convert and run; returns the scored rows."""
    for python in (TF_PYTHON, TORCH_PYTHON):
        if not python.exists():
            raise FileNotFoundError(f"{python} missing: run bash scripts/setup_edge")
    _run(TF_PYTHON, "tf_side.py", "prepare", str(work), timeout=900)
    _run(TORCH_PYTHON, "torch_side.py", "prepare", str(work), timeout=900)
    make_plans(work)
    _run(TF_PYTHON, "tf_side.py", "convert", str(work), timeout=1800)
    _run(TORCH_PYTHON, "torch_side.py", "convert", str(work), timeout=1800)
    return score(work)


def score(work: Path) -> list[dict]:
    """Compare the converted artifacts in `work` with the plans (re-planned: the prediction needs no conversion)."""
    predicted = {p["case"]: p for p in make_plans(work)}
    rows = []
    for side in ("tf", "torch"):
        rows += json.loads((work / f"results_{side}.json").read_text())
    for row in rows:
        row["predicted_bytes"] = predicted[row["case"]]["predicted_bytes"]
        row["tolerance"] = predicted[row["case"]]["tolerance"]
        if "real_bytes" in row:
            row["size_error"] = row["predicted_bytes"] / row["real_bytes"] - 1
            row["size_ok"] = abs(row["size_error"]) <= SIZE_FLOOR
        if "error" in row:
            row["error_ok"] = row["error"] <= row["tolerance"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1))
    return rows


def table(rows: list[dict]) -> str:
    lines = [f"{'model':<20} {'path':<19} {'recipe':<13} {'predicted':>11} {'real':>11} {'size err':>9} "
             f"{'out err':>9} {'tolerance':>9}  runtime / note"]
    for r in rows:
        size = f"{r['size_error']:+.2%}" if "size_error" in r else "-"
        err = f"{r['error']:.2e}" if "error" in r else "-"
        note = r.get("failure") or r.get("runtime", "")
        lines.append(f"{r['model']:<20} {r['path']:<19} {r['recipe']:<13} {r['predicted_bytes']:>11,} "
                     f"{r.get('real_bytes', 0):>11,} {size:>9} {err:>9} {r['tolerance']:>9g}  {note}")
    sized = [r for r in rows if "size_error" in r]
    run = [r for r in rows if "error" in r]
    quantized = [r for r in run if r["recipe"] != "fp32"]
    worst = max((abs(r["size_error"]) for r in sized), default=float("nan"))
    lines.append(f"size floor (|predicted/real - 1| <= 5%): {sum(r['size_ok'] for r in sized)}/{len(sized)} "
                 f"artifacts, worst {worst:.2%}")
    lines.append(f"error floor (output error <= recipe tolerance): {sum(r['error_ok'] for r in run)}/{len(run)} run "
                 f"({sum(r['error_ok'] for r in quantized)}/{len(quantized)} quantized); "
                 f"{len(rows) - len(sized)} conversions failed, {len(sized) - len(run)} converted but not run")
    return "\n".join(lines)


VERSIONS = ("tensorflow-cpu 2.21.0, tf-keras 2.21.0, ai-edge-litert 2.3.0, litert-quantizer 0.11.0, tensorflowjs 4.22.0, "
            "@tensorflow/tfjs 4.22.0 on Node 22; torch 2.13.0+cpu, executorch 1.5.1, coremltools 9.0, onnx, onnxruntime, "
            "litert-torch 0.10.0")
CSV_FIELDS = ("case", "model", "path", "recipe", "predicted_bytes", "real_bytes", "size_error", "error", "tolerance",
              "runtime", "setup", "source", "date", "measured")


def write_evidence(rows: list[dict], path: Path, date: str) -> None:
    """The measured rows as bench/evidence CSV: exact setup, value, where it comes from, date, what is measured."""
    import csv

    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in rows:
            writer.writerow({
                "case": r["case"], "model": r["model"], "path": r["path"], "recipe": r["recipe"],
                "predicted_bytes": r["predicted_bytes"], "real_bytes": r.get("real_bytes", ""),
                "size_error": f"{r['size_error']:+.4f}" if "size_error" in r else "",
                "error": f"{r['error']:.3e}" if "error" in r else "", "tolerance": r["tolerance"],
                "runtime": r.get("failure") or r.get("runtime", ""), "setup": VERSIONS + "; 2-core x86-64 CPU",
                "source": "tests/edge_runners (this repository): the plan's conversion script run as emitted",
                "date": date,
                "measured": "artifact bytes on disk (folders summed); max|y - y_fp32| / max|y_fp32| on one fixed input"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run the conversions even if results exist")
    parser.add_argument("--work", type=Path, help="keep the converted models in this folder")
    parser.add_argument("--rescore", type=Path, help="re-plan and score the conversions already in this folder")
    parser.add_argument("--evidence", type=Path, help="also write the rows as an evidence CSV here")
    parser.add_argument("--table-only", action="store_true", help="print the results file's table; never convert")
    args = parser.parse_args()
    if args.table_only and not RESULTS.exists():
        raise SystemExit(f"{RESULTS} missing: tests/test_edge_conversions.py writes it")
    if args.rescore:
        rows = score(args.rescore)
    elif args.run or not RESULTS.exists():
        if args.work:
            args.work.mkdir(parents=True, exist_ok=True)
            rows = run_all(args.work)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                rows = run_all(Path(tmp))
    else:
        rows = json.loads(RESULTS.read_text())
    print(table(rows))
    if args.evidence:
        import datetime

        write_evidence(rows, args.evidence, datetime.date.today().isoformat())


if __name__ == "__main__":
    main()
