"""LLM endpoints for plan_sagemaker_endpoint: sized by tokens, KV cache and TTFT/TPOT on the LMI (vLLM) container.

Each GPU hosting instance type runs one vLLM engine over all its GPUs (LMI's TENSOR_PARALLEL_DEGREE = GPU count).
plan_llm_serving's model gives that engine's KV cache (as vLLM logs it) and the highest request rate it sustains
within the p95 TTFT/TPOT targets under continuous batching; the instance count and the autoscaling target follow from
that rate as they do for other endpoints.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ml_expert_mcp.knowledge import InstanceType, gpu_catalog, instance_catalog
from ml_expert_mcp.tools.common.aws import require_valid
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.models import StrictModel
from ml_expert_mcp.tools.serving import llm_memory as mem
from ml_expert_mcp.tools.serving.llm_artifacts import lmi_environment
from ml_expert_mcp.tools.serving.llm_inputs import (
    EngineConfig,
    KvDtype,
    LlmModel,
    PlanLlmServingRequest,
    Tokens,
    WeightFormat,
    Workload,
)
from ml_expert_mcp.tools.serving.llm_latency import LoadPoint, at_rate, max_rate
from ml_expert_mcp.tools.serving.llm_serving import Evaluation, _max_model_len, evaluate

if TYPE_CHECKING:
    from ml_expert_mcp.tools.sagemaker.endpoint import PlanSageMakerEndpointRequest, SageMakerEndpointPlan

LMI_TIMEOUT_S = 1800  # weights download and engine start-up (profile run, CUDA graphs) of a large model


class EndpointLlm(StrictModel):
    model: LlmModel = Field(description="preset or config.json fields")
    weight_format: WeightFormat = Field(default="bf16", description="weights")
    kv_cache_dtype: KvDtype = Field(default="auto", description="KV cache")
    input_tokens: Tokens = Field(description="mean prompt tokens")
    output_tokens: Tokens = Field(description="mean output tokens")
    input_tokens_p95: Tokens | None = None
    ttft_p95_ms: float | None = Field(default=None, gt=0, le=1e6)
    tpot_p95_ms: float | None = Field(default=None, gt=0, le=1e6)


class LlmEndpointFigures(BaseModel):
    tensor_parallel: int
    max_model_len: int
    kv_cache_tokens: int = Field(description="Per instance, as vLLM logs 'GPU KV cache size'.")
    kv_bytes_per_token: int
    max_concurrent_sequences: float = Field(description="Of max_model_len tokens.")
    ttft_p95_ms: float = Field(description="At the peak share of one instance.")
    tpot_p95_ms: float
    output_tokens_per_s: float = Field(description="Per instance at its peak share.")


LLM_MAX_RPS = 1e5  # plan_llm_serving's workload.requests_per_s bound


def _serving_request(llm: EndpointLlm, gpu: str, rate: float) -> PlanLlmServingRequest:
    return PlanLlmServingRequest(
        model=llm.model, weight_format=llm.weight_format, kv_cache_dtype=llm.kv_cache_dtype, engine="vllm", gpu=gpu,
        workload=Workload(mode="rate", requests_per_s=rate, input_tokens=llm.input_tokens,
                          output_tokens=llm.output_tokens, input_tokens_p95=llm.input_tokens_p95,
                          ttft_p95_ms=llm.ttft_p95_ms, tpot_p95_ms=llm.tpot_p95_ms))


def llm_capacity(llm: EndpointLlm, inst: InstanceType, rate: float) -> tuple[float, Evaluation | None, str]:
    """Requests/s one instance sustains within the p95 TTFT/TPOT targets (0 with the reason when it cannot serve)."""
    assert inst.gpu is not None
    sreq = _serving_request(llm, inst.gpu, rate)
    arch = mem.resolve_arch(llm.model)
    mml = _max_model_len(sreq, arch)
    tp = inst.gpu_count
    try:
        ev = evaluate(sreq, arch, gpu_catalog()[inst.gpu], EngineConfig(tensor_parallel=tp), mml, sreq.workload)
    except PlanInputError as err:
        if err.field != "config.tensor_parallel":
            raise
        return 0.0, None, f"TP{tp} over its {tp} GPUs: {err}"
    if ev.budget.available_gib <= 0:
        return 0.0, ev, f"weights {ev.budget.weights_gib:.1f} GiB/GPU leave no KV cache on {tp} x {inst.gpu}"
    if ev.max_concurrency < 1:
        return 0.0, ev, f"KV cache {ev.kv.tokens:,} tokens < max_model_len {mml:,}: vLLM refuses to start"
    in_p95 = llm.input_tokens_p95 or llm.input_tokens
    best = max_rate(ev.replica, llm.input_tokens, llm.output_tokens, in_p95, ev.settings.max_num_seqs, ev.kv_seqs,
                    ev.chunk, llm.ttft_p95_ms / 1e3 if llm.ttft_p95_ms else None,
                    llm.tpot_p95_ms / 1e3 if llm.tpot_p95_ms else None)
    if best is None:
        return 0.0, ev, "misses the TTFT/TPOT targets even idle"
    return best.requests_per_s, ev, ""


def _load(llm: EndpointLlm, ev: Evaluation, rate: float) -> LoadPoint:
    return at_rate(ev.replica, rate, llm.input_tokens, llm.output_tokens, llm.input_tokens_p95 or llm.input_tokens,
                   ev.settings.max_num_seqs, ev.kv_seqs, ev.chunk)


def plan_llm_endpoint(req: PlanSageMakerEndpointRequest) -> SageMakerEndpointPlan:
    from ml_expert_mcp.tools.sagemaker import endpoint as ep

    llm, o = req.llm, req.options
    assert llm is not None
    for field, bad, why in (("options.serverless", o.serverless == "always", "serverless endpoints have no GPU"),
                            ("options.multi_model", o.multi_model, "multi-model endpoints do not host LMI engines"),
                            ("options.async_output_s3_uri", o.async_output_s3_uri is not None,
                             "LLM endpoints are planned real-time")):
        if bad:
            raise PlanInputError(field, f"{why}; remove it for an LLM endpoint")
    if req.traffic.peak_rps > LLM_MAX_RPS:
        raise PlanInputError("traffic.peak_rps", f"at most {LLM_MAX_RPS:,.0f} requests/s for an LLM endpoint "
                             "(the LLM serving planner's range)")
    hosting = [i for i in instance_catalog().values() if i.hosting and i.gpu]
    if o.instance_type:
        hosting = [i for i in hosting if i.id == o.instance_type]
        if not hosting:
            raise PlanInputError("options.instance_type", f"{o.instance_type!r} is not a GPU hosting type we price")
    floor = max(1, o.min_instances if "min_instances" in o.model_fields_set else 2)
    candidates: list[Any] = []
    best: tuple[float, InstanceType, int, float, Evaluation] | None = None
    for inst in hosting:
        cap, ev, why = llm_capacity(llm, inst, req.traffic.peak_rps)
        if cap <= 0 or ev is None:
            candidates.append(ep.EndpointCandidate(instance_type=inst.id, instances_at_peak=None,
                                                   usd_per_hour_at_peak=None, sla_capacity_rps_per_instance=None,
                                                   rejected=why))
            continue
        count = max(floor, math.ceil(req.traffic.peak_rps / (cap * (1 - o.headroom)) - 1e-9))
        price = (inst.hosting_usd_per_hour or 0) * count
        candidates.append(ep.EndpointCandidate(instance_type=inst.id, instances_at_peak=count,
                                               usd_per_hour_at_peak=round(price, 3),
                                               sla_capacity_rps_per_instance=round(cap, 3), rejected=None))
        if best is None or (price, inst.id) < (best[0], best[1].id):
            best = (price, inst, count, cap, ev)
    candidates.sort(key=lambda c: (c.usd_per_hour_at_peak is None, c.usd_per_hour_at_peak or 0, c.instance_type))
    if best is None:
        raise PlanInputError("llm.ttft_p95_ms", "no GPU instance type serves this LLM within the targets: "
                             + "; ".join(f"{c.instance_type}: {c.rejected}" for c in candidates[:4]))
    price, inst, count, cap, ev = best
    planned = cap * (1 - o.headroom)
    avg_count = max(floor, math.ceil(req.traffic.average_rps / planned - 1e-9))
    max_inst = max(count, math.ceil(count * 1.5))
    point = _load(llm, ev, req.traffic.peak_rps / count)
    target = round(planned * 60, 1)
    monthly = round(avg_count * (inst.hosting_usd_per_hour or 0) * ep.HOURS_PER_MONTH, 2)
    s = ev.settings
    env = {**lmi_environment(ev), **req.environment}
    container: dict[str, Any] = {"Image": req.image_uri, "ModelDataUrl": req.model_data_url, "Environment": env}
    create_model: dict[str, Any] = {"ModelName": req.name, "ExecutionRoleArn": req.aws.role_arn,
                                    "PrimaryContainer": container, "EnableNetworkIsolation": req.aws.network_isolation}
    vpc = req.aws.vpc_config()
    if vpc:
        create_model["VpcConfig"] = vpc
    config_name = f"{req.name}-config"[:63]
    variant = {"VariantName": "AllTraffic", "ModelName": req.name, "InstanceType": inst.id,
               "InitialInstanceCount": avg_count, "InitialVariantWeight": 1.0,
               "ContainerStartupHealthCheckTimeoutInSeconds": LMI_TIMEOUT_S,
               "ModelDataDownloadTimeoutInSeconds": LMI_TIMEOUT_S}
    config: dict[str, Any] = {"EndpointConfigName": config_name, "ProductionVariants": [variant]}
    if o.data_capture_s3_uri:
        config["DataCaptureConfig"] = {"EnableCapture": True, "InitialSamplingPercentage": o.capture_percent,
                                       "DestinationS3Uri": o.data_capture_s3_uri,
                                       "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
        if req.aws.kms_key_id:
            config["DataCaptureConfig"]["KmsKeyId"] = req.aws.kms_key_id
    if req.aws.kms_key_id and not inst.local_nvme:
        config["KmsKeyId"] = req.aws.kms_key_id
    endpoint = {"EndpointName": req.name, "EndpointConfigName": config_name}
    scalable, policy = ep.invocation_scaling(req.name, avg_count, max_inst, target)
    require_valid("sagemaker", "CreateModel", create_model, "name")
    require_valid("sagemaker", "CreateEndpointConfig", config, "options")
    require_valid("sagemaker", "CreateEndpoint", endpoint, "name")
    require_valid("application-autoscaling", "RegisterScalableTarget", scalable, "options")
    require_valid("application-autoscaling", "PutScalingPolicy", policy, "options")
    e2e_ms = (point.ttft_s + max(llm.output_tokens - 1, 0) * point.tpot_s) * 1e3
    targets = ", ".join(t for t in (f"TTFT p95 <= {llm.ttft_p95_ms:g} ms" if llm.ttft_p95_ms else "",
                                    f"TPOT p95 <= {llm.tpot_p95_ms:g} ms" if llm.tpot_p95_ms else "") if t) \
        or "no latency target (saturation)"
    reasoning = [
        f"LLM endpoint on the LMI (vLLM {s.engine_version}) container, one engine per instance over its "
        f"{s.tensor_parallel} {inst.gpu} GPU(s): weights {ev.budget.weights_gib:.1f} GiB/GPU, KV cache "
        f"{ev.kv.available_gib:.2f} GiB/GPU = {ev.kv.tokens:,} tokens at {ev.kv.bytes_per_token:,} B/token, "
        f"{ev.max_concurrency:.2f}x sequences of {s.max_model_len:,} tokens",
        f"{inst.id}: {cap:.2f} requests/s within {targets} for {llm.input_tokens} in / {llm.output_tokens} out "
        "tokens (continuous batching, chunked prefill; plan_llm_serving's model)",
        f"planned at {1 - o.headroom:.0%} of that: {planned:.2f}/s, so {count} instances at the "
        f"{req.traffic.peak_rps:g} requests/s peak and {avg_count} at the average; target tracking at {target:g} "
        "invocations per instance per minute",
        f"at the peak: TTFT p95 {point.ttft_p95_s * 1e3:,.0f} ms, TPOT p95 {point.tpot_p95_s * 1e3:.1f} ms, "
        f"{point.output_tokens_per_s:,.0f} output tokens/s per instance"
        + (f" ({point.limit})" if point.limit and point.limit != "none" else ""),
    ]
    if req.sla is not None:
        reasoning.append(f"sla.latency_ms {req.sla.latency_ms:g}: LLM endpoints are sized on llm.ttft_p95_ms and "
                         f"llm.tpot_p95_ms; the mean response at the peak takes about {e2e_ms:,.0f} ms")
    costs = [f"instances ({inst.id}): ${price:,.2f}/h at the peak ({count} x ${inst.hosting_usd_per_hour}/h)",
             f"real-time: ${monthly:,.2f}/month at the average load ({avg_count} x {inst.id} x "
             f"${inst.hosting_usd_per_hour}/h x {ep.HOURS_PER_MONTH} h)"]
    figures = LlmEndpointFigures(tensor_parallel=s.tensor_parallel, max_model_len=s.max_model_len,
                                 kv_cache_tokens=ev.kv.tokens, kv_bytes_per_token=ev.kv.bytes_per_token,
                                 max_concurrent_sequences=round(ev.max_concurrency, 2),
                                 ttft_p95_ms=round(point.ttft_p95_s * 1e3, 1),
                                 tpot_p95_ms=round(point.tpot_p95_s * 1e3, 2),
                                 output_tokens_per_s=round(point.output_tokens_per_s, 1))
    caveats = ["LLM sizing uses plan_llm_serving's roofline latency and vLLM 0.11 memory accounting; measure TTFT/TPOT "
               "on the chosen instance before committing the autoscaling target.",
               "One LMI engine per instance over all its GPUs; smaller models may be cheaper as several engines per "
               "instance (SageMaker inference components), which this plan does not size."]
    return ep.SageMakerEndpointPlan(
        kind="real-time", instance_type=inst.id, initial_instances=avg_count, instances_at_peak=count,
        max_instances=max_inst, sla_capacity_rps_per_instance=round(cap, 3), predicted_latency_ms_at_peak=round(e2e_ms, 1),
        invocations_per_instance_target=target, usd_per_hour_at_peak=round(price, 3), usd_per_month_at_average=monthly,
        costs=costs, candidates=candidates[:10], create_model=create_model, create_endpoint_config=config,
        create_endpoint=endpoint, register_scalable_target=scalable, put_scaling_policy=policy, reasoning=reasoning,
        llm=figures, caveats=caveats)
