"""User strings never change the structure of an artifact: each is parsed back with its own format's parser
(shlex, YAML, JSON, Python ast) and the user's string is found intact, or the input is refused by name."""

from __future__ import annotations

import ast
import json
import shlex

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ml_expert_mcp.tools.common.aws import check_request
from ml_expert_mcp.tools.mlops.platform import DesignMLflowRequest, design_mlflow_platform
from ml_expert_mcp.tools.sagemaker.job import plan_sagemaker_job
from tests.test_sagemaker import job_request

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(origin=TEXT)
def test_mlflow_cors_origin_survives_shell_compose_and_kubernetes(origin: str) -> None:
    try:
        req = DesignMLflowRequest(team_size=5, platform="vm", cors_origins=[origin])
    except ValidationError as err:
        assert "cors_origins" in str(err)
        return
    d = design_mlflow_platform(req)
    cmd = d.server.command
    assert shlex.split(d.server.command_line) == cmd
    assert cmd[cmd.index("--cors-allowed-origins") + 1] == origin
    compose = yaml.safe_load(d.deployment.docker_compose)
    assert compose["services"]["mlflow"]["command"] == cmd
    kube = design_mlflow_platform(req.model_copy(update={"platform": "kubernetes", "artifact_uri": "s3://bucket/x"}))
    deployment = next(doc for doc in yaml.safe_load_all(kube.deployment.kubernetes_yaml) if doc["kind"] == "Deployment")
    container_cmd = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    assert container_cmd[container_cmd.index("--cors-allowed-origins") + 1] == origin


@SETTINGS
@given(approver=TEXT)
def test_approvers_cannot_escape_the_workflow_comment(approver: str) -> None:
    try:
        req = DesignMLflowRequest(team_size=5, platform="vm", approval={"approvers": [approver]})
    except ValidationError as err:
        assert "approvers" in str(err)
        return
    workflow = yaml.safe_load(design_mlflow_platform(req).registry.ci_workflow)
    assert set(workflow) == {"name", "on", "permissions", "jobs"}  # a newline in the name would add keys


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=TEXT, key=st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,30}", fullmatch=True))
def test_sagemaker_hyperparameters_survive_json_and_python(value: str, key: str) -> None:
    assume(not key.lower().startswith("sagemaker_"))  # reserved for the training toolkit: refused (issue 15)
    plan = plan_sagemaker_job(job_request(workload={"gpu_memory_gib": 20, "gpu_count": 1, "runtime_hours": 1},
                                          hyperparameters={key: value}))
    job = plan.create_training_job
    assert json.loads(job["HyperParameters"][key]) == value
    assert check_request("sagemaker", "CreateTrainingJob", job) == []
    tree = ast.parse(plan.model_trainer_code)
    trainer = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "ModelTrainer")
    hp = next(k for k in trainer.keywords if k.arg == "hyperparameters")
    assert ast.literal_eval(hp.value)[key] == value
