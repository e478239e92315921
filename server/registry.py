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
    module: str  # tools.<module> holding the request model and the function
    request: str
    function: str
    open_world: bool = False

    def load(self) -> tuple[type, Callable[[Any], Any]]:
        mod = import_module(f"tools.{self.module}")
        return getattr(mod, self.request), getattr(mod, self.function)


TOOLS: tuple[ToolEntry, ...] = (
    ToolEntry("search_knowledge", "Search the ML knowledge base",
              "Find framework-tree nodes (TF, PyTorch, MLflow, Kubeflow, SageMaker...) by keywords; says which are "
              "deprecated and what replaced them. Call first when a question names a tool or API.",
              "knowledge_search", "SearchKnowledgeRequest", "search_knowledge"),
    ToolEntry("recommend_framework", "Recommend an ML framework",
              "Rank frameworks (PyTorch, Lightning, TensorFlow/Keras, JAX, Transformers, scikit-learn, XGBoost) for a "
              "task, scale, deployment targets and team, with points for and against.",
              "framework_selection", "RecommendFrameworkRequest", "recommend_framework"),
    ToolEntry("estimate_training_memory", "Estimate per-GPU training memory",
              "Per-GPU memory breakdown and fit verdict for a model, precision, optimizer and parallel layout "
              "(DP/TP/PP/CP, ZeRO/FSDP, offload, checkpointing). Use to check one given layout.",
              "memory_estimate", "EstimateTrainingMemoryRequest", "estimate_training_memory"),
    ToolEntry("select_distribution_strategy", "Select a distribution strategy",
              "Search every valid layout (DDP, FSDP, ZeRO, TP x PP x DP x CP, micro-batch, checkpointing, offload) "
              "for a model on a cluster; ranked by predicted throughput with launch command and config.",
              "distribution_strategy", "SelectDistributionRequest", "select_distribution_strategy"),
    ToolEntry("plan_pytorch_training", "Plan a PyTorch training run",
              "Micro-batch, accumulation, AMP dtype, DataLoader, torch.compile/TF32/fused AdamW, LR warm-up + cosine "
              "and the distribution plan for PyTorch (FSDP2/DDP).",
              "pytorch_training", "PlanPyTorchTrainingRequest", "plan_pytorch_training"),
    ToolEntry("plan_tf_training", "Plan a TensorFlow training run",
              "tf.distribute strategy, Keras mixed-precision policy, tf.data pipeline (cache, shuffle, AUTOTUNE), XLA, "
              "batch and LR schedule, TF_CONFIG per worker.",
              "tf_training", "PlanTFTrainingRequest", "plan_tf_training"),
)


def tool_names() -> list[str]:
    return [t.name for t in TOOLS]
