"""Artifacts of design_mlflow_platform: auth config, image, compose file, manifests, promotion code, monitoring.

User strings enter through YAML dumps (PyYAML), shlex and repr(); secrets enter only as references to the
environment or to a Kubernetes Secret, never as values. Compose and Kubernetes expand `${VAR}` / `$(VAR)` in what
they deploy: common.compose and common.k8s write every `$` of a user string literally.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from ml_expert_mcp.tools.common import compose, k8s
from ml_expert_mcp.tools.common.aws import require_valid
from ml_expert_mcp.tools.common.compose import Interpolation
from ml_expert_mcp.tools.mlops.inputs import DesignMLflowRequest
from ml_expert_mcp.tools.mlops.plans import EnvVar, MonitoringPlan, ServingSnippet

SECRET_NAME = "mlflow-secrets"
SECRET_KEYS = {"PGPASSWORD": "db-password", "MLFLOW_BACKEND_STORE_URI": "backend-store-uri",
               "MLFLOW_AUTH_ADMIN_PASSWORD": "admin-password", "MLFLOW_FLASK_SERVER_SECRET_KEY": "flask-secret-key",
               "AWS_ACCESS_KEY_ID": "aws-access-key-id", "AWS_SECRET_ACCESS_KEY": "aws-secret-access-key",
               "AZURE_STORAGE_CONNECTION_STRING": "azure-storage-connection-string"}
# What the operator exports before `docker compose up` / `kubectl create secret` (names only).
SHELL_VARS = {"PGPASSWORD": "MLFLOW_DB_PASSWORD", "MLFLOW_BACKEND_STORE_URI": "MLFLOW_BACKEND_STORE_URI",
              "MLFLOW_AUTH_ADMIN_PASSWORD": "MLFLOW_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY": "MLFLOW_SECRET_KEY",
              "AWS_ACCESS_KEY_ID": "S3_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY": "S3_SECRET_KEY",
              "AZURE_STORAGE_CONNECTION_STRING": "AZURE_STORAGE_CONNECTION_STRING"}
METRICS = ["mlflow_http_request_total", "mlflow_http_request_duration_seconds", "mlflow_http_request_exceptions_total",
           "mlflow_exporter_info"]


def auth_ini(database_uri: str) -> str:
    return ("[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = {database_uri.replace('%', '%%')}\n"  # ConfigParser's interpolation
            "admin_username = admin\n"
            "# the admin password comes from MLFLOW_AUTH_ADMIN_PASSWORD at first start; none is stored here\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")


def dockerfile(req: DesignMLflowRequest) -> str:
    drivers = {"postgresql": ["psycopg2-binary"], "mysql": ["pymysql"], "sqlite": []}[req.backend]
    stores = {"s3": ["boto3"], "gcs": ["google-cloud-storage"], "azure_blob": ["azure-storage-blob", "azure-identity"],
              "local": []}[req.artifact_store]
    auth = ["flask-wtf"] if req.auth else []  # the basic-auth app's CSRF dependency (mlflow[auth])
    packages = " ".join(drivers + stores + auth + ["prometheus-flask-exporter"])
    return (f"FROM ghcr.io/mlflow/mlflow:v{req.mlflow_version}\n"
            f"RUN pip install --no-cache-dir {packages}\n"
            "USER 1000\n")


def _env_value(var: EnvVar) -> str:
    return var.value or ""


def docker_compose(req: DesignMLflowRequest, command: list[str], env: list[EnvVar], ini: str | None,
                   artifact_uri: str, minio: bool) -> str:
    """Single machine: each secret is a ${VAR:?} interpolation from the operator's environment or .env file."""
    services: dict[str, Any] = {}
    mlflow_env: dict[str, str] = {}
    for var in env:
        if var.source == "secret":
            shell = SHELL_VARS[var.name]
            mlflow_env[var.name] = Interpolation(f"${{{shell}:?set {shell}}}")
        else:
            mlflow_env[var.name] = _env_value(var)
    depends: dict[str, Any] = {}
    db = req.database
    configs: dict[str, Any] = {}
    mlflow_configs = []
    if req.backend == "postgresql":
        configs["create_auth_db"] = {"content": f"CREATE DATABASE {db.auth_name} OWNER {db.user};\n"}
        services[db.host] = {
            "image": "postgres:16",
            "environment": {"POSTGRES_USER": db.user, "POSTGRES_DB": db.name,
                            "POSTGRES_PASSWORD": Interpolation("${MLFLOW_DB_PASSWORD:?set MLFLOW_DB_PASSWORD}")},
            "volumes": ["pgdata:/var/lib/postgresql/data"],
            "configs": [{"source": "create_auth_db", "target": "/docker-entrypoint-initdb.d/10-auth-db.sql"}],
            "healthcheck": {"test": ["CMD-SHELL", f"pg_isready -U {db.user} -d {db.name}"], "interval": "5s",
                            "timeout": "5s", "retries": 10},
            "restart": "unless-stopped",
        }
        depends[db.host] = {"condition": "service_healthy"}
    if minio:
        bucket = artifact_uri.removeprefix("s3://").split("/", 1)[0]
        creds = {"MINIO_ROOT_USER": Interpolation("${S3_ACCESS_KEY:?set S3_ACCESS_KEY}"),
                 "MINIO_ROOT_PASSWORD": Interpolation("${S3_SECRET_KEY:?set S3_SECRET_KEY}")}
        services["minio"] = {
            "image": "minio/minio:latest", "command": ["server", "/data", "--console-address", ":9001"],
            "environment": creds, "volumes": ["miniodata:/data"],
            "healthcheck": {"test": ["CMD", "mc", "ready", "local"], "interval": "5s", "timeout": "5s", "retries": 10},
            "restart": "unless-stopped",
        }
        services["create-bucket"] = {
            "image": "minio/mc:latest", "depends_on": {"minio": {"condition": "service_healthy"}},
            "environment": creds,
            "entrypoint": ["sh", "-c", 'mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"'
                           f" && mc mb --ignore-existing local/{bucket}"],
        }
        depends["create-bucket"] = {"condition": "service_completed_successfully"}
    if ini is not None:
        configs["basic_auth_ini"] = {"content": ini}
        mlflow_configs.append({"source": "basic_auth_ini", "target": "/etc/mlflow/basic_auth.ini"})
    mlflow: dict[str, Any] = {
        "build": {"context": ".", "dockerfile_inline": dockerfile(req)},
        "image": f"mlflow-server:{req.mlflow_version}",
        "command": command,
        "environment": mlflow_env,
        "ports": [f"{req.port}:{req.port}"],
        "healthcheck": {"test": ["CMD", "python", "-c",
                                 f"import urllib.request; urllib.request.urlopen('http://localhost:{req.port}/health')"],
                        "interval": "10s", "timeout": "5s", "retries": 6},
        "restart": "unless-stopped",
    }
    if depends:
        mlflow["depends_on"] = depends
    if mlflow_configs:
        mlflow["configs"] = mlflow_configs
    if req.backend == "sqlite" or req.artifact_store == "local":
        mlflow["volumes"] = [f"mlflowdata:{posixpath.normpath(posixpath.join('/', req.data_dir))}"]
    services["mlflow"] = mlflow
    doc: dict[str, Any] = {"name": "mlflow", "services": services}
    volumes: dict[str, dict[str, Any]] = {}
    if req.backend == "postgresql":
        volumes["pgdata"] = {}
    if minio:
        volumes["miniodata"] = {}
    if "volumes" in mlflow:
        volumes["mlflowdata"] = {}
    if volumes:
        doc["volumes"] = volumes
    if configs:
        doc["configs"] = configs
    return compose.to_yaml(doc)


def kubernetes_manifests(req: DesignMLflowRequest, command: list[str], env: list[EnvVar], ini: str | None,
                         replicas: int, workers: int) -> str:
    ns, app = req.namespace, "mlflow"
    selector = {"app.kubernetes.io/name": app, "app.kubernetes.io/component": "tracking-server"}
    container_env: list[dict[str, Any]] = []
    for var in env:
        if var.source == "secret":
            container_env.append({"name": var.name, "valueFrom": {"secretKeyRef": {"name": SECRET_NAME,
                                                                                   "key": SECRET_KEYS[var.name]}}})
        else:
            container_env.append({"name": var.name, "value": _env_value(var)})
    mounts: list[dict[str, Any]] = [{"name": "prometheus", "mountPath": "/tmp/mlflow-prometheus"}]
    volumes: list[dict[str, Any]] = [{"name": "prometheus", "emptyDir": {}}]
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": k8s.metadata(app, ns, app, "tracking-server")}]
    if ini is not None:
        docs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": k8s.metadata("mlflow-auth-config", ns, app, "tracking-server"),
                     "data": {"basic_auth.ini": ini}})
        mounts.append({"name": "auth-config", "mountPath": "/etc/mlflow", "readOnly": True})
        volumes.append({"name": "auth-config", "configMap": {"name": "mlflow-auth-config"}})
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5}
    docs += [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": k8s.metadata(app, ns, app, "tracking-server"),
         "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                  "template": {"metadata": {"labels": selector, "annotations": {
                      "prometheus.io/scrape": "true", "prometheus.io/port": str(req.port),
                      "prometheus.io/path": "/metrics"}},
                      "spec": {"serviceAccountName": app,
                               "securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
                               "containers": [{
                                   "name": "mlflow", "image": f"mlflow-server:{req.mlflow_version}",
                                   "command": command, "env": container_env,
                                   "ports": [{"name": "http", "containerPort": req.port}],
                                   "resources": {"requests": {"cpu": k8s.quantity(workers / 2),
                                                              "memory": k8s.gib(0.5 * workers + 0.5)},
                                                 "limits": {"memory": k8s.gib(0.75 * workers + 1)}},
                                   "readinessProbe": {**probe, "initialDelaySeconds": 5},
                                   "livenessProbe": {**probe, "initialDelaySeconds": 30, "failureThreshold": 6},
                                   "volumeMounts": mounts,
                                   "securityContext": {"allowPrivilegeEscalation": False}}],
                               "volumes": volumes}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": k8s.metadata(app, ns, app, "tracking-server"),
         "spec": {"selector": selector, "ports": [{"name": "http", "port": req.port, "targetPort": "http"}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
         "metadata": k8s.metadata(app, ns, app, "tracking-server"),
         "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}}},
    ]
    problems = k8s.check_names(docs)
    if problems:
        raise RuntimeError("; ".join(problems))
    return k8s.to_yaml(docs)


def secret_setup(req: DesignMLflowRequest, env: list[EnvVar]) -> list[str]:
    secrets = [v.name for v in env if v.source == "secret"]
    if not secrets:
        return []
    if req.platform == "vm":
        names = sorted({SHELL_VARS[s] for s in secrets} | ({"MLFLOW_DB_PASSWORD"} if req.backend == "postgresql" else set()))
        return [f"put {', '.join(names)} in a .env file beside the compose file (mode 600) or export them; "
                "compose refuses to start without them"]
    if req.platform == "local":
        return [f"export {', '.join(secrets)} in the shell that starts the server (from your password manager)"]
    parts = " ".join(f'--from-literal={SECRET_KEYS[s]}="${SHELL_VARS[s]}"' for s in secrets)
    return [f"kubectl -n {req.namespace} create secret generic {SECRET_NAME} {parts}",
            "or sync the same keys from your secret store (External Secrets, Sealed Secrets)"]


def storage_lifecycle(store: str, uri: str) -> tuple[str, dict[str, Any] | None, list[str]]:
    why = ["no expiry by age: registered model versions point at run artifacts; delete runs, then `mlflow gc`",
           "tier down after 30 days (artifacts are rarely read once a run is old), colder after 180"]
    if store == "s3":
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        rules = {"Rules": [
            {"ID": "mlflow-artifacts-tiering", "Status": "Enabled", "Filter": {"Prefix": prefix},
             "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 180, "StorageClass": "GLACIER_IR"}]},
            {"ID": "abort-incomplete-uploads", "Status": "Enabled", "Filter": {"Prefix": prefix},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]}
        require_valid("s3", "PutBucketLifecycleConfiguration", {"Bucket": bucket, "LifecycleConfiguration": rules},
                      "artifact_uri")
        return "s3 PutBucketLifecycleConfiguration", rules, why
    if store == "gcs":
        prefix = uri.removeprefix("gs://").partition("/")[2]
        cond = {"matchesPrefix": [prefix]} if prefix else {}
        return "gcs lifecycle JSON", {"rule": [
            {"action": {"type": "SetStorageClass", "storageClass": "NEARLINE"}, "condition": {"age": 30, **cond}},
            {"action": {"type": "SetStorageClass", "storageClass": "COLDLINE"}, "condition": {"age": 180, **cond}},
            {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 7}}]}, why
    if store == "azure_blob":
        container = uri.removeprefix("wasbs://").split("@", 1)[0]
        path = uri.split(".blob.core.windows.net", 1)[1].strip("/")
        return "azure management policy", {"rules": [{"enabled": True, "name": "mlflow-artifacts-tiering",
                                                        "type": "Lifecycle", "definition": {
            "filters": {"blobTypes": ["blockBlob"], "prefixMatch": [posixpath.join(container, path)]},
            "actions": {"baseBlob": {"tierToCool": {"daysAfterModificationGreaterThan": 30},
                                     "tierToCold": {"daysAfterModificationGreaterThan": 180}}}}}]}, why
    return "none", None, ["local disk: back it up; no tiering"]


SCRAPE_USER = "prometheus"
SCRAPE_PASSWORD_FILE = "/etc/prometheus/secrets/mlflow_scrape_password"


def pip_install(req: DesignMLflowRequest) -> str:
    """What `mlflow server` as commanded needs beyond a plain `pip install mlflow`: the basic-auth app's extra
    (mlflow[auth]: Flask-WTF), the Prometheus exporter behind --expose-prometheus, the database driver and the
    artifact store's client."""
    drivers = {"postgresql": ["psycopg2-binary"], "mysql": ["pymysql"], "sqlite": []}[req.backend]
    stores = {"s3": ["boto3"], "gcs": ["google-cloud-storage"], "azure_blob": ["azure-storage-blob", "azure-identity"],
              "local": []}[req.artifact_store]
    mlflow_pkg = f"mlflow[auth]=={req.mlflow_version}" if req.auth else f"mlflow=={req.mlflow_version}"
    return " ".join(["pip", "install", f'"{mlflow_pkg}"', "prometheus-flask-exporter", *drivers, *stores])


def monitoring(req: DesignMLflowRequest) -> MonitoringPlan:
    # The target is where the server listens: 127.0.0.1 on the local platform (Prometheus on the same machine),
    # the compose service name on a VM (Prometheus joins the compose network).
    host = "127.0.0.1" if req.platform == "local" else "mlflow"
    job: dict[str, Any] = {"job_name": "mlflow", "metrics_path": "/metrics",
                           "static_configs": [{"targets": [f"{host}:{req.port}"]}]}
    if req.platform in ("kubernetes", "aws", "gcp", "azure"):
        job = {"job_name": "mlflow", "metrics_path": "/metrics",
               "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [req.namespace]}}],
               "relabel_configs": [{"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
                                    "regex": "mlflow", "action": "keep"}]}
    scrape_auth = None
    if req.auth:  # basic auth guards /metrics too: the scrape logs in as a user of its own
        job["basic_auth"] = {"username": SCRAPE_USER, "password_file": SCRAPE_PASSWORD_FILE}
        scrape_auth = (f"/metrics answers 401 without credentials, and MLflow's basic-auth app refuses non-admins on "
                       "routes it has no permission rule for (/metrics among them, MLFLOW_BASIC_AUTH_FAIL_CLOSED): as "
                       f"admin, create the user {SCRAPE_USER!r} (POST /api/2.0/mlflow/users/create), make it admin "
                       "(POST /api/2.0/mlflow/users/update-admin) and keep its password only in "
                       f"{SCRAPE_PASSWORD_FILE} on the Prometheus host (a Secret mounted there on Kubernetes)")
    scrape = {"scrape_configs": [job]}
    rules = {"groups": [{"name": "mlflow", "rules": [
        {"alert": "MLflowDown", "expr": 'up{job="mlflow"} == 0', "for": "5m",
         "labels": {"severity": "critical"}, "annotations": {"summary": "MLflow tracking server is not scraped"}},
        {"alert": "MLflowHighErrorRate",
         "expr": 'sum(rate(mlflow_http_request_total{status=~"5.."}[5m])) / sum(rate(mlflow_http_request_total[5m])) > 0.05',
         "for": "10m", "labels": {"severity": "warning"}, "annotations": {"summary": "over 5% of requests fail"}},
        {"alert": "MLflowSlowRequests",
         "expr": "histogram_quantile(0.95, sum by (le) (rate(mlflow_http_request_duration_seconds_bucket[5m]))) > 2",
         "for": "10m", "labels": {"severity": "warning"},
         "annotations": {"summary": "p95 request time over 2 s: add workers or check the database"}},
    ]}]}
    return MonitoringPlan(
        scrape_config=k8s.to_yaml([scrape]), scrape_auth=scrape_auth, alert_rules=k8s.to_yaml([rules]), metrics=METRICS,
        log_per_run=["params: every hyperparameter (mlflow.log_params)",
                     "metrics: train/validation loss per step, final evaluation metrics the gates read",
                     "tags: git_commit, data_version, owner",
                     "inputs: the datasets (mlflow.log_input with a digest)",
                     "model: with a signature and an input_example, registered under the model name",
                     "artifacts: evaluation plots and the resolved config; environment via pip requirements"])


def promotion_script(req: DesignMLflowRequest) -> str:
    gates = [(g.metric, g.comparison, g.threshold) for g in req.approval.gates]
    header = (f"MODEL = {req.model_name!r}\n"
              f"GATES = {gates!r}  # (metric, comparison, threshold)\n"
              f"BEAT_CHAMPION_ON = {req.approval.beat_champion_on!r}\n"
              f"HIGHER_IS_BETTER = {req.approval.higher_is_better!r}\n")
    return _SCRIPT_HEAD + header + _SCRIPT_BODY


_SCRIPT_HEAD = '''#!/usr/bin/env python3
"""Registry workflow with MLflow 3 aliases (stages are deprecated): gates as code.

    python promote_model.py challenger VERSION   # mark a newly registered version as @challenger
    python promote_model.py promote VERSION      # check the gates, then move @champion to VERSION

Reads MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD from the environment.
"""

import os
import sys

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

'''

_SCRIPT_BODY = '''

def failed_gates(metrics, champion_metrics):
    failures = []
    for name, comparison, threshold in GATES:
        value = metrics.get(name)
        if value is None:
            failures.append(f"{name}: not logged by the run")
        elif (comparison == ">=" and value < threshold) or (comparison == "<=" and value > threshold):
            failures.append(f"{name} = {value} fails {comparison} {threshold}")
    if BEAT_CHAMPION_ON and champion_metrics is not None:
        ours, theirs = metrics.get(BEAT_CHAMPION_ON), champion_metrics.get(BEAT_CHAMPION_ON)
        if ours is None:
            failures.append(f"{BEAT_CHAMPION_ON}: not logged by the run")
        elif theirs is not None and (ours < theirs if HIGHER_IS_BETTER else ours > theirs):
            failures.append(f"{BEAT_CHAMPION_ON} = {ours} is worse than @champion's {theirs}")
    return failures


def current_champion(client):
    try:
        return client.get_model_version_by_alias(MODEL, "champion")
    except MlflowException:
        return None


def main(argv):
    if len(argv) != 3 or argv[1] not in ("challenger", "promote"):
        print(__doc__)
        return 2
    action, version = argv[1], argv[2]
    client = MlflowClient()
    candidate = client.get_model_version(MODEL, version)
    if action == "challenger":
        client.set_model_version_tag(MODEL, version, "validation_status", "pending")
        client.set_registered_model_alias(MODEL, "challenger", version)
        print(f"{MODEL} version {version} is @challenger")
        return 0
    if candidate.run_id is None:
        print(f"version {version} has no run: its metrics cannot be checked")
        return 1
    metrics = client.get_run(candidate.run_id).data.metrics
    champion = current_champion(client)
    champion_metrics = None
    if champion is not None and champion.version != version and champion.run_id:
        champion_metrics = client.get_run(champion.run_id).data.metrics
    failures = failed_gates(metrics, champion_metrics)
    if failures:
        client.set_model_version_tag(MODEL, version, "validation_status", "failed")
        for failure in failures:
            print("FAIL", failure)
        return 1
    client.set_model_version_tag(MODEL, version, "validation_status", "passed")
    approver = os.environ.get("GITHUB_ACTOR")
    if approver:
        client.set_model_version_tag(MODEL, version, "approved_by", approver)
    if champion is not None and champion.version != version:
        client.set_registered_model_alias(MODEL, "previous_champion", champion.version)
    client.set_registered_model_alias(MODEL, "champion", version)
    print(f"{MODEL} version {version} is @champion")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
'''


def ci_workflow(req: DesignMLflowRequest) -> str:
    workflow = {
        "name": "promote-model",
        "on": {"workflow_dispatch": {"inputs": {"version": {
            "description": f"{req.model_name} version to promote to @champion", "required": True, "type": "string"}}}},
        "permissions": {"contents": "read"},
        "jobs": {"promote": {
            "runs-on": "ubuntu-latest",
            "environment": "model-promotion",
            "steps": [
                {"uses": "actions/checkout@v4"},
                {"uses": "actions/setup-python@v5", "with": {"python-version": "3.12"}},
                {"run": f'pip install "mlflow=={req.mlflow_version}"'},
                {"name": "Check the gates and move @champion",
                 "env": {"MLFLOW_TRACKING_URI": "${{ vars.MLFLOW_TRACKING_URI }}",
                         "MLFLOW_TRACKING_USERNAME": "${{ secrets.MLFLOW_TRACKING_USERNAME }}",
                         "MLFLOW_TRACKING_PASSWORD": "${{ secrets.MLFLOW_TRACKING_PASSWORD }}",
                         "VERSION": "${{ inputs.version }}"},
                 "run": 'python promote_model.py promote "$VERSION"'},
            ]}},
    }
    text = k8s.to_yaml([workflow])
    approvers = ", ".join(req.approval.approvers) or "(none named)"
    return (f"# Approval: protect the 'model-promotion' environment with required reviewers {approvers}\n"
            f"# ({req.approval.required_approvals} required) in the repository settings.\n" + text)


def serving_snippets(req: DesignMLflowRequest) -> list[ServingSnippet]:
    uri = f"models:/{req.model_name}@champion"
    out = [ServingSnippet(target="python", how=f"mlflow.pyfunc.load_model({uri!r})")]
    for target in req.deployment_targets:
        if target == "kubernetes_kserve":
            out.append(ServingSnippet(target=target, how=(
                f"mlflow models build-docker -m {json.dumps(uri)} -n REGISTRY/{req.model_name}:champion --enable-mlserver; "
                "deploy the image as a KServe InferenceService (V2 protocol); rebuild when @champion moves")))
        elif target == "sagemaker":
            out.append(ServingSnippet(target=target, how=(
                f"mlflow deployments create -t sagemaker --name {req.model_name} -m {json.dumps(uri)} "
                "-C region_name=REGION -C execution_role_arn=ROLE_ARN (or plan_sagemaker_endpoint for sizing)")))
        else:
            out.append(ServingSnippet(target=target, how=(
                f"mlflow.pyfunc.spark_udf(spark, {uri!r}) for Spark, or load_model in the batch job; "
                "resolve the alias once per job so a run uses one version")))
    return out
