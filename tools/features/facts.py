"""knowledge/feature_stores.toml, validated: each online store's planning figures with their sources."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

from ml_expert_mcp.knowledge.schema import Source


class StoreFacts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    feast_type: str
    clouds: tuple[str, ...]
    store_p99_ms: float = Field(gt=0)
    round_trips: str
    batch_limit: int = Field(ge=0, description="Keys per call; 0: one call per request.")
    ops_per_node_s: float = Field(ge=0)
    memory_bound: bool
    read_usd_per_million: float | None = None
    write_usd_per_million: float | None = None
    storage_usd_per_gb_month: float | None = None
    item_overhead_bytes: int | None = None
    sources: tuple[Source, ...] = Field(min_length=1)


class FeatureStoreFacts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    feast_server_overhead_ms: float
    feast_server_overhead_source: Source
    materialize_rows_per_s: float
    materialize_rows_per_s_source: Source
    store: tuple[StoreFacts, ...]


@cache
def facts() -> FeatureStoreFacts:
    text = resources.files("ml_expert_mcp.knowledge").joinpath("feature_stores.toml").read_text(encoding="utf-8")
    return FeatureStoreFacts.model_validate(tomllib.loads(text))


def store(store_id: str) -> StoreFacts:
    return next(s for s in facts().store if s.id == store_id)


def cite(source: Source) -> str:
    return f"{source.title} ({source.url}, as of {source.as_of})"
