"""Issue 15, findings 4 and 5, against the real server (`ml-expert serve --http`, uvicorn) on loopback: slowloris
under a 1,024 file limit, `initialize` floods, and one client's logging/setLevel. Every attack loop is bounded.

The attacker connects from 127.0.0.2 (any 127/8 address is loopback on Linux), the legitimate client from
127.0.0.1, as two hosts would.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mcp import Client

from ml_expert_mcp.server.app import build_server
from tests.servers import free_port, stop_group, wait_http

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
FILE_LIMIT = 1024


def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


@contextlib.contextmanager
def server(tmp_path: Path, *args: str) -> Iterator[tuple[int, subprocess.Popen, Path]]:
    """`ml-expert serve --http` with soft and hard file limits of 1,024; stderr to a log file."""
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--http", "--port", str(port), *args],
                                cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=_limit_files)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 30, proc, log)
        yield port, proc, log
    finally:
        stop_group(proc)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def legit_initialize(port: int, timeout: float = 5.0) -> int | None:
    """Status of one initialize from 127.0.0.1, or None when no answer came in `timeout` seconds."""
    try:
        return httpx.post(f"http://127.0.0.1:{port}/mcp", json=INIT, headers=HEADERS, timeout=timeout).status_code
    except httpx.HTTPError:
        return None


def _raise_own_file_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"this test opens {need} sockets; the hard file limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def test_slowloris_under_a_1024_file_limit_leaves_legitimate_clients_served(tmp_path: Path) -> None:
    attackers = 1100
    _raise_own_file_limit(attackers + 256)
    with server(tmp_path, "--header-timeout", "3") as (port, proc, log):
        socks: list[socket.socket] = []
        try:
            for _ in range(attackers):
                s = socket.socket()
                s.bind(("127.0.0.2", 0))
                s.settimeout(2)
                try:
                    s.connect(("127.0.0.1", port))
                    s.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                except OSError:
                    s.close()
                    continue
                socks.append(s)
            served, closed, start = [], 0, time.monotonic()
            for _ in range(8):  # 8 rounds of one header line per open connection, 1 s apart
                for s in list(socks):
                    try:
                        s.send(b"X-Slow: 1\r\n")
                    except OSError:
                        socks.remove(s)
                        s.close()
                        closed += 1
                served.append(legit_initialize(port))
                time.sleep(1)
            elapsed = time.monotonic() - start
        finally:
            for s in socks:
                s.close()
        log_bytes = log.stat().st_size
    assert served and all(status == 200 for status in served), served
    assert closed >= attackers - 64, f"only {closed} of {attackers} slow connections closed in {elapsed:.0f} s"
    assert log_bytes < 64 * 1024, f"log grew {log_bytes} bytes"


def test_header_timeout_closes_a_single_slow_client(tmp_path: Path) -> None:
    with server(tmp_path, "--header-timeout", "2") as (port, proc, log):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.send(b"GET /healthz HTTP/1.1\r\n")
        start = time.monotonic()
        with contextlib.suppress(OSError):
            while s.recv(1024):  # dripping nothing more: the server must hang up
                pass
        closed_after = time.monotonic() - start
        s.close()
        assert legit_initialize(port) == 200
    assert 1.5 < closed_after < 6, closed_after


def test_a_dripped_body_is_cut_off_too(tmp_path: Path) -> None:
    with server(tmp_path, "--header-timeout", "2") as (port, proc, log):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{")
        start, answer = time.monotonic(), b""
        with contextlib.suppress(OSError):
            for _ in range(12):  # one body byte a second: the request can never finish in time
                time.sleep(1)
                s.send(b" ")
            while chunk := s.recv(1024):
                answer += chunk
        closed_after = time.monotonic() - start
        s.close()
        assert legit_initialize(port) == 200
    assert closed_after < 8, f"a dripped body held the connection {closed_after:.0f} s"


def test_initialize_flood_keeps_no_sessions(tmp_path: Path) -> None:
    floods = 2000
    with server(tmp_path) as (port, proc, log):
        with httpx.Client(timeout=10) as http:
            for _ in range(20):  # warm-up: first requests import and allocate what every request needs
                http.post(f"http://127.0.0.1:{port}/mcp", json=INIT, headers=HEADERS)
            before = rss_mb(proc.pid)
            statuses = set()
            start = time.monotonic()
            for _ in range(floods):
                response = http.post(f"http://127.0.0.1:{port}/mcp", json=INIT, headers=HEADERS)
                statuses.add(response.status_code)
                assert "mcp-session-id" not in response.headers
            elapsed = time.monotonic() - start
            after = rss_mb(proc.pid)
        assert statuses == {200}
        assert legit_initialize(port) == 200
        get = httpx.get(f"http://127.0.0.1:{port}/mcp", headers={"Accept": "text/event-stream"}, timeout=5)
        assert get.status_code == 405  # no standalone stream held open for ever
    assert after - before < 40, f"RSS {before:.0f} -> {after:.0f} MB after {floods} initialize calls in {elapsed:.0f} s"


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_one_clients_log_level_changes_nothing_for_the_others() -> None:
    names = ("mcp", "server", "tools", "ml_expert_mcp")
    levels = {n: logging.getLogger(n).level for n in names}
    try:
        async with Client(build_server(), mode="legacy") as client:  # logging/setLevel is a 2025-11-25 method
            await client.set_logging_level("debug")
        assert {n: logging.getLogger(n).level for n in names} == levels
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


def test_the_connection_limits_reach_uvicorn() -> None:
    from ml_expert_mcp.server.http_guard import MAX_HEADER_BYTES, ConnectionLimits, uvicorn_settings

    settings = uvicorn_settings(ConnectionLimits())
    assert settings["h11_max_incomplete_event_size"] == MAX_HEADER_BYTES
    assert settings["limit_concurrency"] > ConnectionLimits().max_connections  # idle slots never 503 a request
    assert os.path.basename(sys.modules[settings["http"].__module__].__file__ or "") == "http_guard.py"
