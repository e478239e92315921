"""Output of plan_edge_deployment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ml_expert_mcp.tools.common.models import Plan, StrictModel
from ml_expert_mcp.tools.edge.inputs import Path, Recipe


class EdgeArtifacts(StrictModel):
    install: str = Field(description="What to install for the conversion.")
    conversion: str = Field(description="Conversion script (python) or command (shell).")
    conversion_kind: Literal["python", "shell"]
    artifact_name: str = Field(description="File or folder the conversion writes.")
    loading_snippet: str = Field(description="Code that loads and runs the artifact on the first target.")
    snippet_language: str


class EdgeOption(StrictModel):
    path: Path
    recipe: Recipe
    artifact_size_bytes: int
    expected_max_error: float
    verdict: str = Field(description="chosen, fits, or why not.")


class EdgeDeploymentPlan(Plan):
    path: Path
    runtime: str
    recipe: Recipe
    artifact_size_bytes: int = Field(description="Whole artifact (all files), bytes.")
    parameters: int
    expected_max_error: float = Field(description="Recipe's max|y-y_fp32|/max|y_fp32|.")
    cpu_fallback_ops: list[str] = Field(description="target: op that runs on CPU.")
    options: list[EdgeOption] = Field(description="Paths x recipes, best first.")
    sources: list[str] = Field(description="url (as of date).")
    artifacts: EdgeArtifacts
