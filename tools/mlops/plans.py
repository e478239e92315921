"""Output of design_mlflow_platform."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ml_expert_mcp.tools.common.models import Plan


class EnvVar(BaseModel):
    name: str
    source: Literal["secret", "value"] = Field(description="secret: from a secret store/environment, never a literal.")
    value: str | None = Field(description="The value for non-secrets; null for secrets.")
    why: str


class ServerPlan(BaseModel):
    command: list[str] | None = Field(description="mlflow server argv; null on Databricks (managed).")
    pip_install: str | None = Field(default=None, description="pip command installing what the command needs (mlflow[auth], prometheus-flask-exporter, drivers).")
    command_line: str | None = Field(description="The same, shell-quoted.")
    environment: list[EnvVar] = Field(description="Environment the server needs.")
    artifact_access: str = Field(description="proxied (--serve-artifacts) or direct (--default-artifact-root).")
    artifact_access_reason: str
    workers: int = Field(description="--workers per replica.")
    replicas: int = Field(description="Server replicas.")
    db_pool_size: int = Field(description="MLFLOW_SQLALCHEMYSTORE_POOL_SIZE per worker.")
    db_max_overflow: int = Field(description="MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW per worker.")
    db_connections_max: int = Field(description="replicas x workers x (pool + overflow): must stay under the DB's limit.")
    auth_config_ini: str | None = Field(description="basic_auth.ini (MLFLOW_AUTH_CONFIG_PATH); no password in it.")
    sizing: list[str] = Field(description="The arithmetic behind workers, replicas and pool.")


class StoragePlan(BaseModel):
    artifacts_gb_per_month: float
    database_gb_per_month: float
    lifecycle_format: str = Field(description="s3 PutBucketLifecycleConfiguration, gcs lifecycle JSON, azure policy, none.")
    lifecycle: dict[str, Any] | None = Field(description="Lifecycle rules in that format.")
    why: list[str]


class DeploymentPlan(BaseModel):
    dockerfile: str | None = Field(description="Server image with the store drivers and the Prometheus exporter.")
    docker_compose: str | None = Field(description="Single machine: MLflow, PostgreSQL, S3-compatible store.")
    kubernetes_yaml: str | None = Field(description="ServiceAccount, ConfigMap, Deployment, Service, PodDisruptionBudget.")
    secret_setup: list[str] = Field(description="How the referenced secrets are created, from the environment.")


class ServingSnippet(BaseModel):
    target: str
    how: str = Field(description="Command or code that loads models:/NAME@champion.")


class RegistryWorkflow(BaseModel):
    aliases: dict[str, str] = Field(description="Alias -> meaning (MLflow 3: aliases, not stages).")
    tags: dict[str, str] = Field(description="Tag -> meaning.")
    promotion_script: str = Field(description="promote_model.py: gates as code, moves @champion.")
    ci_workflow: str = Field(description="GitHub Actions workflow that runs the script behind an approval environment.")
    serving: list[ServingSnippet]


class MonitoringPlan(BaseModel):
    scrape_config: str = Field(description="Prometheus scrape job for the server's /metrics (basic_auth when auth is on).")
    scrape_auth: str | None = Field(default=None, description="How the scrape user and its password file are set up.")
    alert_rules: str = Field(description="Prometheus alerting rules.")
    metrics: list[str] = Field(description="Metric names exported with --expose-prometheus.")
    log_per_run: list[str] = Field(description="What every run should log.")


class MLflowPlatformDesign(Plan):
    def headline(self) -> str:
        s = self.server
        return (f"MLflow on {self.platform} at {self.tracking_uri}: {s.workers} worker(s) x {s.replicas} replica(s), "
                f"{s.db_connections_max} database connections at most, ~{self.storage.artifacts_gb_per_month:,.0f} GB "
                f"of artifacts per month.")

    def standing_caveats(self) -> list[str]:
        return list(self.notes)

    platform: str
    tracking_uri: str = Field(description="What clients set MLFLOW_TRACKING_URI to.")
    server: ServerPlan
    storage: StoragePlan
    deployment: DeploymentPlan
    registry: RegistryWorkflow
    monitoring: MonitoringPlan
    notes: list[str]
