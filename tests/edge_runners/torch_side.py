"""PyTorch side of the edge checks, run with .venv-edge-torch/bin/python.

  prepare WORK   build the PyTorch models (random weights, fixed seed), torch.export.save them as model.pt2, save
                 input, calibration set and float32 reference output, and their layer description (models_torch.json)
  convert WORK   run every plan in WORK/plans.json whose path is a PyTorch one inside WORK/<case>/, then run the
                 artifact: ExecuTorch's runtime (.pte), onnxruntime (.ort / .onnx), LiteRT's interpreter (.tflite);
                 Core ML packages are converted and measured only (predicting needs macOS). WORK/results_torch.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import artifact_size, grouped, rel_error, run_script, write_json  # noqa: E402
from torch import nn  # noqa: E402

TORCH_PATHS = ("executorch_xnnpack", "executorch_coreml", "coreml", "onnxruntime_mobile", "onnxruntime_web",
               "litert_torch")


class ResidualCNN(nn.Module):
    def __init__(self, classes: int = 100) -> None:
        super().__init__()

        def cbr(i: int, o: int, s: int) -> list[nn.Module]:
            return [nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]

        self.stem = nn.Sequential(*cbr(3, 32, 2))
        self.stages = nn.ModuleList()
        self.convs = nn.ModuleList()
        c = 32
        for _ in range(3):
            self.stages.append(nn.Sequential(*cbr(c, 2 * c, 2)))
            self.convs.append(nn.Sequential(nn.Conv2d(2 * c, 2 * c, 3, 1, 1, bias=False), nn.BatchNorm2d(2 * c)))
            c *= 2
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.head = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage, conv in zip(self.stages, self.convs, strict=True):
            x = stage(x)
            x = self.relu(x + conv(x))
        return self.head(self.flatten(self.pool(x)))


class Encoder(nn.Module):
    """A small transformer encoder over 64 positions of 128 features, mean-pooled into 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=128, nhead=4, dim_feedforward=512, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=4, enable_nested_tensor=False)
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x).mean(dim=1))


def build_models() -> dict[str, tuple[nn.Module, list[int]]]:
    torch.manual_seed(0)
    cnn = ResidualCNN()
    gen = torch.Generator().manual_seed(1)
    for m in cnn.modules():  # trained-looking batch-norm statistics (fresh ones are the identity)
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.normal_(0, 0.1, generator=gen)
                m.running_mean.normal_(0, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
    encoder = Encoder()
    with torch.no_grad():  # trained-looking weights: nn.TransformerEncoder deep-copies one layer, and converters
        for p in encoder.parameters():  # store identical constants once
            p.add_(torch.randn(p.shape, generator=gen) * 0.02)
    return {"torch_cnn": (cnn.eval(), [1, 3, 96, 96]), "torch_transformer": (encoder.eval(), [1, 64, 128])}


_PLAIN = {nn.ReLU: "activation", nn.ReLU6: "activation", nn.GELU: "gelu", nn.AdaptiveAvgPool2d: "global_pool",
          nn.MaxPool2d: "pool", nn.Flatten: "flatten", nn.Dropout: "dropout", nn.Softmax: "softmax"}


def describe(model: nn.Module) -> list[dict]:
    """The model as plan_edge_deployment's layer list, read off its modules (attention counted once, whole)."""
    out: list[dict] = []
    skip: set[int] = set()
    for module in model.modules():
        if id(module) in skip:
            continue
        if isinstance(module, nn.MultiheadAttention):
            skip.update(id(m) for m in module.modules())
            out.append({"op": "attention", "units_in": module.embed_dim, "units_out": module.num_heads,
                        "bias": module.in_proj_bias is not None})
        elif isinstance(module, nn.TransformerEncoderLayer):  # its activation and two residual adds are functional
            out += [{"op": "activation"}, {"op": "add"}, {"op": "add"}]
        elif isinstance(module, nn.Conv2d):
            if module.groups == module.in_channels == module.out_channels:
                out.append({"op": "depthwise_conv2d", "units_in": module.in_channels,
                            "kernel": module.kernel_size[0], "bias": module.bias is not None})
            else:
                out.append({"op": "conv2d", "units_in": module.in_channels, "units_out": module.out_channels,
                            "kernel": module.kernel_size[0], "bias": module.bias is not None})
        elif isinstance(module, nn.Linear):
            out.append({"op": "dense", "units_in": module.in_features, "units_out": module.out_features,
                        "bias": module.bias is not None})
        elif isinstance(module, nn.BatchNorm2d):
            out.append({"op": "batch_norm", "units_in": module.num_features})
        elif isinstance(module, nn.LayerNorm):
            out.append({"op": "layer_norm", "units_in": module.normalized_shape[0]})
        elif type(module) in _PLAIN:
            out.append({"op": _PLAIN[type(module)]})
    return grouped(out)


def prepare(work: Path) -> None:
    rng = np.random.default_rng(0)
    described = {}
    for name, (model, shape) in build_models().items():
        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        x = rng.standard_normal(shape).astype(np.float32)
        np.save(folder / "input.npy", x)
        np.save(folder / "calibration.npy", rng.standard_normal([32, *shape[1:]]).astype(np.float32))
        with torch.no_grad():
            np.save(folder / "reference.npy", model(torch.from_numpy(x)).numpy())
        torch.export.save(torch.export.export(model, (torch.from_numpy(x),)), folder / "model.pt2")
        described[name] = {"source": "pytorch", "input_shape": shape, "layers": describe(model),
                           "parameters": sum(p.numel() for p in model.parameters())}
    write_json(work / "models_torch.json", described)


def run_artifact(path: str, artifact: Path, x: np.ndarray) -> tuple[np.ndarray | None, str]:
    if path == "executorch_coreml":
        return None, "converted only: the Core ML delegate runs on macOS/iOS, not Linux"
    if path.startswith("executorch"):
        from executorch.runtime import Runtime

        method = Runtime.get().load_program(str(artifact)).load_method("forward")
        return method.execute([torch.from_numpy(x)])[0].numpy(), "executorch.runtime (portable + XNNPACK kernels)"
    if path.startswith("onnxruntime"):
        import onnxruntime as ort

        session = ort.InferenceSession(str(artifact), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return session.run(None, {name: x})[0], f"onnxruntime {ort.__version__} CPU ({artifact.suffix})"
    if path == "litert_torch":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(artifact))
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), "ai-edge-litert Interpreter"
    return None, "converted only: Core ML predicts on macOS/iOS, not Linux"


def convert(work: Path, only: str | None = None) -> None:
    plans = [p for p in json.loads((work / "plans.json").read_text()) if p["path"] in TORCH_PATHS]
    if only is None:  # Core ML in a process of its own: importing ExecuTorch adds a debug file to .mlpackage saves
        proc = subprocess.run([sys.executable, __file__, "convert-coreml", str(work)], capture_output=True, text=True,
                              timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        results = json.loads((work / "results_coreml.json").read_text())
        plans = [p for p in plans if p["path"] != "coreml"]
    else:
        results = []
        plans = [p for p in plans if p["path"] == only]
    for plan in plans:
        case = work / plan["case"]
        case.mkdir(exist_ok=True)
        for name in ("model.pt2", "calibration.npy"):
            if not (case / name).exists():
                (case / name).symlink_to(work / plan["model"] / name)
        row = {k: plan[k] for k in ("case", "model", "path", "recipe", "predicted_bytes", "tolerance")}
        start = time.perf_counter()
        cwd = os.getcwd()
        try:
            os.chdir(case)
            try:
                run_script(plan["conversion"], [])
            finally:
                os.chdir(cwd)
            row["convert_s"] = round(time.perf_counter() - start, 1)
            artifact = case / plan["artifact_name"]
            row["real_bytes"] = artifact_size(artifact)
            y, row["runtime"] = run_artifact(plan["path"], artifact, np.load(work / plan["model"] / "input.npy"))
            if y is not None:
                row["error"] = rel_error(y, np.load(work / plan["model"] / "reference.npy"))
        except Exception as exc:  # a path that does not convert is a result to report, not a crash
            row["failure"] = f"{type(exc).__name__}: {str(exc)[:400]}"
        results.append(row)
    write_json(work / ("results_torch.json" if only is None else "results_coreml.json"), results)


if __name__ == "__main__":
    command, work = sys.argv[1], Path(sys.argv[2])
    if command == "prepare":
        prepare(work)
    elif command == "convert-coreml":
        convert(work, only="coreml")
    else:
        convert(work)
