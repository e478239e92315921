"""design_mlflow_platform without servers: sizing by hand, artifacts through their real parsers, bad input."""

from __future__ import annotations

import ast
import math

import kubernetes_validate
import pytest
import yaml
from compose_spec import PyCompose
from mcp import Client

from ml_expert_mcp.server.app import build_server
from ml_expert_mcp.tools.common.aws import check_request
from ml_expert_mcp.tools.common.k8s import KUBERNETES_VERSION
from ml_expert_mcp.tools.mlops.platform import DesignMLflowRequest, design_mlflow_platform

SECRETS = ("PGPASSWORD", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY", "AWS_SECRET_ACCESS_KEY",
           "AWS_ACCESS_KEY_ID", "MLFLOW_BACKEND_STORE_URI", "AZURE_STORAGE_CONNECTION_STRING")


def design(**kw):
    base = {"team_size": 40, "platform": "kubernetes", "artifact_uri": "s3://ml-artifacts/mlflow",
            "runs_per_day": 20000, "concurrent_users": 30, "hostname": "mlflow.example.com",
            "approval": {"approvers": ["alice", "bob"], "gates": [{"metric": "accuracy", "comparison": ">=",
                                                                  "threshold": 0.9}],
                         "beat_champion_on": "accuracy"},
            "deployment_targets": ["kubernetes_kserve", "sagemaker", "batch"]}
    base.update(kw)
    return design_mlflow_platform(DesignMLflowRequest.model_validate(base))


def test_sizing_by_hand() -> None:
    d = design()
    per_run = 20 + 1000 / 1000 + 2 * 5
    peak = 20000 * per_run / 86400 * 6 + 30 * 0.2
    needed = math.ceil(peak / 40)
    replicas = max(2, math.ceil(needed / 8))
    workers = min(8, max(2, math.ceil(needed / replicas)))
    assert (d.server.replicas, d.server.workers) == (replicas, workers)
    per_worker = 80 // (replicas * workers)
    assert d.server.db_pool_size == max(1, min(5, per_worker // 2))
    assert d.server.db_connections_max <= 100
    assert d.storage.artifacts_gb_per_month == pytest.approx(20000 * 5 * 50 / 1000 * 30, rel=1e-6)


def test_command_flags() -> None:
    cmd = design().server.command
    flag = {cmd[i]: cmd[i + 1] for i in range(2, len(cmd) - 1) if cmd[i].startswith("--") and not cmd[i + 1].startswith("--")}
    assert flag["--backend-store-uri"].startswith("postgresql+psycopg2://mlflow@")
    assert ":" not in flag["--backend-store-uri"].split("//")[1].split("@")[0]  # no password in the URI
    assert "--serve-artifacts" in cmd and flag["--artifacts-destination"] == "s3://ml-artifacts/mlflow"
    assert flag["--app-name"] == "basic-auth" and "--expose-prometheus" in cmd
    assert "mlflow.example.com" in flag["--allowed-hosts"].split(",")
    direct = design(auth=False, runs_per_day=20000, artifact_mb=5000).server
    assert direct.artifact_access == "direct" and "--default-artifact-root" in direct.command


def test_kubernetes_manifests_validate_and_reference_secrets() -> None:
    d = design()
    docs = list(yaml.safe_load_all(d.deployment.kubernetes_yaml))
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    deployment = next(doc for doc in docs if doc["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    for var in env:
        if var["name"] in SECRETS:
            assert "value" not in var and var["valueFrom"]["secretKeyRef"]["name"] == "mlflow-secrets"
    assert not any(doc["kind"] == "Secret" for doc in docs)
    assert all('="$' in line for line in d.deployment.secret_setup[:1])


def test_docker_compose_parses_and_takes_secrets_from_the_environment() -> None:
    d = design(platform="vm", artifact_uri=None)
    compose = PyCompose.from_yaml(d.deployment.docker_compose)
    compose.validate()
    assert set(compose.service_names()) == {"postgres", "minio", "create-bucket", "mlflow"}
    doc = yaml.safe_load(d.deployment.docker_compose)
    for service in doc["services"].values():
        for name, value in service.get("environment", {}).items():
            if name in SECRETS or "PASSWORD" in name:
                assert value.startswith("${") and ":?" in value, (name, value)
    assert doc["services"]["mlflow"]["command"] == d.server.command


def test_storage_lifecycle_is_a_valid_s3_request() -> None:
    d = design()
    params = {"Bucket": "ml-artifacts", "LifecycleConfiguration": d.storage.lifecycle}
    assert check_request("s3", "PutBucketLifecycleConfiguration", params) == []
    assert not any("Expiration" in rule for rule in d.storage.lifecycle["Rules"])


def test_promotion_script_and_ci_workflow() -> None:
    d = design(model_name="fraud.model-v2")
    tree = ast.parse(d.registry.promotion_script)
    consts = {t.targets[0].id: ast.literal_eval(t.value) for t in tree.body
              if isinstance(t, ast.Assign) and isinstance(t.targets[0], ast.Name)}
    assert consts["MODEL"] == "fraud.model-v2" and consts["GATES"] == [("accuracy", ">=", 0.9)]
    assert "transition_model_version_stage" not in d.registry.promotion_script  # stages are deprecated
    workflow = yaml.safe_load(d.registry.ci_workflow)
    job = workflow["jobs"]["promote"]
    assert job["environment"] == "model-promotion" and "workflow_dispatch" in workflow["on"]
    last = job["steps"][-1]
    assert "${{" not in last["run"] and last["env"]["VERSION"] == "${{ inputs.version }}"  # no script injection
    assert {s.target for s in d.registry.serving} == {"python", "kubernetes_kserve", "sagemaker", "batch"}
    assert all("@champion" in s.how for s in d.registry.serving)


def test_local_default_is_sqlite_and_local_artifacts() -> None:
    d = design(platform="local", backend="sqlite", artifact_store="local", artifact_uri=None, auth=False,
               hostname=None, data_dir="/srv/mlflow")
    cmd = d.server.command
    assert cmd[cmd.index("--backend-store-uri") + 1] == "sqlite:////srv/mlflow/mlflow.db"
    assert cmd[cmd.index("--artifacts-destination") + 1] == "/srv/mlflow/artifacts"
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"


@pytest.mark.anyio
@pytest.mark.parametrize(("args", "field"), [
    ({"team_size": 0, "platform": "vm"}, "team_size"),
    ({"team_size": 3, "platform": "openstack"}, "platform"),
    ({"team_size": 3, "platform": "kubernetes", "artifact_uri": "ftp://host/x"}, "artifact_uri"),
    ({"team_size": 3, "platform": "kubernetes", "backend": "sqlite", "artifact_uri": "s3://b/x"}, "backend"),
    ({"team_size": 3, "platform": "aws", "artifact_store": "local"}, "artifact_store"),
    ({"team_size": 3, "platform": "vm", "backend": "mysql", "auth": True}, "backend"),
])
async def test_bad_input_is_an_error_naming_the_field(args: dict, field: str) -> None:
    async with Client(build_server()) as client:
        result = await client.call_tool("design_mlflow_platform", args)
        assert result.is_error and field in result.content[0].text, result.content[0].text
