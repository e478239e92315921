"""The hardened streamable HTTP transport over real HTTP: start-up refusals, 401/421/403/413 and the success path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.servers import free_port, stop_group, wait_http

TOKEN = "t0k3n-for-tests-0123456789abcdef"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "security-test", "version": "1"}}}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    import os

    return subprocess.Popen([sys.executable, "-m", "ml_expert_mcp.server.cli", "serve", "--http", *args],
                            env={**os.environ, **(env or {})}, cwd=Path(__file__).resolve().parents[1],
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_healthy(port: int, proc: subprocess.Popen) -> None:
    wait_http(f"http://127.0.0.1:{port}/healthz", 15, proc)


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--host", "0.0.0.0"], {"ML_EXPERT_TOKEN": ""}, "bearer token"),
    (["--host", "0.0.0.0"], {"ML_EXPERT_TOKEN": TOKEN}, "--allowed-host"),
    (["--host", "127.0.0.1"], {"ML_EXPERT_TOKEN": "short"}, "at least"),
])
def test_exposed_start_without_safeguards_is_refused(args: list[str], env: dict[str, str], message: str) -> None:
    proc = serve(*args, "--port", str(free_port()), env=env)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            stop_group(proc)
    assert proc.returncode == 2 and message in err


@pytest.fixture(scope="module")
def exposed_server():
    """Bound to all interfaces with a token and one named host, as an operator would run it."""
    port = free_port()
    proc = serve("--host", "0.0.0.0", "--port", str(port), "--allowed-host", f"mcp.example.test:{port}",
                 env={"ML_EXPERT_TOKEN": TOKEN})
    try:
        wait_healthy(port, proc)
        yield port
    finally:
        stop_group(proc)


def post(port: int, body: bytes | dict, **headers: str) -> httpx.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"http://127.0.0.1:{port}/mcp", content=data, headers={**HEADERS, **headers}, timeout=10)


def test_healthz_answers_without_auth_and_says_nothing_else(exposed_server: int) -> None:
    response = httpx.get(f"http://127.0.0.1:{exposed_server}/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_missing_or_wrong_token_is_401(exposed_server: int) -> None:
    host = f"mcp.example.test:{exposed_server}"
    assert post(exposed_server, INIT, Host=host).status_code == 401
    assert post(exposed_server, INIT, Host=host, Authorization="Bearer wrong-token-wrong-token-xx").status_code == 401
    assert post(exposed_server, INIT, Host=host, Authorization=f"Basic {TOKEN}").status_code == 401


def test_foreign_host_is_421_and_foreign_origin_is_403(exposed_server: int) -> None:
    auth = f"Bearer {TOKEN}"
    assert post(exposed_server, INIT, Host="evil.example:80", Authorization=auth).status_code == 421
    assert post(exposed_server, INIT, Host=f"mcp.example.test:{exposed_server}", Authorization=auth,
                Origin="https://evil.example").status_code == 403


def test_oversized_body_is_413(exposed_server: int) -> None:
    big = json.dumps({**INIT, "padding": "x" * (300 * 1024)}).encode()
    response = post(exposed_server, big, Host=f"mcp.example.test:{exposed_server}", Authorization=f"Bearer {TOKEN}")
    assert response.status_code == 413


def test_success_path_with_token_and_named_host(exposed_server: int) -> None:
    response = post(exposed_server, INIT, Host=f"mcp.example.test:{exposed_server}", Authorization=f"Bearer {TOKEN}")
    assert response.status_code == 200 and "ml-expert" in response.text


@pytest.mark.anyio
async def test_mcp_client_with_the_token_lists_and_calls_tools(exposed_server: int) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"})
    async with Client(streamable_http_client(f"http://127.0.0.1:{exposed_server}/mcp", http_client=http)) as client:
        assert len((await client.list_tools()).tools) >= 12
        result = await client.call_tool("search_knowledge", {"query": "kserve", "limit": 1})
        assert not result.is_error
