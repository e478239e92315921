"""tools/list: served from the generated file, identical to the live registry's listing, and within its size budget."""

from __future__ import annotations

import json

import anyio
import pytest
from mcp import Client

from ml_expert_mcp.server.app import build_server
from ml_expert_mcp.server.tool_listing import LISTING_FILE, fingerprint, generate, stored_listing

# Characters of each tool's tools/list entry (compact JSON), the budget of issue 12 item 6: the 12 first tools
# cost 64,881 together (from 112,762 before compaction). A tool added later is allowed NEW_TOOL_CHARS unless
# listed here; growing a tool means raising its line, with the reason beside it.
TOOL_CHARS = {
    "search_knowledge": 800, "recommend_framework": 2_200, "estimate_training_memory": 8_000,
    "select_distribution_strategy": 6_100, "plan_pytorch_training": 6_400, "plan_tf_training": 7_000,
    "plan_tf_serving": 6_400, "verify_tf_serving": 2_100, "plan_sagemaker_job": 12_800,
    "plan_sagemaker_endpoint": 7_300, "design_mlflow_platform": 6_000, "verify_mlflow_server": 1_900,
    # the training planner's ModelSpec (1.8k) that sizes the job, plus node shape, Kueue and volume names:
    "plan_kubeflow_training": 7_000,
    # ModelSpec again (sizing the training step), data and blessing gates, triggers, AWS role/region/prefix:
    "design_ml_pipeline": 6_700,
}
# issue 17: training.finetuning (method, rank, targets, base quantization, levers), training.moe and
# layout.expert_parallel / expert_tensor_parallel cost ~2,300-2,600 characters in every tool taking TrainingSpec
# (plan_pytorch_training also returns the fine-tuning artifacts).
for _name, _extra in (("estimate_training_memory", 2_600), ("select_distribution_strategy", 2_300),
                      ("plan_pytorch_training", 2_700), ("plan_tf_training", 2_300), ("plan_sagemaker_job", 2_300)):
    TOOL_CHARS[_name] += _extra
# issue 18: plan_sagemaker_endpoint's optional llm input (plan_llm_serving's model fields, weight/KV formats, token
# lengths, p95 TTFT/TPOT targets: ~2,050 characters) sizes LLM endpoints by tokens and KV cache; sla/cost optional.
TOOL_CHARS["plan_sagemaker_endpoint"] += 2_300
NEW_TOOL_CHARS = 4_500


def _wire_size(result: object) -> int:
    return len(result.model_dump_json(by_alias=True, exclude_none=True))  # type: ignore[attr-defined]


def test_generated_listing_is_current_and_equal_to_the_live_one() -> None:
    stored = json.loads(LISTING_FILE.read_text())
    hint = "regenerate with: python -m ml_expert_mcp.server.tool_listing"
    assert stored["fingerprint"] == fingerprint(), f"server/tools_list.json is stale; {hint}"
    assert stored["tools"] == anyio.run(generate), hint
    assert stored_listing() == stored["tools"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_tools_list_within_budget(mode: str) -> None:
    async def listed() -> object:
        async with Client(build_server(), mode=mode) as client:
            return await client.list_tools()

    result = anyio.run(listed)
    sizes = {t.name: len(t.model_dump_json(by_alias=True, exclude_none=True)) for t in result.tools}  # type: ignore[attr-defined]
    over = {n: s for n, s in sizes.items() if s > TOOL_CHARS.get(n, NEW_TOOL_CHARS)}
    assert not over, f"tools over their tools/list budget (chars): {over}"
    budget = sum(TOOL_CHARS.get(n, NEW_TOOL_CHARS) for n in sizes) + 1_000  # + the envelope
    assert _wire_size(result) <= budget
    assert all(t.output_schema for t in result.tools)  # type: ignore[attr-defined]
