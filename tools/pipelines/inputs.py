"""Requests for the pipeline tools: a Kubeflow TrainJob for a model on a node shape, and a lifecycle pipeline."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ml_expert_mcp.tools.common.k8s import DNS_LABEL_PATTERN
from ml_expert_mcp.tools.common.models import StrictModel
from ml_expert_mcp.tools.training.inputs import ModelSpec, Precision, TrainingSpec

IMAGE_PATTERN = r"^[a-z0-9][a-z0-9._/:@-]{0,254}$"
PATH_PATTERN = r"^/[A-Za-z0-9._/-]{0,254}$"
ENV_NAME_PATTERN = r"^[A-Z_][A-Z0-9_]{0,62}$"
S3_PREFIX_PATTERN = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/-]{0,900})?$"

ColumnName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", max_length=64)]


class NodeShape(StrictModel):
    gpu: str = Field(default="H100-SXM-80GB", max_length=64, description="GPU id (knowledge://gpus).")
    gpus: int = Field(default=8, ge=1, le=16, description="GPUs per node.")
    memory_gib: float = Field(default=2000, ge=8, le=65536, description="Host memory per node, GiB.")
    cpu_cores: int = Field(default=192, ge=2, le=1024, description="CPU cores per node.")
    inter_node_gbps: float = Field(default=50.0, ge=0.01, le=10000, description="Network per GPU, GB/s.")


class PlanKubeflowTrainingRequest(StrictModel):
    model: ModelSpec = Field(description="Preset or HF config fields.")
    precision: Precision = Field(default="amp_bf16", description="As in the training planner.")
    sequence_length: int = Field(default=2048, ge=1, le=1_048_576, description="Tokens per sample.")
    global_batch_size: int | None = Field(default=None, ge=1, le=16_777_216, description="Samples per step; omit for the planner's.")
    node: NodeShape = Field(default_factory=NodeShape, description="Node type.")
    nodes: int = Field(default=1, ge=1, le=512, description="TrainJob numNodes.")
    gpus_per_node: int | None = Field(default=None, ge=1, le=16, description="Omit for the fewest that fit.")
    runtime: str = Field(default="auto", max_length=63, description="'auto', 'custom' (emitted) or a stock Trainer v2.3.0 runtime, e.g. torch-distributed.")
    framework: Literal["pytorch_fsdp", "deepspeed"] = Field(default="pytorch_fsdp", description="Sharding framework.")
    allow_cpu_offload: bool = Field(default=False, description="Allow optimizer states in host memory.")
    image: str = Field(default="pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime", max_length=255, pattern=IMAGE_PATTERN, description="Trainer image.")
    script: str = Field(default="/workspace/train.py", max_length=255, pattern=PATH_PATTERN, description="Script in the image.")
    job_name: str = Field(default="train", pattern=DNS_LABEL_PATTERN, max_length=52, description="TrainJob name.")
    namespace: str = Field(default="ml", pattern=DNS_LABEL_PATTERN, max_length=63, description="Namespace.")
    queue: str | None = Field(default=None, pattern=DNS_LABEL_PATTERN, max_length=63, description="Kueue LocalQueue.")
    priority_class: str | None = Field(default=None, pattern=DNS_LABEL_PATTERN, max_length=63, description="Kueue WorkloadPriorityClass.")
    dataset_pvc: str | None = Field(default=None, pattern=DNS_LABEL_PATTERN, max_length=63, description="Dataset PVC (read-only /data).")
    checkpoint_pvc: str | None = Field(default=None, pattern=DNS_LABEL_PATTERN, max_length=63, description="Checkpoint PVC (/checkpoints).")
    dataloader_workers: int | None = Field(default=None, ge=0, le=64, description="Per GPU; omit to fit the CPUs.")
    sample_mib: float = Field(default=0.05, ge=0.0001, le=4096, description="One loaded sample, MiB.")
    legacy_pytorchjob: bool = Field(default=True, description="Also emit the legacy v1 PyTorchJob.")

    def training_spec(self) -> TrainingSpec:
        return TrainingSpec(precision=self.precision, sequence_length=self.sequence_length,
                            global_batch_size=self.global_batch_size)


class DataGate(StrictModel):
    label_column: ColumnName = Field(default="label", description="Label column.")
    expected_columns: list[ColumnName] = Field(default_factory=list, max_length=200, description="Columns the schema requires.")
    min_rows: int = Field(default=1000, ge=1, le=10**12, description="Fewest rows.")
    max_missing_fraction: float = Field(default=0.05, ge=0, le=1, description="Max missing share per column.")
    min_minority_fraction: float = Field(default=0.05, ge=0, le=0.5, description="Min share of the rarest label.")


class BlessingGate(StrictModel):
    metric: Literal["accuracy"] = Field(default="accuracy", description="Held-out metric.")
    min_value: float = Field(default=0.8, ge=0, le=1, description="Floor.")
    min_improvement: float = Field(default=0.0, ge=-1, le=1, description="Gain over the champion (<0: tolerated drop).")


class Triggers(StrictModel):
    schedule_cron: str | None = Field(default="0 3 * * 1", max_length=64, pattern=r"^[0-9*/,\- ]{9,64}$", description="Cron (UTC); null: none.")
    on_new_data: bool = Field(default=True, description="repository_dispatch 'new-data'.")
    on_drift_alert: bool = Field(default=True, description="repository_dispatch 'drift-alert'.")


class DesignMlPipelineRequest(StrictModel):
    name: str = Field(default="churn", pattern=DNS_LABEL_PATTERN, max_length=40, description="Pipeline name.")
    data_uri: str = Field(default="s3://ml-data/churn/latest.csv", max_length=1003, pattern=r"^(s3://|gs://|https://)[A-Za-z0-9._/\-=%]{3,1000}$", description="CSV the pipeline ingests.")
    model: ModelSpec | None = Field(default=None, description="Sizes the training step; omit for a small tabular model (CPU).")
    sequence_length: int = Field(default=2048, ge=1, le=1_048_576, description="Tokens per sample (sizing).")
    gpu: str = Field(default="H100-SXM-80GB", max_length=64, description="Training node GPU id.")
    gpus: int = Field(default=8, ge=1, le=16, description="GPUs on that node.")
    data_gate: DataGate = Field(default_factory=DataGate, description="Schema and statistics thresholds.")
    blessing: BlessingGate = Field(default_factory=BlessingGate, description="Evaluation thresholds against the champion.")
    registry_model_name: str = Field(default="churn", max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$", description="MLflow registered model name.")
    alias: str = Field(default="champion", max_length=63, pattern=r"^[a-z][a-z0-9_\-]{0,62}$", description="MLflow alias the blessed version gets.")
    serving_target: Literal["tf_serving", "kserve", "sagemaker"] = Field(default="kserve", description="Where the blessed model is deployed.")
    triggers: Triggers = Field(default_factory=Triggers, description="What starts a run.")
    role_arn: str = Field(default="arn:aws:iam::123456789012:role/SageMakerPipelineRole", max_length=300, pattern=r"^arn:aws[a-z\-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@\-/]{1,256}$", description="IAM role for SageMaker Pipelines.")
    region: str = Field(default="us-east-1", max_length=32, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="AWS region for SageMaker.")
    artifact_s3_uri: str = Field(default="s3://ml-artifacts/pipelines", pattern=S3_PREFIX_PATTERN, max_length=1024, description="S3 prefix for SageMaker step outputs.")
