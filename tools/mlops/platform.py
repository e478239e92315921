"""design_mlflow_platform: an MLflow 3 tracking server sized from the load, with its deployment and workflow.

Sizing (assumptions stated here and in the output):
- API requests per run = 20 + metric points / 1000 (log_batch takes 1,000 values) + 2 per artifact; a user in the
  UI makes 0.2 requests/s. Runs arrive in an 8-hour working day with 2x bursts: peak = 6 x the 24-hour mean.
- One worker serves about 40 requests/s against PostgreSQL; at most 8 workers per replica; Kubernetes keeps 2
  replicas for availability.
- Database connections: 80 of PostgreSQL's default 100 are for MLflow, split over every worker's pool.
"""

from __future__ import annotations

import math
import posixpath
import re
import shlex

from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.mlops.artifacts import (
    auth_ini,
    ci_workflow,
    docker_compose,
    dockerfile,
    kubernetes_manifests,
    monitoring,
    pip_install,
    promotion_script,
    secret_setup,
    serving_snippets,
    storage_lifecycle,
)
from ml_expert_mcp.tools.mlops.inputs import DesignMLflowRequest
from ml_expert_mcp.tools.mlops.plans import (
    DeploymentPlan,
    EnvVar,
    MLflowPlatformDesign,
    RegistryWorkflow,
    ServerPlan,
    StoragePlan,
)

__all__ = ["DesignMLflowRequest", "MLflowPlatformDesign", "design_mlflow_platform"]

REQUESTS_PER_RUN = 20
UI_RPS_PER_USER = 0.2
PEAK_OVER_MEAN = 6.0
WORKER_RPS = 40.0
MAX_WORKERS_PER_REPLICA = 8
DB_CONNECTION_BUDGET = 80
DIRECT_ARTIFACTS_GB_PER_DAY = 200.0  # above this, proxying artifacts through the server is the bottleneck
METRIC_ROW_BYTES = 150  # metrics table row + index entries
RUN_OVERHEAD_BYTES = 5_000  # params, tags, run row
KUBERNETES = ("kubernetes", "aws", "gcp", "azure")
URI_PATTERNS = {
    "s3": r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/\S*)?$",
    "gcs": r"^gs://[a-z0-9][a-z0-9._\-]{1,220}[a-z0-9](/\S*)?$",
    "azure_blob": r"^wasbs://[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])?@[a-z0-9]{3,24}\.blob\.core\.windows\.net(/\S*)?$",
    "local": r"^[^\s:;&|`$<>%?#]{1,1024}$",
}
AUTH_INI_DIR = {"local": None, "vm": "/etc/mlflow"}
PROMETHEUS_DIR = "/tmp/mlflow-prometheus"


def _check(req: DesignMLflowRequest) -> str:
    """Validate the store combination; return the artifact location."""
    if req.platform in KUBERNETES and req.backend == "sqlite":
        raise PlanInputError("backend", f"sqlite cannot be shared by replicas on {req.platform}; accepted: postgresql, mysql")
    if req.backend == "mysql" and req.auth:
        raise PlanInputError("backend", "basic auth reads its database URI from a plain ini file, and MySQL drivers "
                             "take no password from the environment; accepted with auth: postgresql, sqlite")
    if req.platform in KUBERNETES and req.artifact_store == "local":
        raise PlanInputError("artifact_store", f"pods on {req.platform} share no disk; accepted: s3, gcs, azure_blob")
    if req.artifact_store == "local":
        uri = req.artifact_uri or posixpath.join(req.data_dir, "artifacts")
    elif req.artifact_uri is None:
        if req.platform == "vm" and req.artifact_store == "s3" and req.s3_endpoint_url is None:
            uri = "s3://mlflow/artifacts"  # the bundled S3-compatible store
        else:
            raise PlanInputError("artifact_uri", f"required for artifact_store {req.artifact_store} (e.g. "
                                 f"{ {'s3': 's3://bucket/mlflow', 'gcs': 'gs://bucket/mlflow', 'azure_blob': 'wasbs://c@acct.blob.core.windows.net/mlflow'}[req.artifact_store]})")
    else:
        uri = req.artifact_uri
    if not re.fullmatch(URI_PATTERNS[req.artifact_store], uri):
        raise PlanInputError("artifact_uri", f"{uri[:80]!r} is not a {req.artifact_store} location; accepted: "
                             "s3://bucket/prefix, gs://bucket/prefix, "
                             "wasbs://container@account.blob.core.windows.net/prefix, or a local path")
    return uri


def _db_uri(req: DesignMLflowRequest, database: str, sqlite_file: str) -> str:
    """SQLAlchemy URI without a password: libpq takes it from PGPASSWORD; MySQL's comes in the secret URI."""
    db = req.database
    if req.backend == "sqlite":
        return "sqlite:///" + posixpath.normpath(posixpath.join(req.data_dir, sqlite_file))
    if req.backend == "postgresql":
        return f"postgresql+psycopg2://{db.user}@{db.host}:{db.port or 5432}/{database}"
    return f"mysql+pymysql://{db.user}:<from secret>@{db.host}:{db.port or 3306}/{database}"


def _sizing(req: DesignMLflowRequest) -> tuple[int, int, int, int, list[str]]:
    per_run = REQUESTS_PER_RUN + req.metric_points_per_run / 1000 + 2 * req.artifacts_per_run
    mean_rps = req.runs_per_day * per_run / 86400
    peak_rps = mean_rps * PEAK_OVER_MEAN + req.concurrent_users * UI_RPS_PER_USER
    needed = max(1, math.ceil(peak_rps / WORKER_RPS))
    if req.platform in KUBERNETES:
        replicas = max(2, math.ceil(needed / MAX_WORKERS_PER_REPLICA))
        workers = min(MAX_WORKERS_PER_REPLICA, max(2, math.ceil(needed / replicas)))
    else:
        replicas = 1
        workers = min(2 if req.platform == "local" else MAX_WORKERS_PER_REPLICA, max(2, needed))
    per_worker = max(2, DB_CONNECTION_BUDGET // (replicas * workers))
    pool = max(1, min(5, per_worker // 2))
    overflow = max(0, min(10, per_worker - pool))
    notes = [
        f"requests per run = {REQUESTS_PER_RUN} + {req.metric_points_per_run} metric points / 1000 + 2 x "
        f"{req.artifacts_per_run:g} artifacts = {per_run:.1f}",
        f"peak = {req.runs_per_day:g} runs/day x {per_run:.1f} / 86400 s x {PEAK_OVER_MEAN:g} + "
        f"{req.concurrent_users} users x {UI_RPS_PER_USER} = {peak_rps:.2f} requests/s",
        f"workers = ceil({peak_rps:.2f} / {WORKER_RPS:g} per worker) = {needed}, spread over {replicas} replica(s): "
        f"{workers} each (min 2, max {MAX_WORKERS_PER_REPLICA})",
        f"DB pool: {DB_CONNECTION_BUDGET} connections / ({replicas} x {workers} workers) = {per_worker} per worker: "
        f"pool {pool} + overflow {overflow}",
    ]
    return workers, replicas, pool, overflow, notes


def _allowed_hosts(req: DesignMLflowRequest) -> list[str]:
    p = req.port
    hosts = [f"localhost:{p}", f"127.0.0.1:{p}"]
    if req.platform == "vm":
        hosts.append(f"mlflow:{p}")
    if req.platform in KUBERNETES:
        ns = req.namespace
        hosts += [f"mlflow:{p}", f"mlflow.{ns}:{p}", f"mlflow.{ns}.svc:{p}", f"mlflow.{ns}.svc.cluster.local:{p}"]
    if req.hostname:
        hosts.append(req.hostname)
    return hosts


def _environment(req: DesignMLflowRequest, auth_path: str | None, pool: int, overflow: int,
                 minio: bool) -> list[EnvVar]:
    env: list[EnvVar] = []
    if req.backend == "postgresql":
        env.append(EnvVar(name="PGPASSWORD", source="secret", value=None,
                          why="libpq reads the database password from it, so the store URI holds none"))
    if req.backend == "mysql":
        env.append(EnvVar(name="MLFLOW_BACKEND_STORE_URI", source="secret", value=None,
                          why="the whole MySQL URI with its password (mlflow server reads it as --backend-store-uri)"))
    if req.backend != "sqlite":
        env += [EnvVar(name="MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", source="value", value=str(pool), why="connections kept per worker"),
                EnvVar(name="MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", source="value", value=str(overflow),
                       why="extra connections per worker under bursts")]
    if req.auth:
        env += [EnvVar(name="MLFLOW_AUTH_CONFIG_PATH", source="value", value=auth_path, why="basic_auth.ini below"),
                EnvVar(name="MLFLOW_AUTH_ADMIN_PASSWORD", source="secret", value=None,
                       why="MLflow ships no default admin password; the first start creates the admin with this one"),
                EnvVar(name="MLFLOW_FLASK_SERVER_SECRET_KEY", source="secret", value=None,
                       why="CSRF key for the auth app; the same on every replica")]
    endpoint = "http://minio:9000" if minio else req.s3_endpoint_url
    if req.artifact_store == "s3" and endpoint:
        env += [EnvVar(name="MLFLOW_S3_ENDPOINT_URL", source="value", value=endpoint, why="S3-compatible store"),
                EnvVar(name="AWS_ACCESS_KEY_ID", source="secret", value=None, why="store credentials"),
                EnvVar(name="AWS_SECRET_ACCESS_KEY", source="secret", value=None, why="store credentials")]
    if req.artifact_store == "azure_blob":
        env.append(EnvVar(name="AZURE_STORAGE_CONNECTION_STRING", source="secret", value=None,
                          why="blob container access (or a managed identity instead)"))
    return env


@tool("Design an MLflow platform")
def design_mlflow_platform(req: DesignMLflowRequest) -> MLflowPlatformDesign:
    """MLflow 3 tracking server sized from the load: server command, stores, auth, docker-compose or Kubernetes
    manifests, storage lifecycle, alias promotion script and CI workflow, Prometheus alerts.
    """
    # Tracking server command and sizing, deployment artifacts, MLflow 3 alias workflow, monitoring.
    if req.platform == "databricks":
        return _databricks(req)
    artifact_uri = _check(req)
    workers, replicas, pool, overflow, sizing = _sizing(req)
    artifacts_gb_day = req.runs_per_day * req.artifacts_per_run * req.artifact_mb / 1000
    if req.auth:
        access, access_why = "proxied", "auth is on: artifacts go through the server so the same login guards them"
    elif req.artifact_store != "local" and artifacts_gb_day > DIRECT_ARTIFACTS_GB_PER_DAY:
        access, access_why = "direct", (f"{artifacts_gb_day:.0f} GB/day of artifacts: clients write to the store "
                                        "directly so the server is not the bandwidth bottleneck (clients need store credentials)")
    else:
        access, access_why = "proxied", "clients need no store credentials; the server holds them"
    minio = req.platform == "vm" and req.artifact_store == "s3" and req.s3_endpoint_url is None
    if req.platform == "local":
        auth_path = posixpath.join(req.data_dir, "basic_auth.ini")
        prometheus_dir = posixpath.join(req.data_dir, "prometheus")
    else:
        auth_path = "/etc/mlflow/basic_auth.ini"
        prometheus_dir = PROMETHEUS_DIR
    command = ["mlflow", "server", "--host", "127.0.0.1" if req.platform == "local" else "0.0.0.0",
               "--port", str(req.port), "--workers", str(workers)]
    if req.backend != "mysql":
        command += ["--backend-store-uri", _db_uri(req, req.database.name, "mlflow.db")]
    if access == "proxied":
        command += ["--serve-artifacts", "--artifacts-destination", artifact_uri]
    else:
        command += ["--no-serve-artifacts", "--default-artifact-root", artifact_uri]
    command += ["--allowed-hosts", ",".join(_allowed_hosts(req))]
    if req.cors_origins:
        command += ["--cors-allowed-origins", ",".join(req.cors_origins)]
    command += ["--expose-prometheus", prometheus_dir]
    if req.auth:
        command += ["--app-name", "basic-auth"]
    env = _environment(req, auth_path if req.auth else None, pool, overflow, minio)
    ini = auth_ini(_db_uri(req, req.database.auth_name, "basic_auth.db")) if req.auth else None
    scheme = "https" if req.hostname else "http"
    tracking_uri = (f"{scheme}://{req.hostname}" if req.hostname else
                    f"http://mlflow.{req.namespace}.svc.cluster.local:{req.port}" if req.platform in KUBERNETES else
                    f"http://localhost:{req.port}")
    server = ServerPlan(command=command, command_line=shlex.join(command), pip_install=pip_install(req),
                        environment=env, artifact_access=access,
                        artifact_access_reason=access_why, workers=workers, replicas=replicas,
                        db_pool_size=pool, db_max_overflow=overflow,
                        db_connections_max=replicas * workers * (pool + overflow), auth_config_ini=ini, sizing=sizing)
    art_gb = artifacts_gb_day * 30
    db_gb = req.runs_per_day * 30 * (req.metric_points_per_run * METRIC_ROW_BYTES + RUN_OVERHEAD_BYTES) / 1e9
    fmt, rules, why = storage_lifecycle(req.artifact_store, artifact_uri)
    storage = StoragePlan(artifacts_gb_per_month=round(art_gb, 2), database_gb_per_month=round(db_gb, 3),
                          lifecycle_format=fmt, lifecycle=rules, why=why)
    image_file = dockerfile(req)
    compose = docker_compose(req, command, env, ini, artifact_uri, minio) if req.platform == "vm" else None
    kube = kubernetes_manifests(req, command, env, ini, replicas, workers) if req.platform in KUBERNETES else None
    deployment = DeploymentPlan(dockerfile=image_file, docker_compose=compose, kubernetes_yaml=kube,
                                secret_setup=secret_setup(req, env))
    notes = ["MLflow 3: registry stages are deprecated (since 2.9); the workflow uses aliases and tags",
             "serve the UI and API behind TLS (ingress or reverse proxy); basic auth sends passwords on every request"]
    if minio:
        notes.append("the compose file runs MinIO as the S3-compatible store; pin its image to a release you trust")
    if req.backend == "sqlite" and req.platform != "local":
        notes.append("sqlite serialises writes: move to postgresql before several people log at once")
    return MLflowPlatformDesign(platform=req.platform, tracking_uri=tracking_uri, server=server, storage=storage,
                                deployment=deployment, registry=_registry(req), monitoring=monitoring(req),
                                notes=notes)


def _registry(req: DesignMLflowRequest) -> RegistryWorkflow:
    return RegistryWorkflow(
        aliases={"champion": "the version serving production; serving loads models:/NAME@champion",
                 "challenger": "the candidate under evaluation (set at registration)",
                 "previous_champion": "the version @champion replaced: rollback is one alias move"},
        tags={"validation_status": "pending, passed or failed: written by the promotion script",
              "git_commit": "commit of the training code", "data_version": "dataset version or hash",
              "approved_by": "GitHub user who approved the promotion (from the workflow)"},
        promotion_script=promotion_script(req), ci_workflow=ci_workflow(req), serving=serving_snippets(req))


def _databricks(req: DesignMLflowRequest) -> MLflowPlatformDesign:
    server = ServerPlan(command=None, command_line=None, environment=[
        EnvVar(name="DATABRICKS_HOST", source="value", value=None, why="workspace URL"),
        EnvVar(name="DATABRICKS_TOKEN", source="secret", value=None, why="or OAuth M2M credentials")],
        artifact_access="managed", artifact_access_reason="Databricks runs the tracking server and stores",
        workers=0, replicas=0, db_pool_size=0, db_max_overflow=0, db_connections_max=0, auth_config_ini=None,
        sizing=["managed by Databricks"])
    return MLflowPlatformDesign(
        platform="databricks", tracking_uri="databricks", server=server,
        storage=StoragePlan(artifacts_gb_per_month=round(req.runs_per_day * req.artifacts_per_run * req.artifact_mb * 30 / 1000, 2),
                            database_gb_per_month=0.0, lifecycle_format="none", lifecycle=None,
                            why=["managed storage; Unity Catalog governs registered models"]),
        deployment=DeploymentPlan(dockerfile=None, docker_compose=None, kubernetes_yaml=None, secret_setup=[]),
        registry=_registry(req), monitoring=monitoring(req),
        notes=["set mlflow.set_registry_uri('databricks-uc') and name models catalog.schema.model; aliases work the same"])
