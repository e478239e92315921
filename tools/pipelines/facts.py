"""The sourced facts the pipeline planners use: knowledge/kubeflow.toml, validated on load."""

from __future__ import annotations

import datetime as dt
import tomllib
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str
    as_of: dt.date


class StockRuntime(_Row):
    name: str
    framework: str
    trainer: Literal["custom", "builtin"]
    sized: bool
    model_preset: str | None = None


class HostMemoryFact(_Row):
    name: str
    value: float
    note: str


class KubeflowFacts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    trainer_release: str
    trainer_release_source: str
    trainer_release_as_of: dt.date
    legacy_operator_release: str
    legacy_operator_source: str
    legacy_operator_as_of: dt.date
    torchtune_entrypoint: tuple[str, ...]
    torchtune_entrypoint_source: str
    runtime: tuple[StockRuntime, ...]
    host_memory: tuple[HostMemoryFact, ...]

    def runtimes(self) -> dict[str, StockRuntime]:
        return {r.name: r for r in self.runtime}

    def host(self, name: str) -> float:
        return next(f.value for f in self.host_memory if f.name == name)


@cache
def kubeflow_facts() -> KubeflowFacts:
    text = resources.files("ml_expert_mcp.knowledge").joinpath("kubeflow.toml").read_text(encoding="utf-8")
    return KubeflowFacts.model_validate(tomllib.loads(text))
