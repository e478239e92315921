"""Plans returned by the pipeline tools."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ml_expert_mcp.tools.common.models import StrictModel
from ml_expert_mcp.tools.training.inputs import Layout


class HostMemory(StrictModel):
    """Host memory per node, GiB, by what uses it."""

    rank_processes: float = Field(description="Training processes (CUDA context, framework, NCCL buffers).")
    dataloader_workers: float = Field(description="Forked DataLoader workers.")
    prefetch_and_pinned: float = Field(description="Prefetched batches and pinned copies.")
    shm: float = Field(description="/dev/shm (memory-backed emptyDir: counts against the limit).")
    weights_load: float = Field(description="One bf16 weight copy while the checkpoint loads.")
    cpu_offload: float = Field(description="Optimizer states offloaded to the host (0 without offload).")
    headroom: float = Field(description="Margin.")
    total: float = Field(description="Requested memory per node (= limit).")


class KubeflowArtifacts(StrictModel):
    trainjob_yaml: str = Field(description="TrainJob (trainer.kubeflow.org/v1alpha1).")
    runtime_yaml: str | None = Field(description="ClusterTrainingRuntime when a custom one is used; None for a stock runtime.")
    sdk_python: str = Field(description="Kubeflow SDK (kubeflow 0.5) code that submits the same TrainJob.")
    pytorchjob_yaml: str | None = Field(description="LEGACY training-operator v1 PyTorchJob, for clusters still on it.")


class KubeflowTrainingPlan(StrictModel):
    summary: str
    caveats: list[str]
    runtime: str = Field(description="Runtime the TrainJob references.")
    runtime_is_stock: bool = Field(description="A Trainer release runtime (not re-emitted) or ours.")
    nodes: int
    gpus_per_node: int = Field(description="GPUs requested per node.")
    strategy: str = Field(description="Parallel layout from the training planner.")
    layout: Layout
    gpu_memory_gib: float = Field(description="Predicted device memory per GPU, GiB.")
    tokens_per_s: float = Field(description="Predicted job throughput.")
    smaller_counts_rejected: list[int] = Field(description="GPUs per node tried first that did not fit.")
    dataloader_workers: int = Field(description="DataLoader workers per GPU.")
    cpu_per_node: int = Field(description="CPU cores requested per node.")
    host_memory_gib: HostMemory
    shm_gib: float = Field(description="/dev/shm size limit, GiB.")
    sources: list[str] = Field(description="Sources of the constants, with dates.")
    artifacts: KubeflowArtifacts


class Stage(StrictModel):
    name: str
    does: str = Field(description="What the stage does.")
    gate: str | None = Field(description="Condition that must hold for the run to go on; None when not a gate.")
    blocks: list[str] = Field(description="Stages that do not run when the gate fails.")


class TrainingStep(StrictModel):
    gpus: int = Field(description="GPUs for the training step (0 = CPU).")
    cpu: int
    memory_gib: float
    strategy: str = Field(description="Layout from the training planner, or 'single process (CPU)'.")
    sagemaker_instance: str = Field(description="SageMaker training instance type the plan fits on.")
    sagemaker_instance_count: int


class PipelineArtifacts(StrictModel):
    kfp_python: str = Field(description="KFP v2 DSL program (kfp 2.17).")
    kfp_compile: str = Field(description="Command that compiles it to the IR YAML.")
    tfx_python: str = Field(description="TFX 1.21 component graph (not executed here: see caveats).")
    sagemaker_create_pipeline: dict[str, Any] = Field(description="CreatePipeline request (botocore-validated).")
    github_workflow: str = Field(description="GitHub Actions workflow: test, compile, trigger.")


class MlPipelinePlan(StrictModel):
    summary: str
    caveats: list[str]
    stages: list[Stage]
    triggers: list[str]
    training: TrainingStep
    tfx_status: str = Field(description="TFX maintenance status with its source.")
    sources: list[str]
    artifacts: PipelineArtifacts
