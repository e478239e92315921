"""The pruned request shapes equal what the installed botocore describes, and validate exactly as its full model."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from ml_expert_mcp.tools.common import aws

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("sagemaker", "CreateModel", {"ModelName": "m", "ExecutionRoleArn": ROLE,
                                  "PrimaryContainer": {"Image": "1.dkr.ecr.us-east-1.amazonaws.com/x:1"}}),
    ("sagemaker", "CreateModel", {"ModelName": "bad name!", "ExecutionRoleArn": ROLE}),
    ("sagemaker", "CreateEndpoint", {"EndpointName": "e", "EndpointConfigName": "c", "Tags": [{"Key": "k"}]}),
    ("sagemaker", "CreateTrainingJob", {"TrainingJobName": "j", "RoleArn": ROLE, "StoppingCondition": {},
                                        "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
                                        "ResourceConfig": {"InstanceType": "ml.p9.nope", "InstanceCount": 0,
                                                           "VolumeSizeInGB": 10}}),
    ("application-autoscaling", "RegisterScalableTarget", {"ServiceNamespace": "sagemaker", "ResourceId": "x",
                                                           "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                                                           "MinCapacity": 0, "MaxCapacity": 4}),
    ("s3", "PutBucketLifecycleConfiguration", {"Bucket": "b", "LifecycleConfiguration": {"Rules": [{"Status": "On"}]}}),
]


def test_extract_is_current() -> None:
    stored = json.loads(resources.files("ml_expert_mcp.knowledge").joinpath(aws.EXTRACT).read_text(encoding="utf-8"))
    assert stored == aws.generate_extract(), "regenerate with: python -m ml_expert_mcp.tools.common.aws"


def _full_model_problems(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    from botocore.validate import ParamValidator

    shape = aws._service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    problems = [ln.strip() for ln in report.generate_report().splitlines() if ln.strip()] if report.has_errors() else []
    aws._walk(shape, params, "", problems)
    return problems


@pytest.mark.parametrize(("service", "operation", "params"), REQUESTS)
def test_pruned_model_validates_like_the_full_model(service: str, operation: str, params: dict[str, Any]) -> None:
    assert operation in aws.OPERATIONS[service]
    assert aws.check_request(service, operation, params) == _full_model_problems(service, operation, params)


def test_bad_requests_are_caught() -> None:
    bad = [r for r in REQUESTS if r[2].get("ModelName") == "bad name!" or "Tags" in r[2] or "ResourceConfig" in r[2]]
    for service, operation, params in bad:
        assert aws.check_request(service, operation, params), operation
