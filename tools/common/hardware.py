"""Accelerator lookup shared by the training and serving planners."""

from __future__ import annotations

from ml_expert_mcp.knowledge import gpu_catalog
from ml_expert_mcp.knowledge.schema import GpuSpec
from ml_expert_mcp.tools.common.errors import PlanInputError


def resolve_gpu(gpu_id: str, field: str = "cluster.gpu") -> GpuSpec:
    """The catalogue entry for gpu_id, or an input error naming `field` and the accepted ids."""
    catalog = gpu_catalog()
    gpu = catalog.get(gpu_id)
    if gpu is None:
        raise PlanInputError(field, f"unknown GPU {gpu_id!r}; accepted: {', '.join(sorted(catalog))}")
    return gpu
