"""plan_sagemaker_endpoint: instance type and count for a latency SLA, the hosting requests and autoscaling.

Capacity per instance comes from the same queueing model as TF Serving (`ml_expert_mcp.tools.serving.latency`), with no
server-side batching: each GPU (or the whole CPU instance) serves one request at a time. The target for
SageMakerVariantInvocationsPerInstance (a per-minute metric) is that capacity x (1 - headroom) x 60.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from ml_expert_mcp.knowledge import InstanceType, gpu_catalog, instance_catalog, latency_anchors
from ml_expert_mcp.tools.common.aws import require_valid
from ml_expert_mcp.tools.common.bounded import ShortStr
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.models import Plan, StrictModel
from ml_expert_mcp.tools.common.patterns import IMAGE_URI_PATTERN, S3_URI_PATTERN
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.sagemaker.inputs import (
    JOB_NAME_PATTERN,
    AwsPlacement,
    require_priced_region,
)
from ml_expert_mcp.tools.sagemaker.llm_endpoint import EndpointLlm, LlmEndpointFigures, plan_llm_endpoint
from ml_expert_mcp.tools.serving.inputs import LatencySLA, ModelCost
from ml_expert_mcp.tools.serving.latency import LatencyCurve, capacity, cost_curve, operating_point

__all__ = ["PlanSageMakerEndpointRequest", "SageMakerEndpointPlan", "plan_sagemaker_endpoint"]

SERVERLESS_MAX_AVERAGE_RPS = 0.5  # sparse traffic: idle most of the time, so paying per request wins
SERVERLESS_MAX_CONCURRENCY = 200
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_VCPUS = 2  # assumed CPU share of a serverless invocation (AWS scales CPU with memory, unpublished)
SERVERLESS_CONCURRENCY_QUANTILE = 0.99  # MaxConcurrency covers the 99th percentile of requests in flight at peak
# us-east-1 prices (https://aws.amazon.com/sagemaker/pricing/, Serverless Inference, read 2026-11-27):
SERVERLESS_USD_PER_GB_SECOND = 0.0000200  # compute, per GB of configured memory per second of processing
SERVERLESS_USD_PER_GB_DATA = 0.016  # data processed in and out
HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
SCALE_IN_COOLDOWN_S = 300
SCALE_OUT_COOLDOWN_S = 60
ASYNC_SCALE_IN_COOLDOWN_S = 600


class EndpointTraffic(StrictModel):
    peak_rps: float = Field(ge=0.001, le=1e6)
    average_rps: float = Field(ge=0.001, le=1e6)
    payload_kb: float = Field(default=10, ge=0.001, le=6144, description="Request payload, KB (real-time limit 6 MB).")

    @model_validator(mode="after")
    def _order(self) -> EndpointTraffic:
        if self.average_rps > self.peak_rps:
            raise ValueError("traffic.average_rps: must not exceed traffic.peak_rps")
        return self


class EndpointOptions(StrictModel):
    serverless: Literal["auto", "never", "always"] = Field(default="auto", description="auto: serverless when traffic is sparse.")
    multi_model: bool = Field(default=False, description="Multi-model endpoint (model_data_url is a prefix of model.tar.gz files).")
    async_output_s3_uri: str | None = Field(max_length=2048, default=None, pattern=S3_URI_PATTERN, description="Async inference: where results go.")
    data_capture_s3_uri: str | None = Field(max_length=2048, default=None, pattern=S3_URI_PATTERN, description="Capture requests/responses here.")
    capture_percent: int = Field(default=20, ge=1, le=100)
    headroom: float = Field(default=0.3, ge=0, le=0.9, description="Share of SLA capacity kept free at peak.")
    min_instances: int = Field(default=2, ge=0, le=100, description="Floor (2 spreads over availability zones; async default 0, real-time at least 1).")
    instance_type: str | None = Field(max_length=256, default=None, description="Force an instance type (the measured latency's).")


class PlanSageMakerEndpointRequest(StrictModel):
    name: str = Field(max_length=256, pattern=JOB_NAME_PATTERN, description="Base name for model, endpoint config and endpoint.")
    image_uri: str = Field(max_length=2048, pattern=IMAGE_URI_PATTERN, description="Inference container image in ECR.")
    model_data_url: str = Field(max_length=2048, pattern=S3_URI_PATTERN, description="model.tar.gz on S3 (prefix for multi-model).")
    aws: AwsPlacement = Field(description="Region, role, KMS, VPC, isolation.")
    traffic: EndpointTraffic = Field(description="Peak/average invocations per second, payload size.")
    sla: LatencySLA | None = Field(default=None, description="Latency target and percentile (not for llm).")
    cost: ModelCost | None = Field(default=None, description="Measured latency on options.instance_type, or FLOPs and parameters (not for llm).")
    llm: EndpointLlm | None = Field(default=None, description="An LLM on the LMI (vLLM) container: sized by tokens, KV cache, TTFT/TPOT.")
    options: EndpointOptions = Field(default_factory=EndpointOptions, description="Serverless, multi-model, async, capture.")
    environment: dict[ShortStr, ShortStr] = Field(default_factory=dict, max_length=50, description="Container environment.")

    @model_validator(mode="after")
    def _sized(self) -> PlanSageMakerEndpointRequest:
        if self.llm is None and (self.sla is None or self.cost is None):
            raise ValueError("sla and cost: required unless llm is given")
        return self


class EndpointCandidate(BaseModel):
    instance_type: str
    instances_at_peak: int | None
    usd_per_hour_at_peak: float | None
    sla_capacity_rps_per_instance: float | None
    rejected: str | None


class SageMakerEndpointPlan(Plan):
    def headline(self) -> str:
        where = f"{self.instance_type} x {self.instances_at_peak} at peak" if self.instance_type else self.kind
        cost = f", ${self.usd_per_month_at_average:,.0f}/month at the average load" if self.usd_per_month_at_average else ""
        latency = (f", predicted {self.predicted_latency_ms_at_peak:.0f} ms at peak"
                   if self.predicted_latency_ms_at_peak is not None else "")
        if self.llm is not None and self.predicted_latency_ms_at_peak is not None:
            latency = (f", predicted TTFT p95 {self.llm.ttft_p95_ms:.0f} ms and TPOT p95 {self.llm.tpot_p95_ms:.1f} ms "
                       f"at peak ({self.predicted_latency_ms_at_peak:.0f} ms per whole response)")
        return f"{self.kind} endpoint: {where}{latency}{cost}."

    kind: str = Field(description="real-time, serverless or async.")
    instance_type: str | None
    initial_instances: int | None
    instances_at_peak: int | None
    max_instances: int | None
    sla_capacity_rps_per_instance: float | None = Field(description="Invocations/s per instance within the SLA.")
    predicted_latency_ms_at_peak: float | None
    invocations_per_instance_target: float | None = Field(description="Target tracking value: invocations per instance per minute (real-time) or queued requests per instance (async backlog).")
    usd_per_hour_at_peak: float | None
    usd_per_month_at_average: float | None = Field(description="Instances: 730 h at the count the average load needs (floor applied); serverless: compute + data at the average rate.")
    serverless_max_concurrency: int | None = Field(default=None, description="Serverless MaxConcurrency from the peak rate (M/G/inf, 99th percentile).")
    costs: list[str] = Field(default_factory=list, description="Every choice with its price.")
    candidates: list[EndpointCandidate]
    create_model: dict[str, Any]
    create_endpoint_config: dict[str, Any]
    create_endpoint: dict[str, Any]
    register_scalable_target: dict[str, Any] | None
    put_scaling_policy: dict[str, Any] | None
    extra_scaling_policies: list[dict[str, Any]] = Field(default_factory=list, description="More PutScalingPolicy requests (async scale-from-zero).")
    reasoning: list[str]
    llm: LlmEndpointFigures | None = None


def _candidates(req: PlanSageMakerEndpointRequest) -> list[InstanceType]:
    hosting = [i for i in instance_catalog().values() if i.hosting]
    forced = req.options.instance_type
    if forced:
        match = [i for i in hosting if i.id == forced]
        if not match:
            raise PlanInputError("options.instance_type", f"{forced!r} is not a hosting type we price; accepted: "
                                 + ", ".join(i.id for i in hosting))
        return match
    if req.cost is not None and req.cost.measured:
        raise PlanInputError("options.instance_type", "a measured latency holds for one instance type: name it")
    return hosting


def instance_capacity(curve: LatencyCurve, inst: InstanceType, p: float, sla_s: float) -> float:
    """Invocations/s one instance serves within the SLA: one model server per GPU (or one per CPU instance), each
    an M/D/1 queue without server-side batching. The seam where LLM endpoints will call plan_llm_serving instead."""
    return capacity(curve, 1, 0.0, (), 1, p, sla_s) * max(1, inst.gpu_count)


def _min_instances(req: PlanSageMakerEndpointRequest, kind: str) -> int:
    """Async endpoints may scale to 0 (default 0); real-time keeps at least 1 (default 2, two zones)."""
    asked = req.options.min_instances if "min_instances" in req.options.model_fields_set else None
    if kind == "async":
        return 0 if asked is None else asked
    return max(1, asked if asked is not None else 2)


def _poisson_quantile(mean: float, q: float) -> int:
    """Smallest c with P(N <= c) >= q for N ~ Poisson(mean): requests in flight in an M/G/inf system."""
    term = total = math.exp(-mean)
    c = 0
    while total < q and c < 10_000:
        c += 1
        term *= mean / c
        total += term
    return c


def _serverless(req: PlanSageMakerEndpointRequest, variant: dict[str, Any], reasoning: list[str],
                costs: list[str]) -> tuple[int, float]:
    """MemorySizeInMB from the weights, MaxConcurrency from the peak, and the monthly cost at the average."""
    assert req.cost is not None
    weights_mb = req.cost.weight_bytes / 2**20
    memory = next((m for m in SERVERLESS_MEMORY_MB if m >= 2 * weights_mb + 512), SERVERLESS_MEMORY_MB[-1])
    curve, _ = cost_curve(req.cost, SERVERLESS_VCPUS, None)
    service_s = curve.at(1)
    concurrency = min(SERVERLESS_MAX_CONCURRENCY,
                      max(1, _poisson_quantile(req.traffic.peak_rps * service_s, SERVERLESS_CONCURRENCY_QUANTILE)))
    variant["ServerlessConfig"] = {"MemorySizeInMB": memory, "MaxConcurrency": concurrency}
    compute = req.traffic.average_rps * SECONDS_PER_MONTH * service_s * memory / 1024 * SERVERLESS_USD_PER_GB_SECOND
    data = req.traffic.average_rps * SECONDS_PER_MONTH * 2 * req.traffic.payload_kb / 1e6 * SERVERLESS_USD_PER_GB_DATA
    monthly = compute + data
    reasoning.append(f"serverless: {memory} MB (2 x {weights_mb:.0f} MB of weights + 512 MB); MaxConcurrency "
                     f"{concurrency}: at the {req.traffic.peak_rps:g} rps peak x {service_s * 1e3:.0f} ms per request "
                     f"({SERVERLESS_VCPUS} vCPUs assumed) the 99th percentile of requests in flight (Poisson)")
    costs.append(f"serverless: ${compute:,.2f}/month compute ({req.traffic.average_rps:g} rps x "
                 f"{service_s * 1e3:.0f} ms x {memory / 1024:g} GB x ${SERVERLESS_USD_PER_GB_SECOND}/GB-s) + "
                 f"${data:,.2f} data (${SERVERLESS_USD_PER_GB_DATA}/GB in and out), us-east-1 prices")
    return concurrency, monthly



def invocation_scaling(endpoint_name: str, min_capacity: int, max_capacity: int,
                       target: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """RegisterScalableTarget and a target-tracking PutScalingPolicy on invocations per instance."""
    resource_id = f"endpoint/{endpoint_name}/variant/AllTraffic"
    scalable = {"ServiceNamespace": "sagemaker", "ResourceId": resource_id,
                "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                "MinCapacity": min_capacity, "MaxCapacity": max_capacity}
    policy = {"PolicyName": f"{endpoint_name}-invocations-target"[:256], "ServiceNamespace": "sagemaker",
              "ResourceId": resource_id, "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
              "PolicyType": "TargetTrackingScaling",
              "TargetTrackingScalingPolicyConfiguration": {
                  "TargetValue": target,
                  "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                  "ScaleInCooldown": SCALE_IN_COOLDOWN_S, "ScaleOutCooldown": SCALE_OUT_COOLDOWN_S}}
    return scalable, policy

@tool("Plan a SageMaker endpoint")
def plan_sagemaker_endpoint(req: PlanSageMakerEndpointRequest) -> SageMakerEndpointPlan:
    """Instance type and count for a latency SLA (or serverless/async), with CreateModel, CreateEndpointConfig,
    CreateEndpoint and autoscaling requests.
    """
    # Cheapest instance type/count meeting the SLA (or serverless), requests validated by botocore.
    require_priced_region(req.aws.region)
    if req.llm is not None:
        return plan_llm_endpoint(req)
    assert req.sla is not None and req.cost is not None
    o = req.options
    p = 0.95 if req.sla.percentile == "p95" else 0.99
    sla_s = req.sla.latency_ms / 1000
    reasoning: list[str] = []
    costs: list[str] = []
    candidates: list[EndpointCandidate] = []
    floor = _min_instances(req, "async" if o.async_output_s3_uri else "real-time")
    if not req.cost.measured:
        band = max(a.error_factor for a in latency_anchors().values())
        reasoning.append("latency is an ESTIMATE from FLOPs and parameters (knowledge/serving_latency.toml anchors, "
                         f"expected error up to {band:g}x), planned at its slow end: measure on the instance type and "
                         "pass cost.measured with options.instance_type")
    best: tuple[float, InstanceType, int, float, LatencyCurve] | None = None
    for inst in _candidates(req):
        curve, _ = cost_curve(req.cost, inst.vcpus, gpu_catalog()[inst.gpu] if inst.gpu else None)
        weights_gib = req.cost.weight_bytes / 2**30
        device_gib = gpu_catalog()[inst.gpu].usable_memory_gib if inst.gpu else inst.memory_gib * 0.5
        if weights_gib > device_gib * 0.9:
            candidates.append(EndpointCandidate(instance_type=inst.id, instances_at_peak=None, usd_per_hour_at_peak=None,
                                                sla_capacity_rps_per_instance=None,
                                                rejected=f"weights {weights_gib:.1f} GiB do not fit in {device_gib:.1f} GiB"))
            continue
        cap = instance_capacity(curve, inst, p, sla_s)
        if cap <= 0:
            candidates.append(EndpointCandidate(instance_type=inst.id, instances_at_peak=None, usd_per_hour_at_peak=None,
                                                sla_capacity_rps_per_instance=0.0,
                                                rejected=f"one request takes {curve.at(1) * 1e3:.1f} ms, over the SLA"))
            continue
        count = max(floor, math.ceil(req.traffic.peak_rps / (cap * (1 - o.headroom)) - 1e-9))
        price = (inst.hosting_usd_per_hour or 0) * count
        candidates.append(EndpointCandidate(instance_type=inst.id, instances_at_peak=count,
                                            usd_per_hour_at_peak=round(price, 3),
                                            sla_capacity_rps_per_instance=round(cap, 3), rejected=None))
        if best is None or (price, inst.id) < (best[0], best[1].id):
            best = (price, inst, count, cap, curve)
    candidates.sort(key=lambda c: (c.usd_per_hour_at_peak is None, c.usd_per_hour_at_peak or 0, c.instance_type))
    serverless = o.serverless == "always" or (
        o.serverless == "auto" and req.traffic.average_rps <= SERVERLESS_MAX_AVERAGE_RPS and not o.async_output_s3_uri
        and not o.multi_model and (best is None or best[1].gpu is None))
    kind = "async" if o.async_output_s3_uri else ("serverless" if serverless else "real-time")
    if best is None and kind == "real-time":
        raise PlanInputError("sla.latency_ms", "no instance type meets the SLA for one request: "
                             + "; ".join(f"{c.instance_type}: {c.rejected}" for c in candidates[:4]))
    model_name, config_name, endpoint_name = req.name, f"{req.name}-config"[:63], req.name
    container: dict[str, Any] = {"Image": req.image_uri, "ModelDataUrl": req.model_data_url,
                                 "Environment": dict(req.environment)}
    if o.multi_model:
        container["Mode"] = "MultiModel"
    create_model: dict[str, Any] = {"ModelName": model_name, "ExecutionRoleArn": req.aws.role_arn,
                                    "PrimaryContainer": container, "EnableNetworkIsolation": req.aws.network_isolation}
    vpc = req.aws.vpc_config()
    if vpc:
        create_model["VpcConfig"] = vpc
    variant: dict[str, Any] = {"VariantName": "AllTraffic", "ModelName": model_name}
    config: dict[str, Any] = {"EndpointConfigName": config_name, "ProductionVariants": [variant]}
    scalable = policy = None
    extra_policies: list[dict[str, Any]] = []
    inst_type = initial = at_peak = max_inst = None
    cap_out = latency_out = target = hourly = monthly = None
    concurrency = None
    if best is not None:
        b_price, b_inst, b_count, _, _ = best
        costs.append(f"instances ({b_inst.id}): ${b_price:,.2f}/h at the peak ({b_count} x "
                     f"${b_inst.hosting_usd_per_hour}/h)")
    if kind == "serverless":
        concurrency, serverless_month = _serverless(req, variant, reasoning, costs)
        monthly = round(serverless_month, 2)
        reasoning.append(f"serverless: average {req.traffic.average_rps:g} rps <= {SERVERLESS_MAX_AVERAGE_RPS} rps, so "
                         "instances would idle; cold starts (seconds) fall outside the SLA on the first requests")
        if best is not None:
            idle = max(1, _min_instances(req, "real-time")) * (best[1].hosting_usd_per_hour or 0) * HOURS_PER_MONTH
            costs.append(f"the real-time alternative would cost at least ${idle:,.0f}/month at its floor")
    else:
        assert best is not None
        price, inst, count, cap, curve = best
        planned = cap * (1 - o.headroom)
        avg_count = max(floor, math.ceil(req.traffic.average_rps / planned - 1e-9))
        max_inst = max(count, math.ceil(count * 1.5))
        point = operating_point(curve, 1, 0.0, (), 1, req.traffic.peak_rps / count / max(1, inst.gpu_count), p)
        inst_type, initial, at_peak, cap_out = inst.id, avg_count, count, round(cap, 3)
        latency_out = round(point.latency_s * 1e3, 3)
        target = round(planned * 60, 1)
        hourly = round(price, 3)
        monthly = round(avg_count * (inst.hosting_usd_per_hour or 0) * HOURS_PER_MONTH, 2)
        costs.append(f"{kind}: ${monthly:,.2f}/month at the average load ({avg_count} x {inst.id} x "
                     f"${inst.hosting_usd_per_hour}/h x {HOURS_PER_MONTH} h)"
                     + (", 0 instances (and $0) while the queue is empty" if kind == "async" and floor == 0 else ""))
        variant.update({"InstanceType": inst.id, "InitialInstanceCount": max(1, avg_count),
                        "InitialVariantWeight": 1.0})
        scalable, policy = invocation_scaling(endpoint_name, floor if kind == "async" else max(floor, avg_count),
                                              max_inst, target)
        resource_id = scalable["ResourceId"]
        reasoning += [
            f"{inst.id}: {cap:.1f} invocations/s per instance within the {req.sla.percentile} {req.sla.latency_ms:g} ms "
            f"SLA ({max(1, inst.gpu_count)} model server(s), t(1) = {curve.at(1) * 1e3:.2f} ms, M/D/1 queue)",
            f"planned at {1 - o.headroom:.0%} of that: {planned:.1f}/s, so {count} instances at the {req.traffic.peak_rps:g} "
            f"rps peak and {avg_count} at the average; target tracking at {target:g} invocations per instance per minute",
            f"cooldowns: scale out after {SCALE_OUT_COOLDOWN_S} s, in after {SCALE_IN_COOLDOWN_S} s (slow in, fast out)",
        ]
        if kind == "async":
            config["AsyncInferenceConfig"] = {"OutputConfig": {"S3OutputPath": o.async_output_s3_uri},
                                              "ClientConfig": {"MaxConcurrentInvocationsPerInstance": max(1, inst.gpu_count) * 2}}
            # Backlog-based scaling (the AWS pattern for async): queued requests per instance, Little's law on the
            # SLA (a backlog of planned x SLA requests drains within the SLA); minimum 0 when nothing waits.
            target = round(max(1.0, planned * sla_s), 1)
            policy = {"PolicyName": f"{endpoint_name}-backlog-target"[:256], "ServiceNamespace": "sagemaker",
                      "ResourceId": resource_id, "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                      "PolicyType": "TargetTrackingScaling",
                      "TargetTrackingScalingPolicyConfiguration": {
                          "TargetValue": target,
                          "CustomizedMetricSpecification": {
                              "MetricName": "ApproximateBacklogSizePerInstance", "Namespace": "AWS/SageMaker",
                              "Dimensions": [{"Name": "EndpointName", "Value": endpoint_name}],
                              "Statistic": "Average"},
                          "ScaleInCooldown": ASYNC_SCALE_IN_COOLDOWN_S, "ScaleOutCooldown": SCALE_OUT_COOLDOWN_S}}
            reasoning[-2] = (f"planned at {1 - o.headroom:.0%} of that: {planned:.1f}/s per instance; target tracking "
                             f"on ApproximateBacklogSizePerInstance at {target:g} queued requests per instance "
                             f"(= {planned:.1f}/s x the {sla_s:g} s SLA, Little's law)")
            if floor == 0:
                scale_from_zero = {
                    "PolicyName": f"{endpoint_name}-scale-from-zero"[:256], "ServiceNamespace": "sagemaker",
                    "ResourceId": resource_id, "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                    "PolicyType": "StepScaling",
                    "StepScalingPolicyConfiguration": {
                        "AdjustmentType": "ChangeInCapacity", "MetricAggregationType": "Average",
                        "Cooldown": SCALE_OUT_COOLDOWN_S,
                        "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]}}
                require_valid("application-autoscaling", "PutScalingPolicy", scale_from_zero, "options")
                extra_policies.append(scale_from_zero)
                reasoning.append("minimum 0 instances: the backlog target cannot scale out from zero, so a step "
                                 "policy adds one instance; attach it to a CloudWatch alarm on HasBacklogWithoutCapacity "
                                 ">= 1 (AWS/SageMaker, EndpointName) with the policy ARN PutScalingPolicy returns")
            reasoning.append("async inference: requests queue in SageMaker and results land in S3")
    if o.data_capture_s3_uri:
        config["DataCaptureConfig"] = {"EnableCapture": True, "InitialSamplingPercentage": o.capture_percent,
                                       "DestinationS3Uri": o.data_capture_s3_uri,
                                       "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
        if req.aws.kms_key_id:
            config["DataCaptureConfig"]["KmsKeyId"] = req.aws.kms_key_id
    if req.aws.kms_key_id and kind != "serverless" and not instance_catalog()[inst_type or ""].local_nvme:
        config["KmsKeyId"] = req.aws.kms_key_id
    endpoint = {"EndpointName": endpoint_name, "EndpointConfigName": config_name}
    require_valid("sagemaker", "CreateModel", create_model, "name")
    require_valid("sagemaker", "CreateEndpointConfig", config, "options")
    require_valid("sagemaker", "CreateEndpoint", endpoint, "name")
    if scalable is not None and policy is not None:
        require_valid("application-autoscaling", "RegisterScalableTarget", scalable, "options")
        require_valid("application-autoscaling", "PutScalingPolicy", policy, "options")
    return SageMakerEndpointPlan(
        kind=kind, instance_type=inst_type, initial_instances=initial, instances_at_peak=at_peak,
        max_instances=max_inst, sla_capacity_rps_per_instance=cap_out, predicted_latency_ms_at_peak=latency_out,
        invocations_per_instance_target=target, usd_per_hour_at_peak=hourly, usd_per_month_at_average=monthly,
        serverless_max_concurrency=concurrency, costs=costs, extra_scaling_policies=extra_policies,
        candidates=candidates[:10], create_model=create_model, create_endpoint_config=config,
        create_endpoint=endpoint, register_scalable_target=scalable, put_scaling_policy=policy, reasoning=reasoning)
