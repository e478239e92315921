"""Concurrent MCP clients over streamable HTTP: throughput, latency percentiles, and every answer checked.

Used by tests/test_load.py (correctness under load, memory) and bench/mcp_bench.py (figures).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client

from bench.calls import INVALID, SMALL

# The mix: mostly cheap valid calls, a share of heavier ones, and invalid ones; the sequence is fixed.
MIX: list[tuple[str, dict[str, Any], str | None]] = (
    [(name, SMALL[name], None) for name in ("search_knowledge", "recommend_framework", "estimate_training_memory",
                                            "plan_tf_serving", "design_mlflow_platform", "plan_sagemaker_endpoint")]
    + [(name, args, field_name) for name, args, field_name in INVALID]
)


@dataclass
class LoadResult:
    calls: int = 0
    seconds: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)
    wrong_answers: list[str] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        data = sorted(self.latencies_s)
        return data[min(len(data) - 1, int(p * len(data)))] if data else 0.0

    def summary(self) -> dict[str, float]:
        return {"calls": self.calls, "seconds": round(self.seconds, 3),
                "calls_per_s": round(self.calls / self.seconds, 1) if self.seconds else 0.0,
                "p50_ms": round(self.percentile(0.50) * 1e3, 2), "p99_ms": round(self.percentile(0.99) * 1e3, 2),
                "mean_ms": round(statistics.fmean(self.latencies_s) * 1e3, 2) if self.latencies_s else 0.0,
                "protocol_errors": len(self.protocol_errors), "wrong_answers": len(self.wrong_answers)}


def check_answer(result: Any, expect_error_field: str | None) -> str | None:
    text = " ".join(getattr(c, "text", "") for c in result.content)
    if expect_error_field is None:
        return None if not result.is_error and result.structured_content else f"valid call failed: {text[:120]}"
    if not result.is_error or expect_error_field not in text:
        return f"invalid call not refused by field {expect_error_field}: {text[:120]}"
    return None


async def _client(url: str, index: int, calls: int, mix: list, result: LoadResult) -> None:
    try:
        async with Client(url) as client:
            for i in range(calls):
                name, args, field_name = mix[(index * 7 + i) % len(mix)]
                start = time.perf_counter()
                answer = await client.call_tool(name, args)
                result.latencies_s.append(time.perf_counter() - start)
                result.calls += 1
                problem = check_answer(answer, field_name)
                if problem:
                    result.wrong_answers.append(f"{name}: {problem}")
    except Exception as err:  # a protocol/transport failure is what the load test counts
        result.protocol_errors.append(f"client {index}: {type(err).__name__}: {str(err)[:160]}")


async def run_load(url: str, clients: int, total_calls: int, mix: list | None = None) -> LoadResult:
    result = LoadResult()
    per_client = total_calls // clients
    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for index in range(clients):
            tg.start_soon(_client, url, index, per_client, mix or MIX, result)
    result.seconds = time.perf_counter() - start
    return result
