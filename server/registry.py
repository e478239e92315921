"""The tool registry: the marked planner functions, in the order tools/list shows them.

Imported on the first tools/call (server.tool_catalogue), never at start-up: importing the planners builds their
pydantic models. Each tool's name, title and description come from its function (tools.common.tool).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ml_expert_mcp.probes.mlflow_server import verify_mlflow_server
from ml_expert_mcp.probes.tf_serving import verify_tf_serving
from ml_expert_mcp.tools.common.tool import request_model, tool_mark
from ml_expert_mcp.tools.edge.planner import plan_edge_deployment
from ml_expert_mcp.tools.features.design import design_feature_store
from ml_expert_mcp.tools.frameworks.recommend import recommend_framework
from ml_expert_mcp.tools.frameworks.search import search_knowledge
from ml_expert_mcp.tools.mlops.platform import design_mlflow_platform
from ml_expert_mcp.tools.monitoring.design import design_model_monitoring
from ml_expert_mcp.tools.pipelines.kubeflow import plan_kubeflow_training
from ml_expert_mcp.tools.pipelines.pipeline import design_ml_pipeline
from ml_expert_mcp.tools.sagemaker.endpoint import plan_sagemaker_endpoint
from ml_expert_mcp.tools.sagemaker.job import plan_sagemaker_job
from ml_expert_mcp.tools.serving.llm_serving import plan_llm_serving
from ml_expert_mcp.tools.serving.tf_serving import plan_tf_serving
from ml_expert_mcp.tools.training.estimate import estimate_training_memory
from ml_expert_mcp.tools.training.pytorch import plan_pytorch_training
from ml_expert_mcp.tools.training.strategy import select_distribution_strategy
from ml_expert_mcp.tools.training.tensorflow import plan_tf_training

FUNCTIONS: tuple[Callable[..., Any], ...] = (
    search_knowledge,
    recommend_framework,
    estimate_training_memory,
    select_distribution_strategy,
    plan_pytorch_training,
    plan_tf_training,
    plan_tf_serving,
    verify_tf_serving,
    plan_llm_serving,
    plan_sagemaker_job,
    plan_sagemaker_endpoint,
    design_mlflow_platform,
    verify_mlflow_server,
    design_feature_store,
    design_model_monitoring,
    plan_edge_deployment,
    plan_kubeflow_training,
    design_ml_pipeline,
)


@dataclass(frozen=True)
class Tool:
    """One tool as the server sees it, read off its function."""

    function: Callable[..., Any]

    @property
    def name(self) -> str:
        return self.function.__name__

    @property
    def title(self) -> str:
        return tool_mark(self.function).title

    @property
    def open_world(self) -> bool:
        return tool_mark(self.function).open_world

    @property
    def description(self) -> str:
        return " ".join(inspect.cleandoc(self.function.__doc__ or "").split())

    @property
    def request(self) -> type[BaseModel]:
        return request_model(self.function)


TOOLS: tuple[Tool, ...] = tuple(Tool(fn) for fn in FUNCTIONS)


def tool_names() -> list[str]:
    return [t.name for t in TOOLS]
