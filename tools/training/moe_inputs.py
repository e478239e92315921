"""The `moe` input of the training tools (issue 17): how routed experts are dispatched."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ml_expert_mcp.tools.common.models import StrictModel


class MoeSpec(StrictModel):
    capacity_factor: float | None = Field(default=None, ge=1.0, le=8.0, description="Tokens beyond it dropped; omit: dropless.")
    dispatcher: Literal["alltoall", "flex"] = Field(default="alltoall", description="flex = DeepEP/HybridEP (one copy per node).")
    a2a_overlap: bool = Field(default=False, description="All-to-all hidden behind compute.")
    grouped_gemm: bool = Field(default=True, description="--moe-grouped-gemm.")
