"""Issue 14, MLflow: platform local alone, the pip extras the command needs, a scrape that logs in and targets
where the server binds, and /metrics behind basic auth judged unverified rather than missing."""

from __future__ import annotations

import shlex
from importlib import metadata

import yaml

from ml_expert_mcp.tools.mlops.check import Probe, VerifyMLflowRequest, compare
from ml_expert_mcp.tools.mlops.platform import DesignMLflowRequest, design_mlflow_platform


def test_local_alone_is_sqlite_and_local_artifacts() -> None:
    design = design_mlflow_platform(DesignMLflowRequest.model_validate({"platform": "local"}))
    argv = design.server.command
    assert argv is not None
    assert argv[argv.index("--backend-store-uri") + 1].startswith("sqlite:///")
    assert not argv[argv.index("--artifacts-destination") + 1].startswith(("s3:", "gs:", "wasbs:"))
    assert argv[argv.index("--host") + 1] == "127.0.0.1"


def test_pip_command_names_the_extras_the_command_needs() -> None:
    design = design_mlflow_platform(DesignMLflowRequest.model_validate({"platform": "local"}))
    packages = shlex.split(design.server.pip_install or "")[2:]
    assert packages[0].startswith("mlflow[auth]==") and "prometheus-flask-exporter" in packages
    # the installed MLflow's own metadata: its auth extra brings Flask-WTF (the basic-auth app's CSRF protection)
    requires = metadata.requires("mlflow") or []
    assert any(r.lower().startswith("flask-wtf") and 'extra == "auth"' in r for r in requires), requires
    plain = design_mlflow_platform(DesignMLflowRequest.model_validate({"platform": "local", "auth": False}))
    assert shlex.split(plain.server.pip_install or "")[2].startswith("mlflow==")
    prod = design_mlflow_platform(DesignMLflowRequest.model_validate(
        {"platform": "vm", "artifact_uri": "s3://bucket/mlflow", "s3_endpoint_url": "http://minio:9000"}))
    assert {"psycopg2-binary", "boto3"} <= set(shlex.split(prod.server.pip_install or ""))


def test_scrape_logs_in_and_targets_where_the_server_binds() -> None:
    local = design_mlflow_platform(DesignMLflowRequest.model_validate({"platform": "local", "port": 5055}))
    job = yaml.safe_load(local.monitoring.scrape_config)["scrape_configs"][0]
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:5055"]
    assert job["basic_auth"]["username"] and job["basic_auth"]["password_file"].startswith("/")
    assert "password" not in job["basic_auth"]  # a file reference, never the secret in the config
    vm = design_mlflow_platform(DesignMLflowRequest.model_validate(
        {"platform": "vm", "port": 5055, "artifact_uri": "s3://bucket/mlflow", "s3_endpoint_url": "http://minio:9000"}))
    vm_job = yaml.safe_load(vm.monitoring.scrape_config)["scrape_configs"][0]
    (target,) = vm_job["static_configs"][0]["targets"]
    services = yaml.safe_load(vm.deployment.docker_compose or "")["services"]
    host, port = target.split(":")
    assert host in services and port == "5055"  # the compose service Prometheus reaches on the compose network
    assert "0.0.0.0" in vm.server.command
    open_design = design_mlflow_platform(DesignMLflowRequest.model_validate({"platform": "local", "auth": False}))
    assert "basic_auth" not in yaml.safe_load(open_design.monitoring.scrape_config)["scrape_configs"][0]


def probes(metrics_status: int | None) -> list[Probe]:
    return [Probe(path="/health", status=200, detail="OK"), Probe(path="/version", status=200, detail="3.17.2"),
            Probe(path="/api/2.0/mlflow/experiments/search", status=401, detail=""),
            Probe(path="/metrics", status=metrics_status, detail="")]


def test_metrics_behind_auth_is_unverified_not_missing() -> None:
    req = VerifyMLflowRequest(tracking_uri="http://127.0.0.1:5000", expect_auth=True, expect_prometheus=True)
    behind = compare(req, probes(401), "3.17.2", None)
    assert behind.matches and behind.prometheus is None
    assert any("metrics_credentials_env" in u for u in behind.unverified)
    missing = compare(req, probes(404), "3.17.2", "not found")
    assert not missing.matches and missing.prometheus is False
    served = compare(req, probes(200), "3.17.2", "mlflow_http_request_total 3\n")
    assert served.matches and served.prometheus is True
