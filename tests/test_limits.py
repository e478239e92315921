"""Every input is bounded, so no call can ask for unbounded work: strings, lists, maps and numbers all have
ceilings in the schema the server validates with (tools/list leaves the large ones out, the server still enforces
them), and the largest requests the bounds allow stay small."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from ml_expert_mcp.server.app import build_server
from ml_expert_mcp.tools.serving.tf_serving import PlanTFServingRequest, plan_tf_serving
from ml_expert_mcp.tools.training.strategy import SelectDistributionRequest, select_distribution_strategy
from tests.schema_walk import full_input_schemas, unbounded


def test_every_input_schema_is_bounded() -> None:
    problems = []
    for name, schema in full_input_schemas().items():  # the validated schemas: tools/list leaves the guards out
        problems += unbounded(schema, name, schema.get("$defs", {}), [])
    assert problems == []


@pytest.mark.anyio
async def test_a_guard_left_out_of_tools_list_is_still_enforced_and_named() -> None:
    async with Client(build_server()) as client:
        listed = {t.name: t.input_schema for t in (await client.list_tools()).tools}
        assert "maxLength" not in json.dumps(listed["estimate_training_memory"]["$defs"]["ModelSpec"]["properties"]["preset"])
        result = await client.call_tool("estimate_training_memory", {"model": {"preset": "x" * 300}})
        assert result.is_error and "preset" in result.content[0].text and "256" in result.content[0].text
        assert "maximum" not in listed["plan_tf_training"]["properties"]["dataset_examples"]
        result = await client.call_tool("plan_tf_training", {"model": {"preset": "resnet-50"}, "dataset_examples": 10**13})
        assert result.is_error and "dataset_examples" in result.content[0].text
        assert "pattern" not in json.dumps(listed["verify_tf_serving"]["properties"]["base_url"])
        result = await client.call_tool("verify_tf_serving", {"base_url": "ftp://x", "model_name": "m"})
        assert result.is_error and "base_url" in result.content[0].text


def test_walker_finds_an_unbounded_field() -> None:  # the check above can fail
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "array", "items": {}}}}
    assert len(unbounded(schema, "t", {}, [])) == 2


def test_largest_training_search_the_bounds_allow_stays_small() -> None:
    biggest = SelectDistributionRequest.model_validate({
        "model": {"hidden_size": 65536, "num_hidden_layers": 1024, "num_attention_heads": 1024,
                  "intermediate_size": 524288, "vocab_size": 1_048_576},
        "cluster": {"nodes": 4096, "gpus_per_node": 16}, "framework": "megatron"})
    assert select_distribution_strategy(biggest).layouts_evaluated < 5000
    many_divisors = SelectDistributionRequest.model_validate({
        "model": {"hidden_size": 4096, "num_hidden_layers": 960, "num_attention_heads": 64,
                  "intermediate_size": 16384, "vocab_size": 32000},
        "cluster": {"nodes": 2520, "gpus_per_node": 16}, "framework": "megatron"})
    assert select_distribution_strategy(many_divisors).layouts_evaluated < 5000


def test_largest_serving_search_is_bounded() -> None:
    points = [{"batch_size": 2**k, "latency_ms": 1 + 0.01 * 2**k} for k in range(16)]
    plan = plan_tf_serving(PlanTFServingRequest.model_validate({
        "model": {"name": "m", "base_path": "/m"}, "traffic": {"peak_rps": 1e7}, "sla": {"latency_ms": 600000},
        "cost": {"measured": points}, "replica": {"gpu": "H100-SXM-80GB", "cpu_cores": 256}}))
    assert plan.batching.max_batch_size <= 4096 and len(plan.candidates) <= 6


@pytest.mark.anyio
async def test_oversized_list_is_refused_with_its_bound() -> None:
    async with Client(build_server()) as client:
        result = await client.call_tool("plan_tf_serving", {
            "model": {"name": "m", "base_path": "/m", "versions": [{"version": v} for v in range(1, 30)]},
            "traffic": {"peak_rps": 10}, "sla": {"latency_ms": 50},
            "cost": {"measured": [{"batch_size": 1, "latency_ms": 5}]}})
        assert result.is_error and "versions" in result.content[0].text and "8" in result.content[0].text
