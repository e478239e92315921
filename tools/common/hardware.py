"""Accelerator lookup shared by the training and serving planners."""

from __future__ import annotations

from ml_expert_mcp.knowledge import gpu_catalog
from ml_expert_mcp.knowledge.schema import GpuSpec
from ml_expert_mcp.tools.common.aliases import resolve_name
from ml_expert_mcp.tools.common.errors import PlanInputError


def resolve_gpu(gpu_id: str, field: str = "cluster.gpu") -> GpuSpec:
    """The catalogue entry for gpu_id or a common name of it ("H100", "RTX 4090"; see knowledge/aliases.toml), or
    an input error naming `field` and the candidates or accepted ids. Report the reading with alias_note."""
    catalog = gpu_catalog()
    return catalog[resolve_name("gpu", gpu_id, catalog, field)]


__all__ = ["PlanInputError", "resolve_gpu"]
