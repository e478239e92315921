"""plan_edge_deployment against the real converters and runtimes (slow: a few minutes on 2 cores).

Each CI model is planned for every path x recipe the tool offers whose converter installs here (bench.edge_accuracy
MATRIX); the plan's own conversion script runs in .venv-edge-tf / .venv-edge-torch (scripts/setup_edge), the
artifact runs in its runtime (LiteRT interpreter, ExecuTorch runtime, onnxruntime, TF.js in Node) on a fixed input.
Floors: predicted artifact bytes within 5% of the real artifact, output error within the recipe's tolerance.
The table is written to bench/results/edge_accuracy.json; `python -m bench.edge_accuracy` prints it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.edge_accuracy import CONV_OPS, MATRIX, SIZE_FLOOR, TF_PYTHON, TORCH_PYTHON, run_all, table

pytestmark = pytest.mark.slow

# Converted but not run: no runtime for it on Linux.
NOT_RUNNABLE = {"coreml", "executorch_coreml"}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    missing = [str(p) for p in (TF_PYTHON, TORCH_PYTHON) if not p.exists()]
    node = Path(__file__).resolve().parents[1] / ".cache/edge-node/node_modules/.bin/node"
    if not node.exists():
        missing.append(str(node))
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"edge venvs missing in CI: {missing} (bash scripts/setup_edge)")
        pytest.skip(f"edge venvs missing: {missing}; run bash scripts/setup_edge")
    result = run_all(tmp_path_factory.mktemp("edge"))
    print("\n" + table(result))
    return result


def test_every_path_and_recipe_converted_on_four_models(rows: list[dict]) -> None:
    failures = [f"{r['case']}: {r['failure']}" for r in rows if "failure" in r]
    assert not failures, failures
    assert len({r["model"] for r in rows}) >= 4
    covered = {(r["path"], r["recipe"]) for r in rows}
    assert covered == {(p, rec) for p, recs in MATRIX.items() for rec in recs}
    assert all(r["recipe"] != "int4_weight_only" or r["model"] in ("keras_mlp", "torch_transformer") for r in rows), CONV_OPS


def test_predicted_size_within_five_percent(rows: list[dict]) -> None:
    off = [f"{r['case']}: predicted {r['predicted_bytes']:,} real {r['real_bytes']:,}" for r in rows
           if "real_bytes" in r and abs(r["predicted_bytes"] / r["real_bytes"] - 1) > SIZE_FLOOR]
    assert not off, off


def test_output_error_within_recipe_tolerance(rows: list[dict]) -> None:
    ran = [r for r in rows if "error" in r]
    assert {r["path"] for r in ran} == set(MATRIX) - NOT_RUNNABLE
    off = [f"{r['case']}: error {r['error']:.3g} > {r['tolerance']:g}" for r in ran if r["error"] > r["tolerance"]]
    assert not off, off
    # quantization changed something: the quantized artifacts are not float32 copies
    assert all(r["error"] > 1e-6 for r in ran if r["recipe"] in ("dynamic_int8", "full_int8"))
