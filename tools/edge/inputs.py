"""Inputs of plan_edge_deployment: the model (preset or layers), where it runs and what it may cost."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ml_expert_mcp.tools.common.models import StrictModel

Source = Literal["keras", "saved_model", "pytorch"]
Target = Literal["android_cpu", "android_gpu", "android_npu", "ios_cpu", "ios_gpu", "ios_ane", "browser_webgpu",
                 "browser_wasm", "microcontroller"]
Path = Literal["litert_tf", "litert_torch", "litert_micro", "executorch_xnnpack", "executorch_coreml",
               "executorch_qnn", "coreml", "tfjs", "onnxruntime_mobile", "onnxruntime_web"]
Recipe = Literal["fp32", "fp16", "dynamic_int8", "full_int8", "int4_weight_only"]
Op = Literal["conv2d", "depthwise_conv2d", "dense", "embedding", "layer_norm", "batch_norm", "attention", "activation",
             "gelu", "add", "mul", "concat", "pad", "pool", "global_pool", "reshape", "flatten", "dropout", "softmax",
             "resize", "gather", "transpose", "custom"]


class Layer(StrictModel):
    op: Op = Field(description="Layer type.")
    count: int = Field(default=1, ge=1, le=10_000, description="Identical layers.")
    units_in: int = Field(default=0, ge=0, le=10_000_000, description="In channels/features (embedding: vocab; norms, attention: width).")
    units_out: int = Field(default=0, ge=0, le=10_000_000, description="Out channels/features (attention: heads).")
    kernel: int = Field(default=1, ge=1, le=64, description="Square kernel (conv).")
    bias: bool = Field(default=True, description="Has bias.")


class EdgeModel(StrictModel):
    source: Source = Field(description="keras (tf_keras), saved_model, pytorch (torch.export).")
    preset: str | None = Field(default=None, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$",
                               description="mobilenet_v2 or a dense transformer of the model catalogue; else layers.")
    layers: list[Layer] = Field(default_factory=list, max_length=64, description="Layers (no preset).")
    input_shape: list[Annotated[int, Field(ge=1, le=1_000_000)]] = Field(default_factory=lambda: [1, 224, 224, 3], min_length=1, max_length=5,
                                   description="Input shape (NHWC keras, NCHW pytorch).")
    representative_samples: int = Field(default=0, ge=0, le=100_000,
                                        description="Calibration samples available (full_int8 needs >= 1).")


class PlanEdgeDeploymentRequest(StrictModel):
    model: EdgeModel = Field(description="Source and preset or layers.")
    targets: list[Target] = Field(min_length=1, max_length=4, description="Devices the artifact must run on.")
    accuracy_tolerance: float = Field(default=0.05, ge=1e-6, le=1.0,
                                      description="Accepted max|y-y_fp32|/max|y_fp32|.")
    size_budget_bytes: int | None = Field(default=None, ge=1024, le=10**12, description="Artifact budget, bytes.")
    path: Path | None = Field(default=None, description="Force a path.")
    recipe: Recipe | None = Field(default=None, description="Force a recipe.")
