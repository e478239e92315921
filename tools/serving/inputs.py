"""Inputs of plan_tf_serving: the model and its versions, one replica's hardware, traffic, SLA, cost, deployment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ml_expert_mcp.tools.common.k8s import DNS_LABEL_PATTERN, IMAGE_TAG_PATTERN
from ml_expert_mcp.tools.common.models import StrictModel

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"  # safe in /v1/models/NAME URLs and metric labels
VERSION_LABEL_PATTERN = r"^[a-zA-Z0-9_]+$"  # TF Serving's rule for version labels
BYTES_PER_PARAM = {"fp32": 4, "fp16": 2, "bf16": 2}


class ServedVersion(StrictModel):
    version: int = Field(ge=1, le=2**62, description="SavedModel version directory number.")
    label: str | None = Field(default=None, max_length=64, pattern=VERSION_LABEL_PATTERN,
                              description="Version label, e.g. 'stable' or 'canary' ([a-zA-Z0-9_]+).")


class ServedModel(StrictModel):
    name: str = Field(max_length=256, pattern=MODEL_NAME_PATTERN, description="Model name in /v1/models/NAME (letters, digits, _ . -).")
    base_path: str = Field(min_length=1, max_length=1024,
                           description="Directory holding the numbered versions: local path, s3://, gs://.")
    versions: list[ServedVersion] = Field(default_factory=list, max_length=8,
                                          description="Versions to serve (policy 'specific'); empty = latest only.")
    variable_length_inputs: bool = Field(default=False, description="Inputs vary in length (text): pad when batching.")

    @model_validator(mode="after")
    def _unique(self) -> ServedModel:
        numbers = [v.version for v in self.versions]
        if len(set(numbers)) != len(numbers):
            raise ValueError("model.versions: each version may appear once")
        labels = [v.label for v in self.versions if v.label]
        if len(set(labels)) != len(labels):
            raise ValueError("model.versions: each label may name one version")
        return self


class ReplicaHardware(StrictModel):
    cpu_cores: int = Field(default=8, ge=1, le=256)
    memory_gib: float = Field(default=16.0, ge=0.1, le=4096, description="Memory per replica, GiB.")
    gpu: str | None = Field(max_length=256, default=None, description="GPU id from knowledge://gpus (one per replica); omit for CPU.")


class Traffic(StrictModel):
    peak_rps: float = Field(ge=0.001, le=1e7, description="Peak requests per second, all replicas.")
    average_rps: float | None = Field(default=None, ge=0.001, le=1e7, description="Average requests per second; default peak/3.")
    examples_per_request: int = Field(default=1, ge=1, le=4096, description="Examples (rows) in each request.")

    @model_validator(mode="after")
    def _order(self) -> Traffic:
        if self.average_rps is not None and self.average_rps > self.peak_rps:
            raise ValueError("traffic.average_rps: must not exceed traffic.peak_rps")
        return self


class LatencySLA(StrictModel):
    latency_ms: float = Field(ge=0.01, le=600_000, description="Server-side latency target, ms.")
    percentile: Literal["p95", "p99"] = Field(default="p95")


class LatencyPoint(StrictModel):
    batch_size: int = Field(ge=1, le=65536)
    latency_ms: float = Field(ge=0.001, le=600_000, description="Measured execution time of one batch, ms.")


class ModelCost(StrictModel):
    """A measured latency curve, or FLOPs and parameters to estimate one from the hardware catalogue."""

    measured: list[LatencyPoint] = Field(default_factory=list, max_length=16,
                                         description="Measured batch latencies on this replica's hardware.")
    flops_per_example: float | None = Field(default=None, ge=1, le=1e15, description="Forward FLOPs per example.")
    params: float | None = Field(default=None, ge=1, le=1e13)
    precision: Literal["fp32", "fp16", "bf16"] = Field(default="fp32", description="Serving precision (estimate only).")
    runtime: Literal["tensorflow", "tensorrt"] = Field(default="tensorflow", description="Execution runtime (estimate only): TF graph or TensorRT/TF-TRT engine.")
    family: Literal["cnn", "transformer"] | None = Field(default=None, description="Model family (estimate only); omit: the slower anchor.")

    @property
    def weight_bytes(self) -> float:
        """Bytes of weights at the serving precision (0 when only a measured curve is given)."""
        return (self.params or 0) * BYTES_PER_PARAM[self.precision]

    @model_validator(mode="after")
    def _one_source(self) -> ModelCost:
        if not self.measured and (self.flops_per_example is None or self.params is None):
            raise ValueError("cost: give measured latencies, or both flops_per_example and params")
        sizes = [p.batch_size for p in self.measured]
        if len(set(sizes)) != len(sizes):
            raise ValueError("cost.measured: one point per batch_size")
        return self


class Deployment(StrictModel):
    namespace: str = Field(max_length=256, default="serving", pattern=DNS_LABEL_PATTERN)
    image_tag: str = Field(max_length=2048, default="2.19.1", pattern=IMAGE_TAG_PATTERN, description="tensorflow/serving image tag.")
    tls: bool = Field(default=False, description="Serve gRPC with TLS (--ssl_config_file from a Secret).")
    min_replicas: int | None = Field(default=None, ge=1, le=1000, description="HPA minimum; default from average load, at least 2.")
    max_replicas: int | None = Field(default=None, ge=1, le=1000, description="HPA maximum; default 1.5x the peak count.")
    headroom: float = Field(default=0.25, ge=0, le=0.9, description="Share of SLA-bound capacity kept free at peak.")


class PlanTFServingRequest(StrictModel):
    model: ServedModel = Field(description="Model name, base path, versions and labels.")
    replica: ReplicaHardware = Field(default_factory=ReplicaHardware, description="Hardware of one replica.")
    traffic: Traffic = Field(description="Peak/average requests per second and examples per request.")
    sla: LatencySLA = Field(description="Latency target and percentile.")
    cost: ModelCost = Field(description="Measured batch latencies, or FLOPs and parameters.")
    deployment: Deployment = Field(default_factory=Deployment, description="Namespace, image, TLS, replica bounds.")

    @model_validator(mode="after")
    def _replica_bounds(self) -> PlanTFServingRequest:
        d = self.deployment
        if d.min_replicas is not None and d.max_replicas is not None and d.min_replicas > d.max_replicas:
            raise ValueError("deployment.min_replicas: must not exceed deployment.max_replicas")
        return self
