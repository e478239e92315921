"""design_feature_store without Feast: store choice from the load, the sizing by hand from Feast's layouts,
DynamoDB cost by hand, the generated Python compiles, bad input names its field, TTL 0 is said to mean no expiry."""

from __future__ import annotations

import ast
import math

import pytest
import yaml
from mcp import Client

from ml_expert_mcp.server.app import build_server
from ml_expert_mcp.tools.features.design import design_feature_store
from ml_expert_mcp.tools.features.inputs import DesignFeatureStoreRequest

ENTITY = {"name": "customer", "join_key": "customer_id", "count": 1_000_000}
VIEW = {"name": "stats", "entities": ["customer"], "ttl_seconds": 86400,
        "features": [{"name": "spend", "dtype": "float64"}, {"name": "orders", "dtype": "int64"}]}


def design(**kw):
    base = {"project": "shop", "entities": [ENTITY], "feature_views": [VIEW], "online_qps": 5000, "p99_ms": 10}
    base.update(kw)
    return design_feature_store(DesignFeatureStoreRequest.model_validate(base))


def test_issue_example_5000_qps_at_p99_10ms_picks_redis() -> None:
    d = design()
    assert d.online_store == "redis"
    by = {o.store: o for o in d.options}
    assert by["redis"].fits and not by["dynamodb"].fits and not by["postgres"].fits
    assert any("redis.io" in s for s in by["redis"].sources) and any("usenix" in s for s in by["dynamodb"].sources)


def test_relaxed_latency_on_aws_picks_dynamodb_and_costs_it_by_hand() -> None:
    d = design(p99_ms=50)
    assert d.online_store == "dynamodb"
    # item: entity_id(9)+32 hex, event_ts(8)+26, values(6) + map 3 + per feature name + ValueProto (double 9, int64 6) + 1
    item = 9 + 32 + 8 + 26 + 6 + 3 + (5 + 9 + 1) + (6 + 6 + 1)
    rru = 5000 * 0.5 * math.ceil(item / 4096)
    wru = 1_000_000 * math.ceil(item / 1024) / 86400
    gb = 1_000_000 * (item + 100) / 1e9
    usd = rru * 2_592_000 * 0.125 / 1e6 + wru * 2_592_000 * 0.625 / 1e6 + gb * 0.25
    option = next(o for o in d.options if o.store == "dynamodb")
    assert option.usd_per_month == pytest.approx(usd, rel=1e-3)


def test_redis_memory_by_hand() -> None:
    d = design()
    # key: 4 + (8 + len("customer_id") + 8 + 8) + len("shop"); listpack: 7 + fields (4-byte mmh3 name + value + 4)
    key = 4 + 8 + 11 + 8 + 8 + 4
    body = 7 + (4 + 9 + 4) + (4 + 6 + 4) + (len("_ts:stats") + 12 + 4)
    per_entity = (64 + key + body) * 1.2
    line = d.sizing[0]
    assert line.bytes_per_entity == pytest.approx(per_entity, abs=0.1)
    redis = next(o for o in d.options if o.store == "redis")
    assert redis.memory_gib == pytest.approx(1_000_000 * per_entity * 2 / 1024**3, rel=1e-3)  # one replica


def test_other_clouds_and_local() -> None:
    assert design(cloud="gcp", p99_ms=100, online_qps=200).online_store == "postgres"
    assert design(cloud="local", online_qps=5).online_store == "sqlite"
    assert design(cloud="gcp", p99_ms=100, online_qps=200).offline_store == "bigquery"
    assert design(offline_gb=5000, cloud="aws").offline_store == "spark"


def test_generated_code_parses_and_ttl_zero_means_no_expiry() -> None:
    views = [VIEW, {**VIEW, "name": "forever", "ttl_seconds": 0, "source": "stream"}]
    d = design(feature_views=views, on_demand=[{"name": "spend_per_order", "op": "ratio", "left": "stats:spend",
                                                 "right": "stats:orders"}])
    for text in (d.artifacts.repo_py, d.artifacts.local_repo_py, d.artifacts.generate_sample_py):
        ast.parse(text)
    assert "ttl=timedelta(0),  # 0 = no expiry in Feast" in d.artifacts.local_repo_py
    assert any("forever" in p and "no expiry" in p for p in d.point_in_time)
    assert "PushSource(name=\"forever_push\"" in d.artifacts.repo_py
    local = yaml.safe_load(d.artifacts.local_feature_store_yaml)
    assert local["online_store"]["type"] == "sqlite" and local["provider"] == "local"
    assert d.feature_services["shop_serving"][-1] == "spend_per_order_view"


@pytest.mark.anyio
@pytest.mark.parametrize(("patch", "field"), [
    ({"feature_views": [{**VIEW, "ttl_seconds": -1}]}, "ttl_seconds"),
    ({"entities": [{"name": "customer", "count": 10}]}, "join_key"),
    ({"feature_views": [{**VIEW, "entities": ["nobody"]}]}, "feature_views.0.entities.0"),
    ({"on_demand": [{"name": "x", "op": "ratio", "left": "stats:spend", "right": "stats:nope"}]}, "on_demand.0.right"),
    ({"p99_ms": 0}, "p99_ms"),
])
async def test_bad_input_is_an_error_naming_the_field(patch: dict, field: str) -> None:
    base = {"project": "shop", "entities": [ENTITY], "feature_views": [VIEW], "online_qps": 5000}
    async with Client(build_server()) as client:
        result = await client.call_tool("design_feature_store", {**base, **patch})
        assert result.is_error and field in result.content[0].text, result.content[0].text
