"""Issue 14 on SageMaker: CNN jobs bounded by CPU JPEG decode, input mode for many small files, spot against the
time limit, per-trial checkpoints for tuning; async endpoints on backlog with minimum 0, serverless from the peak."""

from __future__ import annotations

import math

from botocore.validate import ParamValidator

from ml_expert_mcp.knowledge import instance_catalog
from ml_expert_mcp.tools.common.aws import _service_model
from ml_expert_mcp.tools.sagemaker.endpoint import PlanSageMakerEndpointRequest, plan_sagemaker_endpoint
from ml_expert_mcp.tools.sagemaker.job import JPEG_DECODE_PER_VCPU, PlanSageMakerJobRequest, plan_sagemaker_job

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGENET_IMAGES = 1_281_167


def botocore_ok(service: str, operation: str, params: dict) -> bool:
    shape = _service_model(service).operation_model(operation).input_shape
    return not ParamValidator().validate(params, shape).has_errors()


def resnet_job(**over) -> PlanSageMakerJobRequest:
    base = {"job_name": "rn50", "workload": {"model": {"preset": "resnet-50"}, "train_tokens": 90 * IMAGENET_IMAGES,
                                             "training": {"global_batch_size": 256}},
            "dataset": {"train_s3_uri": "s3://bucket/imagenet/train", "size_gb": 140},
            "aws": {"role_arn": ROLE}, "output_s3_uri": "s3://bucket/out", "budget": {"max_hours": 168}}
    base.update(over)
    return PlanSageMakerJobRequest.model_validate(base)


def test_cnn_time_is_bounded_by_cpu_jpeg_decode() -> None:
    plan = plan_sagemaker_job(resnet_job())
    assert plan.feasible and plan.chosen is not None and plan.tokens_per_s is not None
    inst = instance_catalog()[plan.chosen.instance_type]
    decode = plan.chosen.instance_count * (inst.vcpus - inst.gpu_count) * JPEG_DECODE_PER_VCPU
    assert plan.data_loading_samples_per_s == decode
    assert plan.tokens_per_s <= decode
    # the ml.g6.xlarge (4 vCPU, one L4): 3 decode vCPUs cannot feed 2,000 images/s
    g6 = next(a for a in plan.alternatives if a.instance_type == "ml.g6.xlarge" and a.hours)
    assert g6.hours >= 90 * IMAGENET_IMAGES / (3 * JPEG_DECODE_PER_VCPU) / 3600
    assert "decode" in (g6.strategy or "")


def test_many_small_files_are_copied_not_streamed() -> None:
    plan = plan_sagemaker_job(resnet_job())
    assert plan.input_mode == "File" and "objects" in plan.input_mode_reason
    assert plan.create_training_job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert plan.volume_size_gb >= 140  # the copy fits on the volume
    asked = plan_sagemaker_job(resnet_job(dataset={"train_s3_uri": "s3://bucket/imagenet/train", "size_gb": 140,
                                                   "input_mode": "FastFile"}))
    assert "shard" in asked.input_mode_reason
    big_records = plan_sagemaker_job(resnet_job(dataset={"train_s3_uri": "s3://bucket/shards", "size_gb": 140,
                                                         "num_files": 1400}))
    assert big_records.input_mode == "FastFile"  # 100 MB shards stream well


def test_spot_needs_margin_under_the_time_limit() -> None:
    # the issue: a 147.7 h job on spot against a 168 h limit; 147.7 x 1.5 > 168, so spot refuses it
    custom = {"gpu_memory_gib": 20, "gpu_count": 1, "runtime_hours": 147.7, "checkpoint_gb": 10}
    spot = plan_sagemaker_job(resnet_job(workload=custom, spot={"use_spot": True}))
    assert not spot.feasible
    assert all("margin" in (a.rejected or "") for a in spot.alternatives if a.hours)
    on_demand = plan_sagemaker_job(resnet_job(workload=custom))
    assert on_demand.feasible
    # a model workload on spot: the chosen time leaves the 1.5x margin, MaxWaitTime is the budget
    plan = plan_sagemaker_job(resnet_job(spot={"use_spot": True}))
    assert plan.chosen is not None and plan.chosen.hours is not None
    assert plan.chosen.hours * 1.5 <= 168
    stop = plan.create_training_job["StoppingCondition"]
    assert stop["MaxRuntimeInSeconds"] <= stop["MaxWaitTimeInSeconds"] == 168 * 3600


def test_tuning_trials_get_their_own_checkpoints() -> None:
    tuning = {"objective_metric": "val_acc", "objective_type": "Maximize", "metric_regex": "val_acc=([0-9.]+)",
              "ranges": [{"name": "lr", "kind": "continuous", "min_value": 0.01, "max_value": 1.0}],
              "max_jobs": 8, "max_parallel": 4}
    plan = plan_sagemaker_job(resnet_job(spot={"use_spot": True}, tuning=tuning))
    job_uri = plan.create_training_job["CheckpointConfig"]["S3Uri"]
    definition = plan.create_tuning_job["TrainingJobDefinition"]
    tuning_uri = definition["CheckpointConfig"]["S3Uri"]
    assert tuning_uri != job_uri and tuning_uri.startswith(job_uri)
    assert plan.checkpoint_per_trial and "$TRAINING_JOB_NAME" in plan.checkpoint_per_trial
    assert botocore_ok("sagemaker", "CreateHyperParameterTuningJob", plan.create_tuning_job)


def endpoint(**over) -> PlanSageMakerEndpointRequest:
    base = {"name": "bert", "image_uri": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-gpu-py312",
            "model_data_url": "s3://bucket/models/bert/model.tar.gz", "aws": {"role_arn": ROLE},
            "traffic": {"peak_rps": 0.5, "average_rps": 0.1}, "sla": {"latency_ms": 60000},
            "cost": {"flops_per_example": 2.2e10, "params": 1.1e8, "family": "transformer"}}
    base.update(over)
    return PlanSageMakerEndpointRequest.model_validate(base)


def test_async_scales_on_backlog_from_zero() -> None:
    plan = plan_sagemaker_endpoint(endpoint(options={"async_output_s3_uri": "s3://bucket/async-out"}))
    assert plan.kind == "async"
    assert plan.register_scalable_target is not None and plan.register_scalable_target["MinCapacity"] == 0
    tracking = plan.put_scaling_policy["TargetTrackingScalingPolicyConfiguration"]
    metric = tracking["CustomizedMetricSpecification"]
    assert metric["MetricName"] == "ApproximateBacklogSizePerInstance" and metric["Namespace"] == "AWS/SageMaker"
    assert metric["Dimensions"] == [{"Name": "EndpointName", "Value": "bert"}]
    assert plan.extra_scaling_policies and plan.extra_scaling_policies[0]["PolicyType"] == "StepScaling"
    for request in (plan.register_scalable_target, plan.put_scaling_policy, *plan.extra_scaling_policies):
        op = "RegisterScalableTarget" if "MinCapacity" in request else "PutScalingPolicy"
        assert botocore_ok("application-autoscaling", op, request)
    assert plan.create_endpoint_config["ProductionVariants"][0]["InitialInstanceCount"] >= 1
    assert any("$0" in c for c in plan.costs)  # idle costs nothing at minimum 0
    kept = plan_sagemaker_endpoint(endpoint(options={"async_output_s3_uri": "s3://bucket/o", "min_instances": 1}))
    assert kept.register_scalable_target["MinCapacity"] == 1


def test_serverless_concurrency_from_the_peak_and_a_monthly_cost() -> None:
    plan = plan_sagemaker_endpoint(endpoint(traffic={"peak_rps": 2, "average_rps": 0.2}, sla={"latency_ms": 5000},
                                            options={"serverless": "always"}))
    cfg = plan.create_endpoint_config["ProductionVariants"][0]["ServerlessConfig"]
    assert plan.kind == "serverless" and cfg["MaxConcurrency"] == plan.serverless_max_concurrency
    # Poisson in-flight requests at 2 rps: concurrency must exceed the mean (2 x service time) with a tail margin
    assert cfg["MaxConcurrency"] > 2 * 0.1 and cfg["MaxConcurrency"] >= 2
    assert plan.usd_per_month_at_average is not None and plan.usd_per_month_at_average > 0
    assert any(c.startswith("serverless: $") for c in plan.costs)
    assert math.isfinite(plan.usd_per_month_at_average)
    assert botocore_ok("sagemaker", "CreateEndpointConfig", plan.create_endpoint_config)
