"""Inputs of design_feature_store."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ml_expert_mcp.tools.common.models import StrictModel

NAME = r"^[a-z_][a-z0-9_]{0,62}$"
DType = Literal["int64", "int32", "float64", "float32", "string", "bool", "unix_timestamp"]


class EntitySpec(StrictModel):
    name: str = Field(pattern=NAME, max_length=63)
    join_key: str = Field(pattern=NAME, max_length=63)
    key_type: Literal["int64", "string"] = "int64"
    count: int = Field(ge=1, le=10**11, description="Online keys.")


class FeatureSpec(StrictModel):
    name: str = Field(pattern=NAME, max_length=63)
    dtype: DType
    avg_bytes: int = Field(default=16, ge=1, le=65536, description="string: mean bytes.")


class FeatureViewSpec(StrictModel):
    name: str = Field(pattern=NAME, max_length=63)
    entities: list[Annotated[str, Field(pattern=NAME, max_length=63)]] = Field(min_length=1, max_length=4)
    features: list[FeatureSpec] = Field(min_length=1, max_length=200)
    ttl_seconds: int = Field(ge=0, le=10 * 365 * 86400, description="0 = no expiry.")
    source: Literal["batch", "stream"] = Field(default="batch", description="stream: push + batch.")
    online: bool = True
    updates_per_day: float | None = Field(default=None, ge=0, le=1e12)


class OnDemandSpec(StrictModel):
    name: str = Field(pattern=NAME, max_length=63)
    op: Literal["ratio", "difference", "sum", "product"]
    left: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,62}:[a-z_][a-z0-9_]{0,62}$", max_length=127)
    right: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,62}:[a-z_][a-z0-9_]{0,62}$", max_length=127)


class DesignFeatureStoreRequest(StrictModel):
    project: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", max_length=40, description="Feast project.")
    entities: list[EntitySpec] = Field(min_length=1, max_length=10, description="Keys.")
    feature_views: list[FeatureViewSpec] = Field(min_length=1, max_length=50, description="Views.")
    on_demand: list[OnDemandSpec] = Field(default_factory=list, max_length=20, description="Request-time features.")
    online_qps: float = Field(ge=0, le=1e8, description="Peak lookups/s.")
    p99_ms: float = Field(default=50, ge=1, le=60000, description="p99 target.")
    entities_per_request: int = Field(default=1, ge=1, le=10000, description="Rows per lookup.")
    cloud: Literal["aws", "gcp", "azure", "on_prem", "local"] = Field(default="aws", description="Where it runs.")
    warehouse: Literal["file", "duckdb", "bigquery", "snowflake", "redshift", "spark"] | None = Field(
        default=None, description="Offline store.")
    offline_gb: float = Field(default=10, ge=0, le=1e7, description="Offline GB.")
    replicas: int = Field(default=1, ge=0, le=5, description="Replicas per primary.")
