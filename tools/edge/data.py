"""knowledge/edge.toml, validated once: packages, recipes, paths, CPU fallbacks and per-format size constants."""

from __future__ import annotations

import tomllib
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field(pattern=r"^https?://\S+$")
    as_of: date


class Package(_Row):
    name: str
    version: str
    status: str
    note: str


class RecipeRow(_Row):
    id: str
    tolerance: float = Field(gt=0, le=1)
    weight_bits: int
    note: str


class PathRow(_Row):
    id: str
    runtime: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    recipes: tuple[str, ...]
    package: str


class Fallback(_Row):
    path: str
    target: str
    ops: tuple[str, ...]
    note: str


class EdgeData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    package: tuple[Package, ...]
    recipe: tuple[RecipeRow, ...]
    path: tuple[PathRow, ...]
    fallback: tuple[Fallback, ...]
    format: dict[str, dict[str, Any]]

    def recipe_row(self, recipe_id: str) -> RecipeRow:
        return next(r for r in self.recipe if r.id == recipe_id)

    def path_row(self, path_id: str) -> PathRow:
        return next(p for p in self.path if p.id == path_id)


@cache
def edge_data() -> EdgeData:
    text = resources.files("ml_expert_mcp.knowledge").joinpath("edge.toml").read_text(encoding="utf-8")
    return EdgeData.model_validate(tomllib.loads(text))
