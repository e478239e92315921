"""Output of design_feature_store."""

from __future__ import annotations

from pydantic import Field

from ml_expert_mcp.tools.common.models import StrictModel


class StoreOption(StrictModel):
    store: str
    fits: bool
    p99_ms: float = Field(description="Planning p99 of one lookup: Feast server + store round trips.")
    memory_gib: float = Field(description="Online data incl. overhead and replicas.")
    nodes: int | None = Field(description="Redis/PostgreSQL nodes for memory and throughput; null: serverless.")
    usd_per_month: float | None = Field(description="Reads + writes + storage where priced (DynamoDB).")
    why: list[str]
    sources: list[str]


class SizingLine(StrictModel):
    view: str
    entities: int
    features: int
    bytes_per_entity: float
    gib: float = Field(description="Before replicas, per the chosen store's layout.")
    rows_per_day: float
    materialize_minutes_per_day: float
    materialize_usd_per_month: float | None


class FeatureStoreArtifacts(StrictModel):
    repo_py: str = Field(description="Feast definitions for production sources.")
    feature_store_yaml: str = Field(description="Production profile.")
    local_repo_py: str = Field(description="Same definitions over local parquet files.")
    local_feature_store_yaml: str = Field(description="local provider, SQLite online, file offline.")
    generate_sample_py: str = Field(description="Writes data/*.parquet matching the schemas (with a late row).")


class FeatureStoreDesign(StrictModel):
    summary: str
    caveats: list[str]
    online_store: str
    offline_store: str
    options: list[StoreOption]
    sizing: list[SizingLine]
    point_in_time: list[str]
    training_serving_skew: list[str]
    feature_services: dict[str, list[str]]
    artifacts: FeatureStoreArtifacts
