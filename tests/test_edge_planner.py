"""plan_edge_deployment: choices, refusals, data file and scripts (quick; the real converters run in
tests/test_edge_conversions.py)."""

from __future__ import annotations

import ast
from datetime import date
from typing import Any

import pytest

from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.edge.artifacts import conversion
from ml_expert_mcp.tools.edge.data import edge_data
from ml_expert_mcp.tools.edge.inputs import Path, PlanEdgeDeploymentRequest, Recipe, Source, Target
from ml_expert_mcp.tools.edge.planner import PATH_PREFERENCE, RECIPE_PREFERENCE, mobilenet_v2, plan_edge_deployment
from ml_expert_mcp.tools.edge.size import parameter_count
from ml_expert_mcp.tools.frameworks.recommend import RecommendFrameworkRequest, recommend_framework

ENCODER = [{"op": "attention", "count": 4, "units_in": 256, "units_out": 4},
           {"op": "dense", "count": 4, "units_in": 256, "units_out": 1024},
           {"op": "dense", "count": 4, "units_in": 1024, "units_out": 256},
           {"op": "layer_norm", "count": 8, "units_in": 256}, {"op": "embedding", "units_in": 8000, "units_out": 256}]


def plan(model: dict[str, Any], targets: list[str], **kw: Any):
    return plan_edge_deployment(PlanEdgeDeploymentRequest.model_validate({"model": model, "targets": targets, **kw}))


def field_of(model: dict[str, Any], targets: list[str], **kw: Any) -> str:
    with pytest.raises(PlanInputError) as err:
        plan(model, targets, **kw)
    return err.value.field


def test_mobilenet_v2_preset_has_keras_parameter_count() -> None:
    # tf.keras.applications.MobileNetV2(weights=None).count_params() == 3,538,984 (keras.io applications table: 3.5M)
    assert parameter_count(mobilenet_v2()) == 3_538_984


def test_android_gpu_takes_fp16_litert() -> None:
    p = plan({"source": "keras", "preset": "mobilenet_v2"}, ["android_gpu"])
    assert (p.path, p.recipe) == ("litert_tf", "fp16")
    assert p.options[0].verdict == "chosen"
    # fp16 halves the float32 artifact, give or take the per-tensor bookkeeping
    fp32 = next(o for o in p.options if o.recipe == "fp32")
    assert 0.45 < p.artifact_size_bytes / fp32.artifact_size_bytes < 0.55
    assert "Accelerator.GPU" in p.artifacts.loading_snippet


def test_tight_tolerance_keeps_float32_and_budget_forces_int8() -> None:
    model = {"source": "keras", "preset": "mobilenet_v2"}
    assert plan(model, ["android_gpu"], accuracy_tolerance=1e-3).recipe == "fp32"
    small = plan(model, ["android_gpu"], size_budget_bytes=5_000_000)
    assert small.recipe == "dynamic_int8" and small.artifact_size_bytes <= 5_000_000


def test_npu_and_microcontroller_need_calibration_data() -> None:
    model = {"source": "keras", "layers": [{"op": "dense", "units_in": 64, "units_out": 10}], "input_shape": [1, 64]}
    assert field_of(model, ["microcontroller"]) == "model.representative_samples"
    assert field_of({**model, "representative_samples": 200}, ["microcontroller"]) == "accuracy_tolerance"
    p = plan({**model, "representative_samples": 200}, ["microcontroller"], accuracy_tolerance=0.2)
    assert (p.path, p.recipe) == ("litert_micro", "full_int8")
    assert "inference_input_type = tf.int8" in p.artifacts.conversion
    assert field_of(model, ["android_cpu"], recipe="full_int8") == "model.representative_samples"


def test_unsupported_target_names_the_field() -> None:
    keras = {"source": "keras", "preset": "mobilenet_v2"}
    torch = {"source": "pytorch", "preset": "mobilenet_v2", "input_shape": [1, 3, 224, 224]}
    assert field_of(keras, ["android_gpu"], path="tfjs") == "targets"
    assert field_of(torch, ["microcontroller"]) == "targets"
    assert field_of(keras, ["ios_ane"]) == "targets"
    assert field_of(torch, ["android_cpu"], path="tfjs") == "path"
    assert field_of(keras, ["android_npu"], recipe="fp16", path="litert_tf") == "recipe"
    assert field_of(keras, ["android_gpu"], size_budget_bytes=2048) == "size_budget_bytes"
    assert field_of(keras, ["android_gpu"], accuracy_tolerance=1e-6) == "accuracy_tolerance"
    assert field_of({"source": "keras"}, ["android_gpu"]) == "model.layers"
    assert field_of({"source": "keras", "preset": "no-such"}, ["android_gpu"]) == "model.preset"


def test_pytorch_on_apple_neural_engine_uses_core_ml_and_names_fallbacks() -> None:
    p = plan({"source": "pytorch", "layers": ENCODER, "input_shape": [1, 128]}, ["ios_ane"])
    assert (p.path, p.recipe) == ("coreml", "fp16")
    assert "ct.convert(ep.run_decompositions({})" in p.artifacts.conversion
    assert any(f.startswith("ios_ane: embedding") for f in p.cpu_fallback_ops)
    gpu = plan({"source": "keras", "layers": ENCODER, "input_shape": [1, 128]}, ["android_gpu"])
    assert any("attention" in f for f in gpu.cpu_fallback_ops)
    browser = plan({"source": "pytorch", "layers": ENCODER, "input_shape": [1, 128]}, ["browser_webgpu"])
    assert browser.path == "onnxruntime_web" and "webgpu" in browser.artifacts.loading_snippet


def test_llm_preset_int4_is_a_quarter_of_fp16() -> None:
    p = plan({"source": "pytorch", "preset": "llama-3.2-1b", "input_shape": [1, 128]}, ["android_cpu"],
             accuracy_tolerance=0.3, size_budget_bytes=1_000_000_000, path="litert_torch")
    assert p.recipe == "int4_weight_only"
    assert 1.2e9 < p.parameters < 1.3e9  # Llama 3.2 1B: 1.24B parameters with tied embeddings
    assert p.artifact_size_bytes < 0.6 * 2 * p.parameters


@pytest.mark.parametrize("path", [p for p in Path.__args__])
def test_every_recipe_of_every_path_emits_a_script_that_parses(path: str) -> None:
    row = edge_data().path_row(path)
    for recipe in row.recipes:
        text, name = conversion(path, recipe, row.sources[0], [1, 3, 32, 32], 100)
        assert name
        if path == "tfjs":
            assert text.startswith("tensorflowjs_converter --input_format=keras")
        else:
            ast.parse(text)


def test_data_file_matches_the_input_enums() -> None:
    data = edge_data()
    assert {p.id for p in data.path} == set(Path.__args__)
    assert {r.id for r in data.recipe} == set(Recipe.__args__)
    for row in data.path:
        assert set(row.sources) <= set(Source.__args__) and set(row.targets) <= set(Target.__args__)
        assert set(row.recipes) <= set(Recipe.__args__)
        for target in row.targets:
            assert row.id in PATH_PREFERENCE[target], (row.id, target)
    assert set(RECIPE_PREFERENCE) == set(Target.__args__) == set(PATH_PREFERENCE)
    rows = (*data.package, *data.recipe, *data.path, *data.fallback)
    assert all(date(2015, 1, 1) <= r.as_of <= date.today() for r in rows)  # the source's date: may be old, never ahead
    names = {p.name: p for p in data.package}
    assert names["ai-edge-torch"].status == "renamed" and "litert-torch" in names["ai-edge-torch"].note
    assert names["ai-edge-quantizer"].status == "renamed" and names["litert-quantizer"].status == "current"


def test_mobile_vision_recommendation_names_the_edge_runtimes() -> None:
    ranked = recommend_framework(RecommendFrameworkRequest(task="vision", deployment_targets=["mobile_edge"])).ranked
    assert ranked[0].score > ranked[1].score or ranked[0].framework != "pytorch"
    text = " ".join(r for f in ranked[:3] for r in f.reasons_for)
    for runtime in ("ExecuTorch", "LiteRT", "Core ML", "ONNX Runtime Mobile"):
        assert runtime in text
    scores = {f.framework: f.score for f in ranked}
    assert scores["pytorch"] != scores["tensorflow"]
