"""The tool catalogue: one entry per tool, naming the request model, the plan function and its MCP metadata."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any


@dataclass(frozen=True)
class ToolEntry:
    name: str
    title: str
    description: str
    module: str  # dotted module holding the request model and the function (tools.* pure, probes.* HTTP)
    request: str
    function: str
    open_world: bool = False

    def load(self) -> tuple[type, Callable[[Any], Any]]:
        mod = import_module(self.module)
        return getattr(mod, self.request), getattr(mod, self.function)


TOOLS: tuple[ToolEntry, ...] = (
    ToolEntry("search_knowledge", "Search the ML knowledge base",
              "Find framework-tree nodes (TF, PyTorch, MLflow, Kubeflow, SageMaker...) by keywords; says which are "
              "deprecated and what replaced them. Call first when a question names a tool or API.",
              "tools.knowledge_search", "SearchKnowledgeRequest", "search_knowledge"),
    ToolEntry("recommend_framework", "Recommend an ML framework",
              "Rank frameworks (PyTorch, Lightning, TensorFlow/Keras, JAX, Transformers, scikit-learn, XGBoost) for a "
              "task, scale, deployment targets and team, with points for and against.",
              "tools.framework_selection", "RecommendFrameworkRequest", "recommend_framework"),
    ToolEntry("estimate_training_memory", "Estimate per-GPU training memory",
              "Per-GPU memory breakdown and fit verdict for a model, precision, optimizer and parallel layout "
              "(DP/TP/PP/CP, ZeRO/FSDP, offload, checkpointing). Use to check one given layout.",
              "tools.memory_estimate", "EstimateTrainingMemoryRequest", "estimate_training_memory"),
    ToolEntry("select_distribution_strategy", "Select a distribution strategy",
              "Search every valid layout (DDP, FSDP, ZeRO, TP x PP x DP x CP, micro-batch, checkpointing, offload) "
              "for a model on a cluster; ranked by predicted throughput with launch command and config.",
              "tools.distribution_strategy", "SelectDistributionRequest", "select_distribution_strategy"),
    ToolEntry("plan_pytorch_training", "Plan a PyTorch training run",
              "Micro-batch, accumulation, AMP dtype, DataLoader, torch.compile/TF32/fused AdamW, LR warm-up + cosine "
              "and the distribution plan for PyTorch (FSDP2/DDP).",
              "tools.pytorch_training", "PlanPyTorchTrainingRequest", "plan_pytorch_training"),
    ToolEntry("plan_tf_training", "Plan a TensorFlow training run",
              "tf.distribute strategy, Keras mixed-precision policy, tf.data pipeline (cache, shuffle, AUTOTUNE), XLA, "
              "batch and LR schedule, TF_CONFIG per worker.",
              "tools.tf_training", "PlanTFTrainingRequest", "plan_tf_training"),
    ToolEntry("plan_tf_serving", "Plan a TensorFlow Serving deployment",
              "Batching (max_batch_size, timeout, threads) from a latency curve and a p95/p99 SLA, replicas, "
              "models.config with version labels, batching and monitoring configs, command line, Kubernetes "
              "manifests (Deployment, Service, HPA, PDB) and a canary plan.",
              "tools.tf_serving", "PlanTFServingRequest", "plan_tf_serving"),
    ToolEntry("verify_tf_serving", "Verify a running TensorFlow Serving",
              "Read a TF Serving REST API (model status, labels, metadata) and report whether the served versions "
              "and labels match a plan. Contacts the given URL.",
              "probes.tf_serving", "VerifyTFServingRequest", "verify_tf_serving", open_world=True),
    ToolEntry("plan_sagemaker_job", "Plan a SageMaker training job",
              "Cheapest ml.* instance type and count the training plan fits on within time and cost limits, with "
              "the CreateTrainingJob request (spot, checkpoints, input mode, volume), ModelTrainer v3 code, cost and "
              "time, and an optional tuning job. Requests are validated against botocore's model.",
              "tools.sagemaker_job", "PlanSageMakerJobRequest", "plan_sagemaker_job"),
    ToolEntry("plan_sagemaker_endpoint", "Plan a SageMaker endpoint",
              "Instance type and count for a latency SLA (or serverless/async), with CreateModel, "
              "CreateEndpointConfig, CreateEndpoint and target-tracking autoscaling requests, validated by botocore.",
              "tools.sagemaker_endpoint", "PlanSageMakerEndpointRequest", "plan_sagemaker_endpoint"),
    ToolEntry("design_mlflow_platform", "Design an MLflow platform",
              "MLflow 3 tracking server sized from the load: the mlflow server command, stores, auth, docker-compose "
              "or Kubernetes manifests with secrets referenced, storage lifecycle, alias-based promotion script and CI "
              "workflow, Prometheus metrics and alerts.",
              "tools.mlflow_platform", "DesignMLflowRequest", "design_mlflow_platform"),
    ToolEntry("verify_mlflow_server", "Verify a running MLflow server",
              "Probe a tracking server (health, version, REST API, auth, /metrics) and report whether it matches a "
              "design. Contacts the given URL.",
              "probes.mlflow_server", "VerifyMLflowRequest", "verify_mlflow_server", open_world=True),
)


def tool_names() -> list[str]:
    return [t.name for t in TOOLS]
