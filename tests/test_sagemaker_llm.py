"""plan_sagemaker_endpoint with an LLM: sized by plan_llm_serving (tokens, KV cache, TTFT/TPOT), LMI container
requests valid for botocore and accepted by moto; other endpoints unchanged."""

from __future__ import annotations

import math

import boto3
import pytest
from moto import mock_aws
from pydantic import ValidationError

from ml_expert_mcp.knowledge import instance_catalog
from ml_expert_mcp.tools.common.aws import check_request
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.sagemaker.endpoint import PlanSageMakerEndpointRequest, plan_sagemaker_endpoint
from ml_expert_mcp.tools.serving.llm_inputs import PlanLlmServingRequest
from ml_expert_mcp.tools.serving.llm_serving import plan_llm_serving

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
LMI = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.33.0-lmi15.0.0-cu128"
LLM = {"model": {"preset": "llama-3.1-8b"}, "input_tokens": 1000, "output_tokens": 200,
       "ttft_p95_ms": 2000, "tpot_p95_ms": 50}


def llm_request(**over: object) -> PlanSageMakerEndpointRequest:
    base: dict[str, object] = {"name": "llama-8b-chat", "image_uri": LMI, "model_data_url": "s3://my-bucket/models/llama/",
                               "aws": {"role_arn": ROLE}, "traffic": {"peak_rps": 20, "average_rps": 6}, "llm": LLM}
    base.update(over)
    return PlanSageMakerEndpointRequest.model_validate(base)


def test_llm_endpoint_is_sized_by_tokens_and_kv_cache() -> None:
    plan = plan_sagemaker_endpoint(llm_request())
    assert plan.llm is not None and plan.kind == "real-time"
    inst = instance_catalog()[plan.instance_type or ""]
    assert inst.gpu is not None and plan.llm.tensor_parallel == inst.gpu_count
    # the KV cache is plan_llm_serving's for the same model, GPU and TP
    same = plan_llm_serving(PlanLlmServingRequest.model_validate(
        {"model": LLM["model"], "gpu": inst.gpu,
         "config": {"tensor_parallel": inst.gpu_count, "max_model_len": plan.llm.max_model_len}}))
    assert plan.llm.kv_cache_tokens == same.kv_cache.tokens
    assert plan.llm.kv_bytes_per_token == 2 * 32 * 8 * 128 * 2  # Llama 3.1 8B: 32 layers x 8 KV heads x 128, bf16
    # the targets hold at the peak share of one instance
    assert plan.llm.ttft_p95_ms <= 2000 and plan.llm.tpot_p95_ms <= 50
    # count: the fewest instances whose planned capacity (70% of the SLA capacity) covers the peak
    cap = plan.sla_capacity_rps_per_instance
    assert cap is not None and plan.instances_at_peak is not None
    assert plan.instances_at_peak * cap * 0.7 >= 20 - 1e-6
    assert plan.instances_at_peak == 2 or (plan.instances_at_peak - 1) * cap * 0.7 < 20
    assert plan.invocations_per_instance_target == pytest.approx(cap * 0.7 * 60, rel=0.01)
    # the cheapest feasible candidate is the one chosen
    priced = [c for c in plan.candidates if c.usd_per_hour_at_peak is not None]
    assert plan.usd_per_hour_at_peak == min(c.usd_per_hour_at_peak for c in priced if c.usd_per_hour_at_peak)
    env = plan.create_model["PrimaryContainer"]["Environment"]
    assert env["OPTION_ROLLING_BATCH"] == "vllm" and env["TENSOR_PARALLEL_DEGREE"] == str(inst.gpu_count)
    assert env["OPTION_MAX_MODEL_LEN"] == str(plan.llm.max_model_len)
    for op, params in (("CreateModel", plan.create_model), ("CreateEndpointConfig", plan.create_endpoint_config),
                       ("CreateEndpoint", plan.create_endpoint)):
        assert check_request("sagemaker", op, params) == [], op
    assert check_request("application-autoscaling", "PutScalingPolicy", plan.put_scaling_policy) == []
    assert "KV cache" in plan.reasoning[0] and "TTFT" in plan.reasoning[-1]
    # the headline gives the token latencies the SLA is about, beside the whole response
    assert f"TTFT p95 {plan.llm.ttft_p95_ms:.0f} ms and TPOT p95 {plan.llm.tpot_p95_ms:.1f} ms" in plan.summary


def test_a_70b_model_needs_a_multi_gpu_instance() -> None:
    plan = plan_sagemaker_endpoint(llm_request(llm={**LLM, "model": {"preset": "llama-3.1-70b"}},
                                               traffic={"peak_rps": 5, "average_rps": 2}))
    assert plan.llm is not None and plan.llm.tensor_parallel >= 4
    rejected = {c.instance_type: c.rejected for c in plan.candidates if c.rejected}
    assert any("leave no KV cache" in why for why in rejected.values())


def test_user_environment_overrides_the_lmi_defaults() -> None:
    plan = plan_sagemaker_endpoint(llm_request(environment={"OPTION_GPU_MEMORY_UTILIZATION": "0.85"}))
    assert plan.create_model["PrimaryContainer"]["Environment"]["OPTION_GPU_MEMORY_UTILIZATION"] == "0.85"


def test_llm_bad_input_names_the_field() -> None:
    with pytest.raises(PlanInputError, match="options.serverless"):
        plan_sagemaker_endpoint(llm_request(options={"serverless": "always"}))
    with pytest.raises(PlanInputError, match="options.instance_type"):
        plan_sagemaker_endpoint(llm_request(options={"instance_type": "ml.m5.xlarge"}))
    with pytest.raises(PlanInputError, match="llm.ttft_p95_ms"):
        plan_sagemaker_endpoint(llm_request(llm={**LLM, "ttft_p95_ms": 1, "tpot_p95_ms": 1}))
    with pytest.raises(ValidationError, match="sla and cost"):
        PlanSageMakerEndpointRequest.model_validate(
            {"name": "x", "image_uri": LMI, "model_data_url": "s3://my-bucket/m/", "aws": {"role_arn": ROLE},
             "traffic": {"peak_rps": 1, "average_rps": 1}})


def test_tight_targets_cost_more_instances() -> None:
    loose = plan_sagemaker_endpoint(llm_request(options={"instance_type": "ml.g6e.xlarge"}))
    tight = plan_sagemaker_endpoint(llm_request(options={"instance_type": "ml.g6e.xlarge"},
                                                llm={**LLM, "tpot_p95_ms": 25}))
    assert tight.instances_at_peak is not None and loose.instances_at_peak is not None
    assert tight.instances_at_peak >= loose.instances_at_peak
    assert tight.llm is not None and tight.llm.tpot_p95_ms <= 25


@mock_aws
def test_llm_endpoint_against_moto() -> None:
    plan = plan_sagemaker_endpoint(llm_request(options={"instance_type": "ml.g4dn.12xlarge"},
                                               traffic={"peak_rps": 2, "average_rps": 1}))
    sm = boto3.client("sagemaker", region_name="us-east-1")
    sm.create_model(**plan.create_model)
    sm.create_endpoint_config(**plan.create_endpoint_config)
    sm.create_endpoint(**plan.create_endpoint)
    described = sm.describe_endpoint_config(EndpointConfigName=plan.create_endpoint_config["EndpointConfigName"])
    assert described["ProductionVariants"][0]["InstanceType"] == "ml.g4dn.12xlarge"
    scaling = boto3.client("application-autoscaling", region_name="us-east-1")
    scaling.register_scalable_target(**plan.register_scalable_target)
    scaling.put_scaling_policy(**plan.put_scaling_policy)
    assert math.isclose(scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"][0]
                        ["TargetTrackingScalingPolicyConfiguration"]["TargetValue"],
                        plan.invocations_per_instance_target or 0)
