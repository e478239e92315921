"""Boot the MLflow server exactly as design_mlflow_platform commands it, and use it for real.

Slow (each boot takes seconds): skip locally with -m "not slow"; CI runs them.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import boto3
import httpx
import mlflow
import pytest
import yaml
from mcp import Client
from mlflow import MlflowClient

from ml_expert_mcp.server.app import build_server
from ml_expert_mcp.tools.mlops.platform import DesignMLflowRequest, design_mlflow_platform
from tests.servers import free_port, mlflow_server, moto_s3, postgres

pytestmark = pytest.mark.slow

# Timeouts sized for a loaded 2-core CI machine, where authenticated MLflow requests took 8-13 s (issue 14): every
# direct HTTP call waits up to 60 s (4.6x the slowest seen) and verify_mlflow_server gets its 30 s maximum per request.
# The readiness wait for a booting server is 180 s (tests.servers.mlflow_server).
HTTP_TIMEOUT_S = 60.0
VERIFY_TIMEOUT_S = 30.0


class AddOne(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input + 1


def log_and_register(client_uri: str, name: str, accuracy: float, workdir: Path) -> str:
    """A run with a parameter, a metric, an artifact and a registered model; returns the new version."""
    mlflow.set_tracking_uri(client_uri)
    mlflow.set_experiment("platform-proof")
    note = workdir / "note.txt"
    note.write_text("proof artifact\n")
    with mlflow.start_run() as run:
        mlflow.log_param("learning_rate", 0.01)
        mlflow.log_metric("accuracy", accuracy)
        mlflow.log_artifact(str(note))
        info = mlflow.pyfunc.log_model(name="model", python_model=AddOne(), registered_model_name=name)
    client = MlflowClient(client_uri)
    assert client.get_run(run.info.run_id).data.params["learning_rate"] == "0.01"
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["note.txt"]
    return str(info.registered_model_version)


def champion_roundtrip(client_uri: str, name: str, version: str) -> None:
    client = MlflowClient(client_uri)
    client.set_registered_model_alias(name, "champion", version)
    assert client.get_model_version_by_alias(name, "champion").version == version
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    import pandas as pd

    assert model.predict(pd.DataFrame({"x": [1, 2]}))["x"].tolist() == [2, 3]


@pytest.mark.anyio
async def test_embedded_default_sqlite_local_artifacts(tmp_path: Path) -> None:
    port = free_port()
    design = design_mlflow_platform(DesignMLflowRequest(
        team_size=1, platform="local", backend="sqlite", artifact_store="local", auth=False, port=port,
        data_dir=str(tmp_path / "data"), model_name="adder"))
    url = f"http://127.0.0.1:{port}"
    with mlflow_server(design.server.command, {}, tmp_path, url):
        version = log_and_register(url, "adder", 0.9, tmp_path)
        champion_roundtrip(url, "adder", version)
        assert list((tmp_path / "data" / "artifacts").rglob("note.txt")), "artifacts land in the local destination"
        metrics = httpx.get(url + "/metrics", timeout=HTTP_TIMEOUT_S).text
        assert "mlflow_http_request_total" in metrics  # --expose-prometheus works with the plan's directory
        async with Client(build_server()) as client:
            result = await client.call_tool("verify_mlflow_server", {
                "tracking_uri": url, "expected_version": mlflow.__version__, "expect_auth": False,
                "expect_prometheus": True, "timeout_s": VERIFY_TIMEOUT_S})
            out = result.structured_content
            assert out["matches"], out["problems"]


@pytest.mark.anyio
async def test_production_shape_postgres_s3_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_password, admin_password = "db-pw-for-test", "admin-pw-for-test"
    with postgres("mlflow", db_password, ["mlflow", "mlflow_auth"]) as (db_host, db_port), moto_s3() as s3_url:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")
        s3.create_bucket(Bucket="mlflow-proof")
        port = free_port()
        design = design_mlflow_platform(DesignMLflowRequest(
            team_size=15, platform="vm", backend="postgresql", artifact_store="s3",
            artifact_uri="s3://mlflow-proof/artifacts", s3_endpoint_url=s3_url, auth=True, port=port,
            database={"host": db_host, "port": db_port}, model_name="adder",
            approval={"gates": [{"metric": "accuracy", "comparison": ">=", "threshold": 0.8}],
                      "beat_champion_on": "accuracy"}))
        ini = tmp_path / "basic_auth.ini"
        ini.write_text(design.server.auth_config_ini)
        secrets = {"PGPASSWORD": db_password, "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
                   "MLFLOW_FLASK_SERVER_SECRET_KEY": "csrf-key-for-test",
                   "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        env = {v.name: (secrets[v.name] if v.source == "secret" else v.value) for v in design.server.environment}
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(ini)  # the plan mounts it at /etc/mlflow; here it is a temp file
        url = f"http://127.0.0.1:{port}"
        with mlflow_server(design.server.command, env, tmp_path, url):
            search = url + "/api/2.0/mlflow/experiments/search?max_results=1"
            assert httpx.get(search, timeout=HTTP_TIMEOUT_S).status_code == 401
            token = base64.b64encode(f"admin:{admin_password}".encode()).decode()
            assert httpx.get(search, headers={"Authorization": f"Basic {token}"},
                             timeout=HTTP_TIMEOUT_S).status_code == 200
            monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
            monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", admin_password)
            version = log_and_register(url, "adder", 0.9, tmp_path)
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mlflow-proof").get("Contents", [])]
            assert any(k.startswith("artifacts/") and k.endswith("note.txt") for k in keys), keys
            champion_roundtrip(url, "adder", version)
            # the generated promotion script, run as CI would: a worse challenger is refused
            script = tmp_path / "promote_model.py"
            script.write_text(design.registry.promotion_script)
            worse = log_and_register(url, "adder", 0.85, tmp_path)
            run_env = {**os.environ, "MLFLOW_TRACKING_URI": url}
            assert subprocess.run([sys.executable, script, "challenger", worse], env=run_env).returncode == 0
            refused = subprocess.run([sys.executable, script, "promote", worse], env=run_env, capture_output=True,
                                     text=True)
            assert refused.returncode == 1 and "worse than @champion" in refused.stdout
            better = log_and_register(url, "adder", 0.95, tmp_path)
            assert subprocess.run([sys.executable, script, "promote", better], env=run_env).returncode == 0
            client = MlflowClient(url)
            assert client.get_model_version_by_alias("adder", "champion").version == better
            assert client.get_model_version_by_alias("adder", "previous_champion").version == version
            assert client.get_model_version("adder", better).tags["validation_status"] == "passed"
            async with Client(build_server()) as mcp_client:
                result = await mcp_client.call_tool("verify_mlflow_server", {
                    "tracking_uri": url, "expected_version": "3", "expect_auth": True,
                    "timeout_s": VERIFY_TIMEOUT_S})
                assert result.structured_content["matches"], result.structured_content["problems"]
                assert result.structured_content["auth_enforced"] is True
                wrong = await mcp_client.call_tool("verify_mlflow_server", {"tracking_uri": url, "expect_auth": False,
                                                                            "timeout_s": VERIFY_TIMEOUT_S})
                assert not wrong.structured_content["matches"]


@pytest.mark.anyio
async def test_local_platform_alone_with_auth_and_a_credentialed_scrape(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """{"platform": "local"} (SQLite, local artifacts, basic auth on) boots; /metrics is behind the login, so the
    verifier says "unverified" without credentials and "served" with credentials passed by reference; the designed
    Prometheus job (its target, basic_auth user and password file) scrapes it."""
    admin_password, scrape_password = "admin-pw-for-test", "scrape-pw-for-test"
    port = free_port()
    design = design_mlflow_platform(DesignMLflowRequest.model_validate(
        {"platform": "local", "port": port, "data_dir": str(tmp_path / "data")}))
    assert "sqlite:" in design.server.command_line and "--artifacts-destination" in design.server.command_line
    assert '"mlflow[auth]==' in (design.server.pip_install or "")
    ini_var = next(v for v in design.server.environment if v.name == "MLFLOW_AUTH_CONFIG_PATH")
    Path(ini_var.value or "").parent.mkdir(parents=True, exist_ok=True)
    Path(ini_var.value or "").write_text(design.server.auth_config_ini or "")
    secrets = {"MLFLOW_AUTH_ADMIN_PASSWORD": admin_password, "MLFLOW_FLASK_SERVER_SECRET_KEY": "csrf-key-for-test"}
    env = {v.name: (secrets[v.name] if v.source == "secret" else v.value or "") for v in design.server.environment}
    scrape = yaml.safe_load(design.monitoring.scrape_config)["scrape_configs"][0]
    (target,) = scrape["static_configs"][0]["targets"]
    assert target == f"127.0.0.1:{port}"  # where the local server binds
    url = f"http://{target}"
    with mlflow_server(design.server.command, env, tmp_path, url):
        assert httpx.get(url + "/metrics", timeout=HTTP_TIMEOUT_S).status_code == 401
        created = httpx.post(url + "/api/2.0/mlflow/users/create", auth=("admin", admin_password),
                             json={"username": scrape["basic_auth"]["username"], "password": scrape_password},
                             timeout=HTTP_TIMEOUT_S)
        assert created.status_code == 200, created.text
        assert "update-admin" in (design.monitoring.scrape_auth or "")  # /metrics has no permission rule: admin only
        promoted = httpx.patch(url + "/api/2.0/mlflow/users/update-admin", auth=("admin", admin_password),
                               json={"username": scrape["basic_auth"]["username"], "is_admin": True},
                               timeout=HTTP_TIMEOUT_S)
        assert promoted.status_code == 200, promoted.text
        password_file = tmp_path / "scrape_password"  # the plan's password_file, here a temp file
        password_file.write_text(scrape_password)
        scraped = httpx.get(url + scrape["metrics_path"], timeout=HTTP_TIMEOUT_S,
                            auth=(scrape["basic_auth"]["username"], password_file.read_text()))
        assert scraped.status_code == 200 and "mlflow_http_request_total" in scraped.text
        async with Client(build_server()) as client:
            blind = (await client.call_tool("verify_mlflow_server", {
                "tracking_uri": url, "expect_auth": True, "expect_prometheus": True,
                "timeout_s": VERIFY_TIMEOUT_S})).structured_content
            assert blind["matches"] and blind["prometheus"] is None, blind
            assert any("/metrics answered 401" in u for u in blind["unverified"])
            monkeypatch.setenv("MLFLOW_SCRAPE_CREDENTIALS", f"prometheus:{scrape_password}")
            seen = (await client.call_tool("verify_mlflow_server", {
                "tracking_uri": url, "expect_auth": True, "expect_prometheus": True,
                "metrics_credentials_env": "MLFLOW_SCRAPE_CREDENTIALS", "timeout_s": VERIFY_TIMEOUT_S})).structured_content
            assert seen["matches"] and seen["prometheus"] is True, seen
