"""Inputs of plan_edge_deployment: the model (preset or layers), where it runs and what it may cost."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ml_expert_mcp.tools.common.models import StrictModel

Source = Literal["keras", "saved_model", "pytorch"]
Target = Literal["android_cpu", "android_gpu", "android_npu", "ios_cpu", "ios_gpu", "ios_ane", "browser_webgpu",
                 "browser_wasm", "microcontroller"]
Path = Literal["litert_tf", "litert_torch", "litert_micro", "executorch_xnnpack", "executorch_coreml",
               "executorch_qnn", "coreml", "tfjs", "onnxruntime_mobile", "onnxruntime_web"]
Recipe = Literal["fp32", "fp16", "dynamic_int8", "full_int8", "int4_weight_only"]
WeightOp = Literal["conv2d", "depthwise_conv2d", "dense", "embedding", "layer_norm", "batch_norm", "attention"]
PlainOp = Literal["activation", "gelu", "add", "mul", "concat", "pad", "pool", "global_pool", "reshape", "flatten",
                  "dropout", "softmax", "resize", "gather", "transpose", "custom"]


class Layer(StrictModel):
    op: WeightOp | PlainOp = Field(description="Layer type; plain ops carry no weights.")
    count: int = Field(default=1, ge=1, le=10_000, description="Identical layers of this kind.")
    units_in: int = Field(default=0, ge=0, le=10_000_000, description="Input channels/features (vocab for embedding, width for norms and attention).")
    units_out: int = Field(default=0, ge=0, le=10_000_000, description="Output channels/features (embedding dim); attention: heads.")
    kernel: int = Field(default=1, ge=1, le=64, description="Square kernel size (conv).")
    bias: bool = Field(default=True, description="Has a bias vector.")


class EdgeModel(StrictModel):
    source: Source = Field(description="keras (tf_keras .h5/.keras), saved_model, or pytorch (torch.export program).")
    preset: str | None = Field(default=None, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$",
                               description="mobilenet_v2, or a dense decoder/encoder id of estimate_training_memory's catalogue; or give layers.")
    layers: list[Layer] = Field(default_factory=list, max_length=64, description="Layer groups when no preset.")
    input_shape: list[int] = Field(default_factory=lambda: [1, 224, 224, 3], min_length=1, max_length=5,
                                   description="Example input shape (channels last for keras, first for pytorch).")
    representative_samples: int = Field(default=0, ge=0, le=100_000,
                                        description="Calibration samples you can provide (full_int8 needs >= 1; 100-500 advised).")


class PlanEdgeDeploymentRequest(StrictModel):
    model: EdgeModel
    targets: list[Target] = Field(min_length=1, max_length=4, description="Devices the one artifact must run on.")
    accuracy_tolerance: float = Field(default=0.05, ge=1e-6, le=1.0,
                                      description="Max output error accepted: max|y-y_fp32| / max|y_fp32| on a fixed input.")
    size_budget_bytes: int | None = Field(default=None, ge=1024, le=10**12, description="Largest artifact allowed, bytes.")
    path: Path | None = Field(default=None, description="Force a conversion path; default: chosen.")
    recipe: Recipe | None = Field(default=None, description="Force a quantization recipe; default: chosen.")
