"""plan_sagemaker_job / plan_sagemaker_endpoint: catalogue against botocore, arithmetic by hand, moto end to end."""

from __future__ import annotations

import ast
import json
import math
from typing import Any

import boto3
import pytest
from botocore.validate import ParamValidator
from mcp import Client
from moto import mock_aws

from ml_expert_mcp.knowledge import gpu_catalog, instance_catalog
from ml_expert_mcp.server.app import build_server
from ml_expert_mcp.tools.common.aws import _service_model, check_request
from ml_expert_mcp.tools.sagemaker.endpoint import PlanSageMakerEndpointRequest, plan_sagemaker_endpoint
from ml_expert_mcp.tools.sagemaker.job import PlanSageMakerJobRequest, plan_sagemaker_job

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-gpu-py312"


def job_request(**over) -> PlanSageMakerJobRequest:
    base = {"job_name": "llama-8b-ft",
            "workload": {"model": {"preset": "llama-3.1-8b"}, "train_tokens": 2e9, "training": {"sequence_length": 4096}},
            "dataset": {"train_s3_uri": "s3://my-bucket/data/train", "size_gb": 20},
            "aws": {"role_arn": ROLE}, "output_s3_uri": "s3://my-bucket/out"}
    base.update(over)
    return PlanSageMakerJobRequest.model_validate(base)


def endpoint_request(**over) -> PlanSageMakerEndpointRequest:
    base = {"name": "bert-sentiment", "image_uri": IMAGE, "model_data_url": "s3://my-bucket/models/bert/model.tar.gz",
            "aws": {"role_arn": ROLE}, "traffic": {"peak_rps": 200, "average_rps": 60}, "sla": {"latency_ms": 100},
            "cost": {"flops_per_example": 2.2e10, "params": 1.1e8}}
    base.update(over)
    return PlanSageMakerEndpointRequest.model_validate(base)


def botocore_errors(service: str, operation: str, params: dict) -> str:
    shape = _service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    return report.generate_report() if report.has_errors() else ""


# --- the catalogue ----------------------------------------------------------------------------------------------

def test_instance_names_are_in_botocores_enums() -> None:
    model = _service_model("sagemaker")
    training = set(model.shape_for("TrainingInstanceType").enum)
    hosting = set(model.shape_for("ProductionVariantInstanceType").enum)
    catalog = instance_catalog()
    assert len(catalog) >= 12
    for inst in catalog.values():
        assert inst.training <= (inst.id in training), inst.id
        assert inst.hosting <= (inst.id in hosting), inst.id
        assert inst.gpu is None or inst.gpu in gpu_catalog()
        assert inst.sources and all(s.as_of for s in inst.sources)


# --- training jobs ----------------------------------------------------------------------------------------------

def test_cheapest_fitting_instance_and_its_cost_by_hand() -> None:
    plan = plan_sagemaker_job(job_request())
    assert plan.feasible
    chosen = plan.chosen
    price = instance_catalog()[chosen.instance_type].training_usd_per_hour
    assert chosen.on_demand_usd == pytest.approx(chosen.hours * chosen.instance_count * price, abs=0.02)
    assert chosen.spot_usd == pytest.approx(chosen.on_demand_usd * 0.4, abs=0.02)
    priced = [a for a in plan.alternatives if a.on_demand_usd is not None]
    assert priced and all(a.on_demand_usd >= chosen.on_demand_usd for a in priced)
    # time: 2e9 tokens at the predicted rate, plus 0.1 h start-up, plus copying 20 GB at min(network, 25 Gb/s)
    net = instance_catalog()[chosen.instance_type].network_gbps
    expected = 2e9 / plan.tokens_per_s / 3600 + 0.1 + 20 * 8 / min(net, 25) / 3600
    assert chosen.hours == pytest.approx(expected, abs=2e-3)
    assert plan.max_runtime_s >= chosen.hours * 3600


def test_training_request_passes_botocore_and_our_checks() -> None:
    plan = plan_sagemaker_job(job_request(spot={"use_spot": True}, aws={"role_arn": ROLE, "kms_key_id": "alias/ml"},
                                          hyperparameters={"lr": 3e-4, "note": 'quote " and \n newline',
                                                           "dropout_enabled": True}))
    job = plan.create_training_job
    assert botocore_errors("sagemaker", "CreateTrainingJob", job) == ""
    assert check_request("sagemaker", "CreateTrainingJob", job) == []
    stop = job["StoppingCondition"]
    assert job["EnableManagedSpotTraining"] and stop["MaxWaitTimeInSeconds"] >= stop["MaxRuntimeInSeconds"]
    assert job["CheckpointConfig"]["S3Uri"].startswith("s3://my-bucket/out")
    assert json.loads(job["HyperParameters"]["note"]) == 'quote " and \n newline'
    code = plan.model_trainer_code
    tree = ast.parse(code)
    calls = {n.func.id: n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    kwargs = {k.arg: ast.literal_eval(k.value) for k in calls["ModelTrainer"].keywords
              if isinstance(k.value, ast.Constant | ast.Dict)}
    assert kwargs["role"] == ROLE and kwargs["hyperparameters"]["note"] == 'quote " and \n newline'
    assert kwargs["hyperparameters"]["dropout_enabled"] is True  # user keys survive, toolkit keys do not
    assert "sagemaker_torch_distributed_enabled" not in kwargs["hyperparameters"]


def test_our_checker_catches_what_botocores_validator_skips() -> None:
    job = plan_sagemaker_job(job_request()).create_training_job
    bad = json.loads(json.dumps(job))
    bad["TrainingJobName"] = "under_score"
    bad["ResourceConfig"]["InstanceType"] = "ml.p9.huge"
    assert botocore_errors("sagemaker", "CreateTrainingJob", bad) == ""  # botocore alone lets both through
    problems = check_request("sagemaker", "CreateTrainingJob", bad)
    assert any("TrainingJobName" in p for p in problems) and any("InstanceType" in p for p in problems)


def test_input_mode_and_volume_follow_dataset_size() -> None:
    small = plan_sagemaker_job(job_request())
    big = plan_sagemaker_job(job_request(dataset={"train_s3_uri": "s3://my-bucket/data", "size_gb": 800}))
    assert small.input_mode == "File" and big.input_mode == "FastFile"
    assert big.create_training_job["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"
    count = small.chosen.instance_count
    ckpt = 8.03e9 * 16 / 1e9  # Llama 3.1 8B, 16 bytes of training state per parameter
    assert small.volume_size_gb == pytest.approx(math.ceil(1.2 * (20 + 2 * ckpt / count) + 10), abs=2)


def test_tuning_job_request() -> None:
    tuning = {"objective_metric": "val:loss", "objective_type": "Minimize", "metric_regex": "val_loss=([0-9.]+)",
              "ranges": [{"name": "lr", "kind": "continuous", "min_value": 1e-5, "max_value": 1e-3,
                          "scaling": "Logarithmic"},
                         {"name": "warmup", "kind": "integer", "min_value": 100, "max_value": 2000}],
              "max_jobs": 12, "max_parallel": 3}
    plan = plan_sagemaker_job(job_request(tuning=tuning, hyperparameters={"lr": 1e-4, "epochs": 1}))
    req = plan.create_tuning_job
    assert botocore_errors("sagemaker", "CreateHyperParameterTuningJob", req) == ""
    assert check_request("sagemaker", "CreateHyperParameterTuningJob", req) == []
    assert "lr" not in req["TrainingJobDefinition"]["StaticHyperParameters"]
    assert plan.tuning_max_cost_usd == pytest.approx(12 * plan.chosen.on_demand_usd, abs=0.1)


def test_budget_nothing_meets_is_a_normal_answer_with_a_fix() -> None:
    plan = plan_sagemaker_job(job_request(budget={"max_hours": 72, "max_cost_usd": 10}))
    assert not plan.feasible and plan.create_training_job is None
    assert any("max_cost_usd" in f for f in plan.to_make_feasible)


def test_custom_workload_needs_big_gpus() -> None:
    plan = plan_sagemaker_job(job_request(workload={"gpu_memory_gib": 70, "gpu_count": 8, "runtime_hours": 10}))
    inst = instance_catalog()[plan.chosen.instance_type]
    assert gpu_catalog()[inst.gpu].usable_memory_gib >= 70 and inst.gpu_count * plan.chosen.instance_count >= 8
    assert plan.chosen.on_demand_usd == pytest.approx((10 + 0.1 + 20 * 8 / 25 / 3600) * inst.training_usd_per_hour,
                                                      abs=0.05)


# --- endpoints --------------------------------------------------------------------------------------------------

def test_endpoint_sizing_by_hand() -> None:
    plan = plan_sagemaker_endpoint(endpoint_request())
    assert plan.kind == "real-time"
    cap = plan.sla_capacity_rps_per_instance
    assert plan.instances_at_peak == max(2, math.ceil(200 / (cap * 0.7)))
    assert plan.invocations_per_instance_target == pytest.approx(cap * 0.7 * 60, abs=0.1)
    assert plan.predicted_latency_ms_at_peak <= 100
    chosen = next(c for c in plan.candidates if c.instance_type == plan.instance_type)
    assert all(c.usd_per_hour_at_peak >= chosen.usd_per_hour_at_peak for c in plan.candidates if c.usd_per_hour_at_peak)
    for op, req in (("CreateModel", plan.create_model), ("CreateEndpointConfig", plan.create_endpoint_config),
                    ("CreateEndpoint", plan.create_endpoint)):
        assert botocore_errors("sagemaker", op, req) == "" and check_request("sagemaker", op, req) == []
    for op, req in (("RegisterScalableTarget", plan.register_scalable_target),
                    ("PutScalingPolicy", plan.put_scaling_policy)):
        assert check_request("application-autoscaling", op, req) == []
    assert "AcceleratorType" not in json.dumps(plan.model_dump())


def test_sparse_traffic_goes_serverless() -> None:
    plan = plan_sagemaker_endpoint(endpoint_request(traffic={"peak_rps": 2, "average_rps": 0.05},
                                                    cost={"flops_per_example": 1e8, "params": 1e6}))
    assert plan.kind == "serverless" and plan.put_scaling_policy is None
    variant = plan.create_endpoint_config["ProductionVariants"][0]
    assert "ServerlessConfig" in variant and "InstanceType" not in variant
    assert check_request("sagemaker", "CreateEndpointConfig", plan.create_endpoint_config) == []


# --- through MCP: bad input names the field ---------------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize(("patch", "field"), [
    ({"aws": {"role_arn": "SageMakerRole"}}, "role_arn"),
    ({"dataset": {"train_s3_uri": "https://bucket/data", "size_gb": 1}}, "train_s3_uri"),
    ({"aws": {"role_arn": ROLE, "region": "eu-west-1"}}, "aws.region"),
    ({"job_name": "has_underscore"}, "job_name"),
])
async def test_bad_job_input_is_an_error_naming_the_field(patch: dict, field: str) -> None:
    args = job_request().model_dump(exclude_none=True)
    args.update(patch)
    async with Client(build_server()) as client:
        result = await client.call_tool("plan_sagemaker_job", args)
        assert result.is_error and field in result.content[0].text, result.content[0].text


# --- end to end against moto ------------------------------------------------------------------------------------

@mock_aws
def test_whole_flow_against_moto() -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    job = plan_sagemaker_job(job_request(spot={"use_spot": True})).create_training_job
    sm.create_training_job(**job)
    described = sm.describe_training_job(TrainingJobName=job["TrainingJobName"])
    assert described["ResourceConfig"]["InstanceType"] == job["ResourceConfig"]["InstanceType"]
    # moto knows an older list of hosting types: use one it has
    plan = plan_sagemaker_endpoint(endpoint_request(cost={"measured": [{"batch_size": 1, "latency_ms": 40}]},
                                                    options={"instance_type": "ml.m5.xlarge"},
                                                    traffic={"peak_rps": 30, "average_rps": 10}))
    sm.create_model(**plan.create_model)
    sm.create_endpoint_config(**plan.create_endpoint_config)
    sm.create_endpoint(**plan.create_endpoint)
    endpoint = sm.describe_endpoint(EndpointName=plan.create_endpoint["EndpointName"])
    assert endpoint["EndpointConfigName"] == plan.create_endpoint_config["EndpointConfigName"]
    scaling = boto3.client("application-autoscaling", region_name="us-east-1")
    scaling.register_scalable_target(**plan.register_scalable_target)
    scaling.put_scaling_policy(**plan.put_scaling_policy)
    policies = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    target = policies[0]["TargetTrackingScalingPolicyConfiguration"]
    assert target["TargetValue"] == plan.invocations_per_instance_target
    assert target["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"


@pytest.mark.parametrize(("preset", "tokens", "hours", "spot"), [
    ("llama-3.1-8b", 2e9, 72, True), ("llama-3.1-8b", 3e10, 24, False), ("llama-3.2-1b", 1e8, 2, True),
    ("llama-3.1-70b", 3e10, 400, False)])
def test_deadline_floor_in_the_search_changes_no_plan(monkeypatch, preset: str, tokens: float, hours: float,
                                                      spot: bool) -> None:
    """Counts before the last search only for layouts fast enough for max_hours (best_layout's at_least): the plan is
    the one searching every count in full gives."""
    import ml_expert_mcp.tools.sagemaker.job as job
    from ml_expert_mcp.tools.training import strategy

    req = PlanSageMakerJobRequest.model_validate({
        "job_name": "j", "workload": {"model": {"preset": preset}, "train_tokens": tokens},
        "dataset": {"train_s3_uri": "s3://bucket/train", "size_gb": 20}, "aws": {"role_arn": ROLE},
        "output_s3_uri": "s3://bucket/out", "spot": {"use_spot": spot}, "budget": {"max_hours": hours}})
    floors: list[float] = []

    def recording(r: strategy.SelectDistributionRequest, at_least: float = -math.inf, then: Any = ()) -> object:
        floors.append(at_least)
        return strategy.best_layout(r, at_least, then)

    monkeypatch.setattr(job, "best_layout", recording)
    floored = plan_sagemaker_job(req).model_dump_json()
    assert any(f > 0 for f in floors)
    strategy.clear_search_cache()  # each count searched alone, in full
    monkeypatch.setattr(job, "best_layout", lambda r, at_least=-math.inf, then=(): strategy.best_layout(r))
    assert floored == plan_sagemaker_job(req).model_dump_json()
