"""Inputs of design_mlflow_platform: load, where it runs, the stores, auth, approvals and deployment targets."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from ml_expert_mcp.tools.common.k8s import DNS_LABEL_PATTERN
from ml_expert_mcp.tools.common.models import StrictModel
from ml_expert_mcp.tools.common.patterns import ENDPOINT_PATTERN, ORIGIN_PATTERN

Platform = Literal["local", "vm", "kubernetes", "aws", "gcp", "azure", "databricks"]
Backend = Literal["sqlite", "postgresql", "mysql"]
ArtifactStore = Literal["local", "s3", "gcs", "azure_blob"]
Target = Literal["kubernetes_kserve", "sagemaker", "batch"]
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
GITHUB_HANDLE_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9_.-]{1,39})?$"
HOST_PATTERN = r"^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$"
PATH_PATTERN = r"^[^\s;&|`$<>%?#]{1,256}$"  # no shell, interpolation, URL (? #) or ConfigParser (%) specials


class DatabaseSpec(StrictModel):
    host: str = Field(max_length=256, default="postgres", pattern=r"^[A-Za-z0-9.-]{1,253}$")
    port: int | None = Field(default=None, ge=1, le=65535, description="Port; default 5432 (PostgreSQL) or 3306 (MySQL).")
    name: str = Field(max_length=256, default="mlflow", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", description="Database for tracking data.")
    auth_name: str = Field(max_length=256, default="mlflow_auth", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", description="Database for basic-auth users.")
    user: str = Field(max_length=256, default="mlflow", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", description="Database user (password from the environment).")


class MetricGate(StrictModel):
    metric: str = Field(max_length=256, pattern=r"^[A-Za-z0-9_./ :-]{1,250}$")
    comparison: Literal[">=", "<="] = Field(description="Pass when metric >= or <= threshold.")
    threshold: float = Field(ge=-1e12, le=1e12)


class Approval(StrictModel):
    approvers: list[Annotated[str, Field(pattern=GITHUB_HANDLE_PATTERN, max_length=80)]] = Field(
        default_factory=list, max_length=20, description="GitHub users or org/team slugs who approve promotions.")
    required_approvals: int = Field(default=1, ge=0, le=6, description="Approvals the promotion environment requires.")
    gates: list[MetricGate] = Field(default_factory=list, max_length=20, description="Metric thresholds a version must pass.")
    beat_champion_on: str | None = Field(max_length=256, default=None, pattern=r"^[A-Za-z0-9_./ :-]{1,250}$",
                                         description="Metric the challenger must not be worse on than @champion.")
    higher_is_better: bool = Field(default=True, description="Direction of beat_champion_on.")


class DesignMLflowRequest(StrictModel):
    team_size: int = Field(default=1, ge=1, le=100_000, description="People using MLflow.")
    concurrent_users: int = Field(default=5, ge=1, le=10_000, description="People in the UI at the busiest time.")
    runs_per_day: float = Field(default=50, ge=0, le=1e7, description="Runs logged per day.")
    metric_points_per_run: int = Field(default=1000, ge=0, le=10_000_000, description="Metric values logged per run.")
    artifacts_per_run: float = Field(default=5, ge=0, le=10_000, description="Artifacts logged per run.")
    artifact_mb: float = Field(default=50, ge=0, le=1_000_000, description="Average artifact size, MB.")
    platform: Platform = Field(description="local, vm (one machine), kubernetes, aws, gcp, azure, databricks (managed).")
    backend: Backend = Field(default="postgresql", description="Tracking store database (platform local: sqlite).")
    artifact_store: ArtifactStore = Field(default="s3", description="Where artifacts live (platform local: local).")
    artifact_uri: str | None = Field(default=None, max_length=1024,
                                     description="s3://bucket/prefix, gs://bucket/prefix, wasbs://container@account.blob.core.windows.net/prefix or a path.")
    s3_endpoint_url: str | None = Field(default=None, pattern=ENDPOINT_PATTERN, max_length=512,
                                        description="S3-compatible endpoint (MinIO, Ceph); omit for AWS S3.")
    database: DatabaseSpec = Field(default_factory=DatabaseSpec, description="Database host, port, names and user.")
    auth: bool = Field(default=True, description="Basic auth (--app-name basic-auth).")
    hostname: str | None = Field(max_length=256, default=None, pattern=HOST_PATTERN, description="Public host name users reach the server by.")
    cors_origins: list[Annotated[str, Field(max_length=300, pattern=ORIGIN_PATTERN)]] = Field(
        default_factory=list, max_length=10, description="Browser origins (scheme://host[:port]) allowed to call the API.")
    port: int = Field(default=5000, ge=1, le=65535, description="Server port.")
    data_dir: str = Field(max_length=256, default="./mlflow-data", pattern=PATH_PATTERN, description="Local platform: directory for SQLite and artifacts.")
    model_name: str = Field(max_length=256, default="model", pattern=MODEL_NAME_PATTERN, description="Registered model the workflow promotes.")
    approval: Approval = Field(default_factory=Approval, description="Approvers and promotion gates.")
    deployment_targets: list[Target] = Field(default_factory=list, max_length=3, description="Where models are served from.")
    namespace: str = Field(max_length=256, default="mlflow", pattern=DNS_LABEL_PATTERN, description="Kubernetes namespace.")
    mlflow_version: str = Field(max_length=256, default="3.17.2", pattern=r"^3\.\d+\.\d+$", description="MLflow 3.x version to deploy.")

    @model_validator(mode="before")
    @classmethod
    def _local_defaults(cls, data: Any) -> Any:
        """platform local alone means one machine: SQLite and local artifacts unless asked otherwise."""
        if isinstance(data, dict) and data.get("platform") == "local":
            data = {"backend": "sqlite", "artifact_store": "local", **data}
        return data
