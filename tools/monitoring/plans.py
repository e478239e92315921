"""Output of design_model_monitoring."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ml_expert_mcp.tools.common.models import StrictModel


class WindowPlan(StrictModel):
    sample_size: int = Field(description="Rows per check window (n).")
    reference_size: int = Field(description="Baseline rows (m).")
    window_hours: float
    checks_per_day: float
    alpha_per_feature: float = Field(description="False-alarm rate per feature per check (Bonferroni).")
    expected_false_alarms_per_day: float
    noncentrality: float = Field(description="Chi-squared noncentrality the power needs, per feature type.")
    why: list[str]


class FeatureCheck(StrictModel):
    name: str
    type: str
    statistic: str = Field(description="psi, chi_squared or jensen_shannon.")
    binning: str
    bins: int
    threshold: float = Field(description="Alarm when the statistic exceeds this (calibrated to alpha_per_feature).")
    power_at_min_psi: float
    ks_threshold: float | None = Field(description="numeric: two-sample KS level at the same alpha (cross-check, no alarm).")


class PerformancePlan(StrictModel):
    metric: str
    labels_per_window: int
    window_hours: float
    detection_delay_hours: float = Field(description="label delay + window: how late a drop is seen.")
    alarm_below: float | None
    alarm_above: float | None
    label_delay_handling: list[str]


class RetrainingTrigger(StrictModel):
    pipeline_tool: str = Field(description="Tool that designs the pipeline this trigger starts.")
    pipeline_name: str
    condition: str
    event: dict[str, Any] = Field(description="Payload the pipeline's trigger accepts.")
    delivery: list[str]


class MonitoringArtifacts(StrictModel):
    drift_job_py: str = Field(description="drift_job.py: numpy/scipy job, writes Prometheus text metrics.")
    drift_job_config: dict[str, Any] = Field(description="drift_config.json the job reads.")
    prometheus_rules: str = Field(description="Prometheus alerting rules YAML.")
    alertmanager_route: str = Field(description="Alertmanager receiver posting the trigger event.")
    sagemaker_requests: dict[str, Any] | None = Field(description="Operation -> request for the SageMaker API.")


class MonitoringDesign(StrictModel):
    summary: str
    caveats: list[str]
    window: WindowPlan
    features: list[FeatureCheck]
    performance: PerformancePlan | None
    retraining_trigger: RetrainingTrigger
    sources: list[str]
    artifacts: MonitoringArtifacts
