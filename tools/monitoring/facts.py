"""knowledge/monitoring.toml, validated: the sources the monitoring design cites and the Model Monitor images."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

from ml_expert_mcp.knowledge.schema import Source


class NamedSource(Source):
    id: str = Field(pattern=r"^[a-z0-9_]+$")


class MonitoringFacts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: tuple[NamedSource, ...] = Field(min_length=1)
    image_accounts: dict[str, str]


@cache
def facts() -> MonitoringFacts:
    text = resources.files("ml_expert_mcp.knowledge").joinpath("monitoring.toml").read_text(encoding="utf-8")
    return MonitoringFacts.model_validate(tomllib.loads(text))


def cite(*ids: str) -> list[str]:
    by_id = {s.id: s for s in facts().source}
    return [f"{by_id[i].title} ({by_id[i].url}, as of {by_id[i].as_of})" for i in ids]
