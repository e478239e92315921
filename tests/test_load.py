"""Load: 50 concurrent MCP clients make 2,000 calls over HTTP (valid and invalid mixed): no protocol error,
every answer right, and the server's memory after the run within a small bound of its memory before."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from bench.http_load import run_load
from tests.servers import free_port, stop_group
from tests.test_http_security import serve, wait_healthy

pytestmark = pytest.mark.slow
MEMORY_GROWTH_BOUND_MIB = 40


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_fifty_clients_two_thousand_calls() -> None:
    port = free_port()
    proc = serve("--port", str(port))
    try:
        wait_healthy(port, proc)
        url = f"http://127.0.0.1:{port}/mcp"
        warm = anyio.run(run_load, url, 10, 200)  # imports, caches and the allocator settle first
        assert not warm.protocol_errors and not warm.wrong_answers
        before = rss_mib(proc.pid)
        result = anyio.run(run_load, url, 50, 2000)
        after = rss_mib(proc.pid)
        print(f"\nload: {result.summary()} rss before {before:.1f} MiB after {after:.1f} MiB")
        assert result.calls == 2000
        assert result.protocol_errors == []
        assert result.wrong_answers == []
        assert after - before < MEMORY_GROWTH_BOUND_MIB
    finally:
        stop_group(proc)
