"""completion/complete: suggest values for prompt arguments and resource-template variables by prefix."""

from __future__ import annotations

from collections.abc import Callable

from mcp.types import Completion, CompletionArgument, CompletionContext, PromptReference, ResourceTemplateReference

MAX_VALUES = 100  # the protocol's cap per response


def _node_ids() -> list[str]:
    from ml_expert_mcp.knowledge import node_index

    return list(node_index())


def _models() -> list[str]:
    from ml_expert_mcp.knowledge import model_catalog

    return list(model_catalog())


def _gpus() -> list[str]:
    from ml_expert_mcp.knowledge import gpu_catalog

    return list(gpu_catalog())


FRAMEWORKS = ["pytorch_fsdp", "deepspeed", "megatron", "accelerate", "lightning", "tensorflow"]
CLOUDS = ["aws", "gcp", "azure", "kubernetes", "vm", "local", "databricks"]

SOURCES: dict[tuple[str, str, str], Callable[[], list[str]]] = {
    ("resource", "knowledge://node/{node_id}", "node_id"): _node_ids,
    ("prompt", "plan_distributed_training", "model"): _models,
    ("prompt", "plan_distributed_training", "gpu"): _gpus,
    ("prompt", "plan_distributed_training", "framework"): lambda: FRAMEWORKS,
    ("prompt", "design_mlops_platform", "cloud"): lambda: CLOUDS,
}


async def complete(ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument,
                   context: CompletionContext | None) -> Completion | None:
    key = ("prompt", ref.name, argument.name) if isinstance(ref, PromptReference) else \
        ("resource", ref.uri, argument.name)
    source = SOURCES.get(key)
    if source is None:
        return None
    prefix = argument.value.lower()
    matches = sorted(v for v in source() if v.lower().startswith(prefix))
    return Completion(values=matches[:MAX_VALUES], total=len(matches), has_more=len(matches) > MAX_VALUES)
