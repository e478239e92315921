"""Artifacts of design_model_monitoring: drift job and its config, Prometheus rules, Alertmanager route,
SageMaker Model Monitor requests (checked against botocore's model and the strict walk before they leave)."""

from __future__ import annotations

import math
from functools import cache
from importlib import resources
from typing import Any

import yaml

from ml_expert_mcp.tools.common.aws import require_valid
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.monitoring.facts import facts
from ml_expert_mcp.tools.monitoring.inputs import DesignMonitoringRequest
from ml_expert_mcp.tools.monitoring.plans import FeatureCheck, MonitoringArtifacts, PerformancePlan, WindowPlan

PIPELINE_TOOL = "design_ml_pipeline"
SCHEDULE_HOURS = (1, 2, 3, 4, 6, 8, 12, 24)


@cache
def drift_job_source() -> str:
    return resources.files("ml_expert_mcp.tools.monitoring").joinpath("drift_job.py").read_text(encoding="utf-8")


def trigger_event(req: DesignMonitoringRequest) -> dict[str, Any]:
    """The GitHub repository_dispatch body the pipeline's workflow listens for (event type 'drift-alert')."""
    return {"event_type": "drift-alert",
            "client_payload": {"source": "design_model_monitoring", "pipeline_tool": PIPELINE_TOOL,
                               "pipeline": req.pipeline_name, "model": req.model_name, "reason": "drift | performance",
                               "features": "<features whose alarm fired>", "window_end": "<RFC 3339 time>"}}


def _duration(hours: float) -> str:
    """A Prometheus duration, whole minutes, at least 1m."""
    return f"{max(1, math.ceil(hours * 60))}m"


def prometheus_rules(req: DesignMonitoringRequest, window: WindowPlan, perf: PerformancePlan | None) -> str:
    model = req.model_name
    sel = f'model="{model}"'
    rules: list[dict[str, Any]] = [
        {"alert": "FeatureDrift", "expr": f"max by (model, feature) (ml_drift_alarm{{{sel}}}) == 1",
         "labels": {"severity": "warning"},
         "annotations": {"summary": "Drift on {{ $labels.feature }} of {{ $labels.model }}",
                         "description": f"The drift statistic exceeded its threshold, calibrated to "
                                        f"{window.alpha_per_feature:.3g} false alarms per check."}},
        {"alert": "RetrainingTriggered", "expr": f"max by (model) (ml_drift_alarm{{{sel}}}) == 1",
         "for": _duration(window.window_hours),
         "labels": {"severity": "critical", "action": "retrain", "pipeline": req.pipeline_name,
                    "pipeline_tool": PIPELINE_TOOL, "reason": "drift"},
         "annotations": {"summary": "Drift alarm held over two consecutive windows on {{ $labels.model }}: start "
                                    f"pipeline {req.pipeline_name}"}},
        {"alert": "DriftJobStale",
         "expr": f"time() - max by (model) (ml_drift_job_last_success_timestamp_seconds{{{sel}}}) > "
                 f"{math.ceil(2 * window.window_hours * 3600)}",
         "for": "10m", "labels": {"severity": "warning"},
         "annotations": {"summary": "No drift check for two windows on {{ $labels.model }}"}},
    ]
    if perf is not None:
        op, level = ("<", perf.alarm_below) if perf.alarm_below is not None else (">", perf.alarm_above)
        metric_sel = f'model="{model}",metric="{perf.metric}"'
        rules.append({"alert": "ModelPerformanceDegraded",
                      "expr": f"max by (model, metric) (ml_model_metric{{{metric_sel}}}) {op} {level}",
                      "labels": {"severity": "critical", "action": "retrain", "pipeline": req.pipeline_name,
                                 "pipeline_tool": PIPELINE_TOOL, "reason": "performance"},
                      "annotations": {"summary": f"{perf.metric} of {{{{ $labels.model }}}} {op} {level} on "
                                                 f"{perf.labels_per_window} labels (window ending "
                                                 f"{req.label_delay_hours:g} h ago)"}})
    doc = {"groups": [{"name": f"ml-monitoring-{model}", "interval": "1m", "rules": rules}]}
    return str(yaml.safe_dump(doc, sort_keys=False, width=1000))


def alertmanager_route(req: DesignMonitoringRequest) -> str:
    doc = {"route": {"receiver": "default", "routes": [
        {"receiver": "retrain-pipeline", "matchers": ['action="retrain"', f'model="{req.model_name}"'],
         "group_by": ["model"], "repeat_interval": "24h"}]},
        "receivers": [{"name": "default"},
                      {"name": "retrain-pipeline", "webhook_configs": [
                          {"url": "http://pipeline-trigger.ml.svc:8080/v1/trigger", "send_resolved": False}]}]}
    return str(yaml.safe_dump(doc, sort_keys=False))


def _schedule(hours: float) -> tuple[str, int]:
    step = next((h for h in SCHEDULE_HOURS if h >= hours), 24)
    if step == 1:
        return "cron(0 * ? * * *)", 1
    if step == 24:
        return "cron(0 0 ? * * *)", 24
    return f"cron(0 0/{step} ? * * *)", step


def sagemaker_requests(req: DesignMonitoringRequest, window: WindowPlan,
                       perf: PerformancePlan | None) -> dict[str, Any]:
    sm = req.sagemaker
    assert sm is not None
    if sm.region not in facts().image_accounts:
        raise PlanInputError("sagemaker.region", f"no Model Monitor image known for {sm.region}; known: "
                             + ", ".join(sorted(facts().image_accounts)))
    image = f"{facts().image_accounts[sm.region]}.dkr.ecr.{sm.region}.amazonaws.com/sagemaker-model-monitor-analyzer"
    base = sm.s3_uri.rstrip("/")
    resources_ = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}}
    expression, step = _schedule(window.window_hours)
    name = req.model_name
    out: dict[str, Any] = {}
    out["CreateDataQualityJobDefinition"] = {
        "JobDefinitionName": f"{name}-data-quality",
        "DataQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": f"{base}/baseline/constraints.json"},
                                      "StatisticsResource": {"S3Uri": f"{base}/baseline/statistics.json"}},
        "DataQualityAppSpecification": {"ImageUri": image},
        "DataQualityJobInput": {"EndpointInput": {"EndpointName": sm.endpoint_name,
                                                  "LocalPath": "/opt/ml/processing/input/endpoint",
                                                  "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}},
        "DataQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
            "S3Uri": f"{base}/reports/data-quality", "LocalPath": "/opt/ml/processing/output",
            "S3UploadMode": "EndOfJob"}}]},
        "JobResources": resources_, "RoleArn": sm.role_arn,
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    out["CreateMonitoringSchedule:data-quality"] = {
        "MonitoringScheduleName": f"{name}-data-quality",
        "MonitoringScheduleConfig": {"ScheduleConfig": {"ScheduleExpression": expression},
                                     "MonitoringJobDefinitionName": f"{name}-data-quality",
                                     "MonitoringType": "DataQuality"}}
    if perf is not None:
        delay = math.ceil(req.label_delay_hours)
        span = max(step, math.ceil(perf.window_hours))
        endpoint_input: dict[str, Any] = {
            "EndpointName": sm.endpoint_name, "LocalPath": "/opt/ml/processing/input/endpoint",
            "InferenceAttribute": "prediction", "StartTimeOffset": f"-PT{delay + span}H",
            "EndTimeOffset": f"-PT{delay}H" if delay else "-PT0H"}
        if sm.problem_type == "BinaryClassification":
            endpoint_input.update({"ProbabilityAttribute": "probability", "ProbabilityThresholdAttribute": 0.5})
        out["CreateModelQualityJobDefinition"] = {
            "JobDefinitionName": f"{name}-model-quality",
            "ModelQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": f"{base}/baseline/model-quality-constraints.json"}},
            "ModelQualityAppSpecification": {"ImageUri": image, "ProblemType": sm.problem_type},
            "ModelQualityJobInput": {"EndpointInput": endpoint_input,
                                     "GroundTruthS3Input": {"S3Uri": f"{base}/ground-truth"}},
            "ModelQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": f"{base}/reports/model-quality", "LocalPath": "/opt/ml/processing/output",
                "S3UploadMode": "EndOfJob"}}]},
            "JobResources": resources_, "RoleArn": sm.role_arn,
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        }
        out["CreateMonitoringSchedule:model-quality"] = {
            "MonitoringScheduleName": f"{name}-model-quality",
            "MonitoringScheduleConfig": {"ScheduleConfig": {"ScheduleExpression": expression},
                                         "MonitoringJobDefinitionName": f"{name}-model-quality",
                                         "MonitoringType": "ModelQuality"}}
    for key, params in out.items():
        require_valid("sagemaker", key.split(":")[0], params, "sagemaker")
    return out


def build(req: DesignMonitoringRequest, window: WindowPlan, features: list[FeatureCheck],
          perf: PerformancePlan | None) -> MonitoringArtifacts:
    config = {"model": req.model_name, "alpha_per_feature": window.alpha_per_feature,
              "features": [{"name": f.name, "type": f.type, "statistic": f.statistic, "bins": f.bins}
                           for f in features]}
    return MonitoringArtifacts(
        drift_job_py=drift_job_source(), drift_job_config=config,
        prometheus_rules=prometheus_rules(req, window, perf), alertmanager_route=alertmanager_route(req),
        sagemaker_requests=sagemaker_requests(req, window, perf) if req.sagemaker else None)
