"""A light load generator for streamable HTTP: raw JSON-RPC over httpx, one session per worker.

The MCP Python client validates every result against the tool's output schema, which costs more client CPU for
a rich plan than for the baseline's echo; on a 2-core machine that would be measured as server slowness. This
generator only parses the SSE frame and checks the JSON-RPC id and isError, so the figure is the server's.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import httpx

from bench.http_load import LoadResult

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
           "MCP-Protocol-Version": "2025-11-25"}


def _payload(response: httpx.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    for line in response.text.splitlines():
        if line.startswith("data:"):
            return json.loads(line[5:])
    raise ValueError(f"no JSON-RPC message in {response.text[:80]!r}")


async def _worker(url: str, name: str, args: dict[str, Any], calls: int, result: LoadResult) -> None:
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            init = await http.post(url, headers=HEADERS, json={
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                           "clientInfo": {"name": "raw-load", "version": "1"}}})
            headers = {**HEADERS, "mcp-session-id": init.headers.get("mcp-session-id", "")}
            await http.post(url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            for i in range(1, calls + 1):
                start = time.perf_counter()
                response = await http.post(url, headers=headers, json={
                    "jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": name, "arguments": args}})
                message = _payload(response)
                result.latencies_s.append(time.perf_counter() - start)
                result.calls += 1
                if message.get("id") != i or message.get("result", {}).get("isError", True):
                    result.wrong_answers.append(str(message)[:160])
    except Exception as err:
        result.protocol_errors.append(f"{type(err).__name__}: {str(err)[:160]}")


async def raw_load(url: str, name: str, args: dict[str, Any], clients: int, total_calls: int) -> LoadResult:
    result = LoadResult()
    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(clients):
            tg.start_soon(_worker, url, name, args, total_calls // clients, result)
    result.seconds = time.perf_counter() - start
    return result
