"""detail levels: the default answer of every tool fits about 2,000 tokens and still validates against its output
schema (the client checks); summary keeps the headline; full is the whole plan."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from bench.calls import LARGE
from ml_expert_mcp.server.app import build_server
from ml_expert_mcp.server.result_views import PLAN_BUDGET, view

FLOOR = 8_000  # issue 22: every tool's default result


def _text_size(result: Any) -> int:
    return sum(len(getattr(c, "text", "")) for c in result.content)


def test_every_default_answer_fits_and_validates() -> None:
    async def run() -> dict[str, tuple[int, int]]:
        out = {}
        async with Client(build_server()) as client:  # validates structuredContent against the listed schema
            for name, args in LARGE.items():
                if name.startswith("verify_"):
                    continue
                default = await client.call_tool(name, args)
                full = await client.call_tool(name, {**args, "detail": "full"})
                summary = await client.call_tool(name, {**args, "detail": "summary"})
                assert not default.is_error and not full.is_error and not summary.is_error, name
                assert summary.structured_content["summary"], name
                out[name] = (_text_size(default), _text_size(full))
        return out

    sizes = anyio.run(run)
    over = {n: s for n, s in sizes.items() if s[0] > FLOOR}
    assert not over, over
    assert any(full > default for default, full in sizes.values())  # something was elided somewhere


def test_plan_view_elides_long_text_and_lists_it() -> None:
    plan = {"summary": "s", "count": 3, "artifacts": {"script": "x" * 5_000, "name": "ok"},
            "items": [{"yaml": "y" * 2_000} for _ in range(40)]}
    out = view(plan, "plan")
    assert out["artifacts"]["name"] == "ok" and out["artifacts"]["script"].startswith("<omitted: 5,002 chars")
    assert "artifacts.script" in out["omitted"] and out["count"] == 3
    assert len(out["items"]) >= 3 and all(isinstance(i, dict) for i in out["items"])  # items stay objects
    assert len(str(out)) < PLAN_BUDGET * 1.5
    assert view(plan, "full") is plan


@pytest.mark.parametrize("value", [None, 1, True, "short"])
def test_summary_keeps_scalars(value: object) -> None:
    out = view({"summary": "s", "caveats": ["c"], "v": value, "big": {"a": 1}}, "summary")
    assert out == {"summary": "s", "caveats": ["c"], "v": value, "omitted": ["big"]}
