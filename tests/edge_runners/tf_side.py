"""TensorFlow side of the edge checks, run with .venv-edge-tf/bin/python.

  prepare WORK   build the Keras models (random weights, fixed seed), save model.h5, input, calibration set and
                 the float32 reference output, and their layer description (WORK/models_tf.json)
  convert WORK   run every plan in WORK/plans.json whose path is a TensorFlow one, inside WORK/<case>/, then run
                 the artifact with LiteRT's interpreter (ai-edge-litert) or TF.js in Node; WORK/results_tf.json
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shlex
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import artifact_size, grouped, rel_error, run_script, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / ".cache/edge-node/node_modules/.bin/node"


def _randomize_batch_norms(model) -> None:
    """Trained-looking batch-norm statistics (fresh ones are the identity and fold away)."""
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                               rng.normal(0, 0.1, beta.shape).astype("float32"),
                               rng.normal(0, 0.1, mean.shape).astype("float32"),
                               rng.uniform(0.5, 1.5, var.shape).astype("float32")])


def build_models():
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    cnn = keras.applications.MobileNetV2(input_shape=(128, 128, 3), alpha=0.5, weights=None, classes=100,
                                         classifier_activation=None)
    _randomize_batch_norms(cnn)
    mlp = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                            keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)], name="mlp")
    rng = np.random.default_rng(2)
    for layer in mlp.layers:  # trained-looking (non-zero) biases
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel, rng.normal(0, 0.05, bias.shape).astype("float32")])
    return {"keras_mobilenet_v2": cnn, "keras_mlp": mlp}


_KERAS_OPS = {"ReLU": "activation", "Activation": "activation", "Add": "add", "Multiply": "mul",
              "Concatenate": "concat", "ZeroPadding2D": "pad", "MaxPooling2D": "pool", "AveragePooling2D": "pool",
              "GlobalAveragePooling2D": "global_pool", "GlobalMaxPooling2D": "global_pool", "Reshape": "reshape",
              "Flatten": "flatten", "Dropout": "dropout", "Softmax": "softmax"}


def describe(model) -> list[dict]:
    """The model as plan_edge_deployment's layer list, read off the Keras layers."""
    out = []
    for layer in model.layers:
        kind = layer.__class__.__name__
        if kind == "InputLayer":
            continue
        cfg = layer.get_config()
        if kind == "Conv2D":
            out.append({"op": "conv2d", "units_in": int(layer.input_shape[-1]), "units_out": cfg["filters"],
                        "kernel": cfg["kernel_size"][0], "bias": cfg["use_bias"]})
        elif kind == "DepthwiseConv2D":
            out.append({"op": "depthwise_conv2d", "units_in": int(layer.input_shape[-1]),
                        "kernel": cfg["kernel_size"][0], "bias": cfg["use_bias"]})
        elif kind == "Dense":
            out.append({"op": "dense", "units_in": int(layer.input_shape[-1]), "units_out": cfg["units"],
                        "bias": cfg["use_bias"]})
        elif kind == "BatchNormalization":
            out.append({"op": "batch_norm", "units_in": int(layer.input_shape[-1])})
        else:
            out.append({"op": _KERAS_OPS.get(kind, "custom")})
    return grouped(out)


def prepare(work: Path) -> None:
    models = build_models()
    rng = np.random.default_rng(0)
    described = {}
    for name, model in models.items():
        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        shape = [1, *model.input_shape[1:]]
        x = rng.standard_normal(shape).astype(np.float32)
        calibration = rng.standard_normal([32, *shape[1:]]).astype(np.float32)
        np.save(folder / "input.npy", x)
        np.save(folder / "calibration.npy", calibration)
        np.save(folder / "reference.npy", model(x, training=False).numpy())
        model.save(folder / "model.h5")
        described[name] = {"source": "keras", "input_shape": shape, "layers": describe(model),
                           "parameters": int(model.count_params())}
    write_json(work / "models_tf.json", described)


def run_litert(path: Path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    if inp["dtype"] == np.int8:  # int8 interface (microcontroller plans): quantize in, dequantize out
        scale, zero = inp["quantization"]
        x = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    y = interpreter.get_tensor(out["index"])
    if out["dtype"] == np.int8:
        scale, zero = out["quantization"]
        y = (y.astype(np.float32) - zero) * scale
    return y


def run_tfjs_converter(command: str, cwd: Path) -> None:
    """The plan's tensorflowjs_converter command through the converter's own entry point, in this process.

    tensorflowjs 4.22 imports tensorflow_decision_forests at module load (for TF-DF models only); its only wheel
    for Python 3.11 pins TensorFlow 2.19 and does not load beside 2.21, so an empty module stands in for it here.
    """
    sys.modules.setdefault("tensorflow_decision_forests", types.ModuleType("tensorflow_decision_forests"))
    from tensorflowjs.converters import converter

    argv = shlex.split(command)
    assert argv[0] == "tensorflowjs_converter", argv
    saved, cwd_before = sys.argv, os.getcwd()
    os.chdir(cwd)
    sys.argv = argv
    try:
        converter.pip_main()
    finally:
        sys.argv = saved
        os.chdir(cwd_before)


def run_tfjs_in_node(work: Path, cases: list[dict]) -> dict[str, list[float]]:
    """Load each web_model over HTTP with tf.loadLayersModel (as the plan's snippet does) and predict in Node."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(work))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        jobs = [{"case": c["case"], "url": f"http://127.0.0.1:{server.server_address[1]}/{c['case']}/web_model/model.json",
                 "input": np.load(work / c["model"] / "input.npy").ravel().tolist(),
                 "shape": list(np.load(work / c["model"] / "input.npy").shape)} for c in cases]
        (work / "tfjs_jobs.json").write_text(json.dumps(jobs))
        proc = subprocess.run([str(NODE), str(Path(__file__).with_name("tfjs_run.mjs")), str(work / "tfjs_jobs.json")],
                              cwd=ROOT / ".cache/edge-node", capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"node failed: {proc.stderr[-2000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        server.shutdown()


def convert(work: Path) -> None:
    plans = [p for p in json.loads((work / "plans.json").read_text()) if p["path"] in ("litert_tf", "litert_micro", "tfjs")]
    results = []
    tfjs_cases = []
    for plan in plans:
        case = work / plan["case"]
        case.mkdir(exist_ok=True)
        for name in ("model.h5", "calibration.npy"):
            link = case / name
            if not link.exists():
                link.symlink_to(work / plan["model"] / name)
        start = time.perf_counter()
        row = {**{k: plan[k] for k in ("case", "model", "path", "recipe", "predicted_bytes", "tolerance")}}
        try:
            if plan["path"] == "tfjs":
                run_tfjs_converter(plan["conversion"], case)
            else:
                cwd = os.getcwd()
                os.chdir(case)
                try:
                    run_script(plan["conversion"], [])
                finally:
                    os.chdir(cwd)
            row["convert_s"] = round(time.perf_counter() - start, 1)
            artifact = case / plan["artifact_name"]
            row["real_bytes"] = artifact_size(artifact)
            x = np.load(work / plan["model"] / "input.npy")
            ref = np.load(work / plan["model"] / "reference.npy")
            if plan["path"] == "tfjs":
                tfjs_cases.append(plan)
                row["runtime"] = "@tensorflow/tfjs 4.22 (Node, cpu backend)"
            else:
                row["error"] = rel_error(run_litert(artifact, x), ref)
                row["runtime"] = "ai-edge-litert Interpreter"
        except Exception as exc:  # a path that does not convert is a result to report, not a crash
            row["failure"] = f"{type(exc).__name__}: {str(exc)[:400]}"
        results.append(row)
    if tfjs_cases:
        outputs = run_tfjs_in_node(work, tfjs_cases)
        for row in results:
            if row["path"] == "tfjs" and row["case"] in outputs:
                ref = np.load(work / row["model"] / "reference.npy")
                row["error"] = rel_error(np.asarray(outputs[row["case"]], dtype=np.float32).reshape(ref.shape), ref)
    write_json(work / "results_tf.json", results)


if __name__ == "__main__":
    {"prepare": prepare, "convert": convert}[sys.argv[1]](Path(sys.argv[2]))
