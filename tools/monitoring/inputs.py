"""Inputs of design_model_monitoring."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ml_expert_mcp.tools.common.models import StrictModel
from ml_expert_mcp.tools.common.patterns import ROLE_ARN_PATTERN, S3_URI_PATTERN

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
FeatureType = Literal["numeric", "count", "categorical", "boolean"]


class MonitoredFeature(StrictModel):
    name: str = Field(pattern=NAME_PATTERN, max_length=63, description="Feature column name.")
    type: FeatureType = Field(description="count: integers >= 0.")
    categories: int = Field(default=20, ge=2, le=100_000, description="categorical: distinct values.")


class PerformanceMetric(StrictModel):
    name: str = Field(default="accuracy", pattern=NAME_PATTERN, max_length=63)
    kind: Literal["proportion", "mean"] = Field(
        default="proportion", description="proportion or mean loss.")
    baseline: float = Field(ge=-1e12, le=1e12, description="Validation value.")
    min_change: float = Field(ge=1e-9, le=1e12, description="Drop to detect.")
    per_example_std: float | None = Field(default=None, ge=1e-9, le=1e12, description="mean: per-row std.")
    higher_is_better: bool = Field(default=True)


class SageMakerMonitorSpec(StrictModel):
    endpoint_name: str = Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", max_length=63)
    role_arn: str = Field(pattern=ROLE_ARN_PATTERN, max_length=2048)
    s3_uri: str = Field(pattern=S3_URI_PATTERN, max_length=1024, description="Monitoring prefix.")
    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}-[a-z]+-\d$", max_length=20)
    problem_type: Literal["BinaryClassification", "MulticlassClassification", "Regression"] = "BinaryClassification"


class DesignMonitoringRequest(StrictModel):
    model_name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,46}[a-z0-9])?$", max_length=48, description="DNS label.")
    features: list[MonitoredFeature] = Field(min_length=1, max_length=200, description="Inputs to watch.")
    predictions_per_hour: float = Field(ge=0.01, le=1e10, description="Traffic.")
    sample_rate: float = Field(default=1.0, ge=1e-4, le=1, description="Fraction captured.")
    min_psi: float = Field(default=0.1, ge=0.001, le=2, description="Shift to catch (PSI).")
    power: float = Field(default=0.8, ge=0.05, lt=1, description="Per check.")
    false_alarm_rate: float = Field(default=0.01, ge=1e-6, le=0.2, description="Per check, whole model.")
    reference_size: int | None = Field(default=None, ge=10, le=10**10, description="Default 4x window.")
    min_window_hours: float = Field(default=1, ge=0.01, le=720, description="Shortest window.")
    label_delay_hours: float = Field(default=0, ge=0, le=8760, description="Until labels arrive.")
    label_fraction: float = Field(default=1.0, ge=1e-4, le=1, description="Share labelled.")
    performance: PerformanceMetric | None = Field(default=None, description="Metric on labels.")
    sagemaker: SageMakerMonitorSpec | None = Field(default=None, description="Emit Model Monitor requests.")
    pipeline_name: str = Field(default="retrain", pattern=r"^[a-zA-Z0-9-]{1,80}$", max_length=80, description="Pipeline to trigger.")
