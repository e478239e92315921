"""plan_edge_deployment: runtime, conversion path and quantization recipe for on-device targets, with the artifact
size predicted from the model's layers and the format's layout, CPU fallbacks, the script and the loading code."""

from __future__ import annotations

from ml_expert_mcp.knowledge import model_catalog
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.edge.artifacts import conversion
from ml_expert_mcp.tools.edge.data import edge_data
from ml_expert_mcp.tools.edge.inputs import EdgeModel, Layer, PlanEdgeDeploymentRequest
from ml_expert_mcp.tools.edge.plans import EdgeArtifacts, EdgeDeploymentPlan, EdgeOption
from ml_expert_mcp.tools.edge.size import artifact_bytes, parameter_count
from ml_expert_mcp.tools.edge.snippets import loading_snippet

# Paths in order of preference for the first target (native runtime of the platform first).
PATH_PREFERENCE = {
    "android_cpu": ("litert_tf", "executorch_xnnpack", "litert_torch", "onnxruntime_mobile"),
    "android_gpu": ("litert_tf", "litert_torch"),
    "android_npu": ("litert_tf", "executorch_qnn", "onnxruntime_mobile", "litert_torch"),
    "ios_cpu": ("coreml", "litert_tf", "executorch_xnnpack", "executorch_coreml", "litert_torch", "onnxruntime_mobile"),
    "ios_gpu": ("coreml", "litert_tf", "executorch_coreml", "litert_torch"),
    "ios_ane": ("coreml", "executorch_coreml", "onnxruntime_mobile"),
    "browser_webgpu": ("tfjs", "onnxruntime_web"),
    "browser_wasm": ("tfjs", "onnxruntime_web"),
    "microcontroller": ("litert_micro",),
}
# Recipes a target runs well, in order of preference (accelerators: their native precision first).
RECIPE_PREFERENCE = {
    "android_cpu": ("full_int8", "dynamic_int8", "fp16", "fp32", "int4_weight_only"),
    "android_gpu": ("fp16", "fp32", "dynamic_int8", "int4_weight_only"),
    "android_npu": ("full_int8",),
    "ios_cpu": ("dynamic_int8", "full_int8", "fp16", "fp32", "int4_weight_only"),
    "ios_gpu": ("fp16", "fp32", "dynamic_int8", "int4_weight_only"),
    "ios_ane": ("fp16", "dynamic_int8", "int4_weight_only", "full_int8"),
    "browser_webgpu": ("fp16", "dynamic_int8", "fp32"),
    "browser_wasm": ("dynamic_int8", "fp16", "fp32"),
    "microcontroller": ("full_int8",),
}
_WHY = {"gather": "GATHER/embedding lookup", "embedding": "embedding lookup (GATHER)", "custom": "custom op",
        "attention": "attention (matmul of two activations)", "layer_norm": "layer norm in float",
        "gelu": "GELU", "resize": "resize"}


def mobilenet_v2(alpha: float = 1.0, classes: int = 1000) -> list[Layer]:
    """Keras MobileNetV2 (Sandler et al. 2018, table 2) as layer groups; 3,538,984 parameters at alpha 1.0."""

    def width(c: float) -> int:
        v = max(8, int(c * alpha + 4) // 8 * 8)
        return v + 8 if v < 0.9 * c * alpha else v

    out: list[Layer] = []
    first = width(32)
    out += [Layer(op="conv2d", units_in=3, units_out=first, kernel=3, bias=False), Layer(op="batch_norm", units_in=first),
            Layer(op="activation"), Layer(op="pad")]
    c_in = first
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)):
        c_out = width(c) if c != 16 else max(8, int(16 * alpha + 4) // 8 * 8)
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = c_in * t
            if t != 1:
                out += [Layer(op="conv2d", units_in=c_in, units_out=hidden, bias=False),
                        Layer(op="batch_norm", units_in=hidden), Layer(op="activation")]
            if stride == 2:
                out.append(Layer(op="pad"))
            out += [Layer(op="depthwise_conv2d", units_in=hidden, kernel=3, bias=False),
                    Layer(op="batch_norm", units_in=hidden), Layer(op="activation"),
                    Layer(op="conv2d", units_in=hidden, units_out=c_out, bias=False),
                    Layer(op="batch_norm", units_in=c_out)]
            if stride == 1 and c_in == c_out:
                out.append(Layer(op="add"))
            c_in = c_out
    last = width(1280) if alpha > 1.0 else 1280
    out += [Layer(op="conv2d", units_in=c_in, units_out=last, bias=False), Layer(op="batch_norm", units_in=last),
            Layer(op="activation"), Layer(op="global_pool"), Layer(op="dense", units_in=last, units_out=classes)]
    return out


def _transformer(preset_id: str) -> list[Layer]:
    m = model_catalog()[preset_id]
    if m.family not in ("decoder", "encoder") or m.num_local_experts or not (m.hidden_size and m.num_hidden_layers):
        raise PlanInputError("model.preset", f"{preset_id!r} is not a dense transformer; give its layers instead")
    h, heads = m.hidden_size, m.num_attention_heads or 1
    hd = m.head_dim or h // heads
    kv = (m.num_key_value_heads or heads) * hd
    bias = m.family == "encoder"
    ffn = m.intermediate_size or 4 * h
    n = m.num_hidden_layers
    layers = [Layer(op="embedding", units_in=m.vocab_size or 32000, units_out=h),
              Layer(op="dense", count=n, units_in=h, units_out=heads * hd, bias=bias),
              Layer(op="dense", count=2 * n, units_in=h, units_out=kv, bias=bias),
              Layer(op="dense", count=n, units_in=heads * hd, units_out=h, bias=bias),
              Layer(op="dense", count=n * (2 if m.gated_mlp else 1), units_in=h, units_out=ffn, bias=bias),
              Layer(op="dense", count=n, units_in=ffn, units_out=h, bias=bias),
              Layer(op="layer_norm", count=2 * n + 1, units_in=h), Layer(op="softmax", count=n),
              Layer(op="gelu", count=n), Layer(op="gather")]
    if m.family == "decoder" and not m.tie_word_embeddings:
        layers.append(Layer(op="dense", units_in=h, units_out=m.vocab_size or 32000, bias=False))
    return layers


def resolve_layers(model: EdgeModel) -> list[Layer]:
    if model.layers and model.preset:
        raise PlanInputError("model.preset", "give a preset or layers, not both")
    if model.layers:
        if not any(layer.op in ("conv2d", "depthwise_conv2d", "dense", "embedding", "attention") for layer in model.layers):
            raise PlanInputError("model.layers", "no layer with weights (conv2d, depthwise_conv2d, dense, embedding, attention)")
        return list(model.layers)
    if model.preset == "mobilenet_v2":
        return mobilenet_v2()
    if model.preset in model_catalog():
        return _transformer(model.preset)
    if model.preset:
        raise PlanInputError("model.preset", f"unknown preset {model.preset!r}; accepted: mobilenet_v2 or a dense "
                                             "decoder/encoder of the model catalogue (search_knowledge 'models')")
    raise PlanInputError("model.layers", "give model.preset or model.layers (op, count, units_in, units_out, kernel)")


def _candidate_paths(req: PlanEdgeDeploymentRequest) -> list[str]:
    data = edge_data()
    source = req.model.source
    if req.path is not None:
        row = data.path_row(req.path)
        if source not in row.sources:
            raise PlanInputError("path", f"{req.path} converts {', '.join(row.sources)} models, not {source}")
        unsupported = [t for t in req.targets if t not in row.targets]
        if unsupported:
            raise PlanInputError("targets", f"{req.path} ({row.runtime}) does not run on {', '.join(unsupported)}; "
                                            f"it runs on {', '.join(row.targets)}")
        return [req.path]
    order = PATH_PREFERENCE[req.targets[0]]
    paths = [p for p in order if source in data.path_row(p).sources
             and all(t in data.path_row(p).targets for t in req.targets)]
    if not paths:
        per_target = {t: [p for p in PATH_PREFERENCE[t] if source in data.path_row(p).sources] for t in req.targets}
        detail = "; ".join(f"{t}: {', '.join(v) or 'none'}" for t, v in per_target.items())
        raise PlanInputError("targets", f"no one path takes a {source} model to all of {', '.join(req.targets)} "
                                        f"(paths per target: {detail}); plan each target separately")
    return paths


def _allowed_recipes(req: PlanEdgeDeploymentRequest, path: str) -> list[str]:
    data = edge_data()
    allowed = [r for r in RECIPE_PREFERENCE[req.targets[0]] if r in data.path_row(path).recipes
               and all(r in RECIPE_PREFERENCE[t] for t in req.targets)]
    if req.recipe is not None:
        if req.recipe not in data.path_row(path).recipes:
            raise PlanInputError("recipe", f"{path} offers {', '.join(data.path_row(path).recipes)}, not {req.recipe}")
        if req.recipe not in allowed:
            needs = {t: RECIPE_PREFERENCE[t] for t in req.targets if req.recipe not in RECIPE_PREFERENCE[t]}
            detail = "; ".join(f"{t} runs {', '.join(v)}" for t, v in needs.items())
            raise PlanInputError("recipe", f"{req.recipe} does not run on the targets: {detail}")
        allowed = [req.recipe]
    if req.recipe == "full_int8" and req.model.representative_samples == 0:
        raise PlanInputError("model.representative_samples",
                             "full_int8 calibrates activation ranges on a representative dataset: give >= 1 sample "
                             "(100-500 advised), or use dynamic_int8")
    return allowed


@tool("Plan an on-device (edge) deployment")
def plan_edge_deployment(req: PlanEdgeDeploymentRequest) -> EdgeDeploymentPlan:
    """Choose runtime and conversion path (LiteRT, ExecuTorch, Core ML, TF.js, ONNX Runtime Mobile/Web) and the
    quantization recipe for phones, browsers or microcontrollers; predicts artifact bytes, CPU fallbacks, and gives
    the conversion script and loading code."""
    data = edge_data()
    layers = resolve_layers(req.model)
    params = parameter_count(layers)
    options: list[EdgeOption] = []
    for path in _candidate_paths(req):
        for recipe in _allowed_recipes(req, path):
            size = artifact_bytes(path, layers, recipe)
            tol = data.recipe_row(recipe).tolerance
            verdict = "fits"
            if recipe == "full_int8" and req.model.representative_samples == 0:
                verdict = "needs a representative dataset (model.representative_samples)"
            elif tol > req.accuracy_tolerance:
                verdict = f"promises {tol:g} error, above the {req.accuracy_tolerance:g} tolerance"
            elif req.size_budget_bytes is not None and size > req.size_budget_bytes:
                verdict = f"{size:,} bytes, over the {req.size_budget_bytes:,}-byte budget"
            options.append(EdgeOption(path=path, recipe=recipe, artifact_size_bytes=size, expected_max_error=tol,
                                      verdict=verdict))
    if not options:
        raise PlanInputError("targets", f"no recipe runs on all of {', '.join(req.targets)} on the paths left")
    fitting = [o for o in options if o.verdict == "fits"]
    if not fitting:
        smallest = min(options, key=lambda o: o.artifact_size_bytes)
        if all("representative" in o.verdict for o in options):
            raise PlanInputError("model.representative_samples", f"{', '.join(req.targets)} run full_int8 only, "
                                 "which needs a representative dataset: give >= 1 sample (100-500 advised)")
        if all("tolerance" in o.verdict for o in options):
            best = min(o.expected_max_error for o in options)
            raise PlanInputError("accuracy_tolerance", f"the recipes these targets run promise at best {best:g}; "
                                                       f"raise the tolerance to >= {best:g}")
        raise PlanInputError("size_budget_bytes", f"the smallest artifact is {smallest.artifact_size_bytes:,} bytes "
                                                  f"({smallest.path}, {smallest.recipe})")
    chosen = fitting[0]
    options = [chosen.model_copy(update={"verdict": "chosen"})] + [o for o in options if o is not chosen]
    row = data.path_row(chosen.path)
    recipe_row = data.recipe_row(chosen.recipe)
    script, name = conversion(chosen.path, chosen.recipe, req.model.source, req.model.input_shape,
                              max(1, min(req.model.representative_samples, 500)))
    snippet, language = loading_snippet(chosen.path, req.targets[0], name, req.model.input_shape)
    present = {layer.op for layer in layers}
    fallbacks = []
    sources = [f"{row.source} (as of {row.as_of})", f"{recipe_row.source} (as of {recipe_row.as_of})"]
    for fb in data.fallback:
        if fb.path == chosen.path and fb.target in req.targets:
            hit = [op for op in fb.ops if op in present]
            fallbacks += [f"{fb.target}: {op} ({_WHY.get(op, op)})" for op in hit]
            if hit:
                sources.append(f"{fb.source} (as of {fb.as_of})")
    fmt = data.format[{"litert_tf": "tflite", "litert_torch": "tflite", "litert_micro": "tflite", "coreml": "mlpackage",
                       "tfjs": "tfjs", "onnxruntime_mobile": "ort", "onnxruntime_web": "onnx"}.get(chosen.path, "pte")]
    sources.append(f"{fmt['source']} (as of {fmt['as_of']})")
    mb = chosen.artifact_size_bytes / 1e6
    fallback_text = (f" On the CPU instead of the accelerator: {'; '.join(fallbacks)}." if fallbacks
                     else " No operator of this model falls back to the CPU on these targets.")
    summary = (f"Convert the {req.model.source} model ({params:,} parameters) with {chosen.path} to {row.runtime}, "
               f"recipe {chosen.recipe}: predicted artifact {chosen.artifact_size_bytes:,} bytes ({mb:.2f} MB), output "
               f"error within {recipe_row.tolerance:g} of float32 (max|dy| / max|y|).{fallback_text}")
    caveats = [
        "Sizes come from the layer description and each format's layout (within 5% of the real converters on the "
        "CI's models); names, metadata and unlisted ops move small models most.",
        "The error bound is measured on one fixed input against the float32 model; check task accuracy on real data.",
        f"Recipe: {recipe_row.note}",
    ]
    if chosen.path == "tfjs":
        caveats.append("tensorflowjs 4.22 converts Keras 2 models: build and save with tf_keras (TF_USE_LEGACY_KERAS=1) "
                       "as .h5; its converter imports tensorflow_decision_forests (pins TensorFlow 2.19), so run it in "
                       "an environment of its own.")
    if chosen.path in ("coreml", "executorch_coreml"):
        caveats.append("coremltools converts on Linux; running the .mlpackage needs macOS/iOS.")
    if chosen.path == "executorch_qnn":
        caveats.append("The QNN backend needs ExecuTorch built with Qualcomm's QNN SDK (not on PyPI); its size is "
                       "predicted with XNNPACK's layout, not checked against a QNN build.")
    if chosen.recipe == "int4_weight_only":
        caveats.append("int4 weight-only is meant for LLM-sized linear layers; convolutions stay at 8 bits or more.")
    install = {"litert_tf": "pip install tensorflow==2.21.0 tf-keras==2.21.0 ai-edge-litert==2.3.0 litert-quantizer==0.11.0",
               "litert_micro": "pip install tensorflow==2.21.0 tf-keras==2.21.0",
               "litert_torch": "pip install torch litert-torch==0.10.0 litert-quantizer==0.11.0",
               "executorch_xnnpack": "pip install torch executorch==1.5.1",
               "executorch_coreml": "pip install torch executorch==1.5.1  # brings coremltools 9.0",
               "executorch_qnn": "build executorch 1.5 from source with QNN_SDK_ROOT set (backends/qualcomm/scripts/build.sh)",
               "coreml": "pip install torch coremltools==9.0",
               "tfjs": "pip install tensorflowjs==4.22.0 tf-keras  # pulls TensorFlow 2.19 via tensorflow-decision-forests",
               "onnxruntime_mobile": "pip install torch onnx onnxscript onnxruntime",
               "onnxruntime_web": "pip install torch onnx onnxscript onnxruntime"}[chosen.path]
    return EdgeDeploymentPlan(
        summary=summary, caveats=caveats, path=chosen.path, runtime=row.runtime, recipe=chosen.recipe,
        artifact_size_bytes=chosen.artifact_size_bytes, parameters=params, expected_max_error=recipe_row.tolerance,
        cpu_fallback_ops=fallbacks, options=options[:12], sources=sources,
        artifacts=EdgeArtifacts(install=install, conversion=script,
                                conversion_kind="shell" if chosen.path == "tfjs" else "python", artifact_name=name,
                                loading_snippet=snippet, snippet_language=language))
