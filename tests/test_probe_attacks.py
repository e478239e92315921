"""The verify tools against hostile servers: real HTTP servers on 127.0.0.1 send each attack's reply, and the tools
are called through the MCP server as an assistant would call them.

Issue 15: decompression bombs (1), SSRF gaps (6), a whole-call time limit, credentials in the URL and hostile TF
Serving replies (8); issue 16: one TLS context for every probe.
"""

from __future__ import annotations

import gzip
import json
import socket
import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mcp import Client

from ml_expert_mcp.probes import http_json
from ml_expert_mcp.server.app import build_server

Reply = Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def hostile_server(reply: Reply) -> Iterator[tuple[str, list[dict]]]:
    """A threaded HTTP server on 127.0.0.1 whose every GET is answered by `reply`; yields its URL and the requests."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall between them

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            with suppress(BrokenPipeError, ConnectionResetError):
                reply(self)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def send(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200, **headers: str) -> None:
    handler.send_response(status)
    for k, v in {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers}.items():
        handler.send_header(k.replace("_", "-"), v)
    handler.end_headers()
    handler.wfile.write(body)


async def call(tool: str, args: dict) -> tuple[bool, str, dict | None]:
    async with Client(build_server(cache_size=0)) as client:
        result = await client.call_tool(tool, args)
    return result.is_error, " ".join(getattr(c, "text", "") for c in result.content), result.structured_content


def tool_args(tool: str, url: str, **extra: object) -> dict:
    if tool == "verify_tf_serving":
        return {"base_url": url, "model_name": "m", **extra}
    return {"tracking_uri": url, **extra}


BOTH = pytest.mark.parametrize("tool", ["verify_tf_serving", "verify_mlflow_server"])


# --- 1. decompression bomb -----------------------------------------------------------------------------------------

BOMB_DECODED = 256 * 1024 * 1024  # before the fix httpx inflated all of it in one call
BOMB = gzip.compress(gzip.compress(b"\0" * BOMB_DECODED, 9), 9)  # a few KiB on the wire
SINGLE = gzip.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]", 9)


@pytest.mark.anyio
@BOTH
@pytest.mark.parametrize(("body", "coding"), [(BOMB, "gzip, gzip"), (SINGLE, "gzip"), (BOMB, "br")])
async def test_decompression_bomb_is_never_inflated(tool: str, body: bytes, coding: str) -> None:
    assert len(BOMB) < 300_000
    with hostile_server(lambda h: send(h, body, Content_Encoding=coding)) as (url, seen):
        tracemalloc.start()
        try:
            is_error, text, out = await call(tool, tool_args(tool, url))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert seen and all(r.get("accept-encoding") == "identity" for r in seen)
    assert not is_error, text
    assert peak < 24 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB while probing a {len(body)}-byte reply"
    assert "refused" in text or f"over {http_json.MAX_BYTES} bytes" in text


# --- 8. whole-call time limit ----------------------------------------------------------------------------------------

def drip(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "40")
    handler.end_headers()
    for _ in range(40):  # one byte every 0.3 s: each read is well inside timeout_s, the whole body is not
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(0.3)


@pytest.mark.anyio
@BOTH
async def test_a_dripping_server_cannot_hold_a_call_past_its_limit(tool: str) -> None:
    with hostile_server(drip) as (url, _):
        start = time.monotonic()
        is_error, text, out = await call(tool, tool_args(tool, url, timeout_s=1))
        elapsed = time.monotonic() - start
    assert not is_error and "within" in text
    assert elapsed < http_json.CALL_LIMIT_FACTOR * 1 + 2.5, f"{elapsed:.1f} s with timeout_s 1"


# --- 8. credentials in the URL ---------------------------------------------------------------------------------------

@pytest.mark.anyio
@BOTH
async def test_credentials_in_the_url_are_sent_but_never_echoed(tool: str) -> None:
    with hostile_server(lambda h: send(h, b'{"error": "nope"}', status=500)) as (url, seen):
        secret_url = url.replace("http://", "http://probe-user:s3cr3t-Pa55@")
        is_error, text, out = await call(tool, tool_args(tool, secret_url))
    assert seen and seen[0]["authorization"].startswith("Basic ")
    assert "s3cr3t" not in text and "s3cr3t" not in json.dumps(out)
    closed = secret_url.rsplit(":", 1)[0] + f":{_closed_port()}"
    is_error, text, out = await call(tool, tool_args(tool, closed, timeout_s=1))
    assert "s3cr3t" not in text and "probe-user" not in text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- 8. hostile TF Serving replies -----------------------------------------------------------------------------------

HOSTILE_BODIES = [
    {"model_version_status": [{"version": "abc", "state": "AVAILABLE"}, 5, {"version": {"x": 1}},
                              {"version": "1e999"}, {"version": "9" * 5000}, {"version": True}]},
    {"model_version_status": "not a list"},
    [1, 2, 3],
    {"model_version_status": [{"version": "1", "state": ["AVAILABLE"], "status": "broken"}],
     "metadata": [], "signature_def": 7},
]


@pytest.mark.anyio
@pytest.mark.parametrize("body", HOSTILE_BODIES)
async def test_hostile_tf_serving_reply_is_reported_not_raised(body: object) -> None:
    def reply(h: BaseHTTPRequestHandler) -> None:
        if h.path.endswith("/metadata"):
            send(h, json.dumps({"metadata": {"signature_def": {"signature_def": [1, {"a": 2}]}}}).encode())
        else:
            send(h, json.dumps(body).encode())

    with hostile_server(reply) as (url, _):
        is_error, text, out = await call("verify_tf_serving", tool_args(
            "verify_tf_serving", url, expected_versions=[{"version": 1, "label": "stable"}]))
    assert not is_error, text
    assert out is not None and not out["matches"] and out["problems"]


# --- 6. SSRF guard ---------------------------------------------------------------------------------------------------

@pytest.mark.anyio
@BOTH
@pytest.mark.parametrize("url", ["http://100.100.100.200", "http://100.64.0.1:8080", "http://[::ffff:100.100.100.200]",
                                 "http://[64:ff9b::a9fe:a9fe]", "http://[::ffff:169.254.169.254]",
                                 "http://metadata.tencentyun.com"])
async def test_metadata_and_shared_addresses_are_refused(tool: str, url: str) -> None:
    is_error, text, _ = await call(tool, tool_args(tool, url, timeout_s=0.5))
    assert is_error and ("base_url" in text or "tracking_uri" in text), text


@pytest.mark.anyio
@BOTH
async def test_a_name_that_does_not_resolve_is_refused(tool: str) -> None:
    is_error, text, _ = await call(tool, tool_args(tool, "http://no-such-host.invalid:8501", timeout_s=0.5))
    assert is_error and "does not resolve" in text


@pytest.mark.anyio
@BOTH
async def test_dns_rebinding_connects_to_the_checked_address(tool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name first resolves to the server on 127.0.0.1, then (a rebinding DNS answer) to the metadata address:
    the probe must resolve once and connect to the address it checked."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host: object, port: object, *args: object, **kwargs: object) -> list:
        if host in ("rebind.test", b"rebind.test"):  # anyio passes the IDNA-encoded bytes
            lookups.append(str(host))
            address = "127.0.0.1" if len(lookups) == 1 else "169.254.169.254"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 80)))]
        return real(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with hostile_server(lambda h: send(h, b'{"ok": true}')) as (url, seen):
        port = url.rsplit(":", 1)[1]
        is_error, text, _ = await call(tool, tool_args(tool, f"http://rebind.test:{port}", timeout_s=1))
    assert not is_error, text
    assert lookups == ["rebind.test"] and seen and all(r["host"] == f"rebind.test:{port}" for r in seen)


@pytest.mark.anyio
async def test_an_internationalised_name_is_sent_in_its_idna_form(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def idn(host: object, port: object, *args: object, **kwargs: object) -> list:
        if host in ("bücher.test", b"xn--bcher-kva.test"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", int(port or 80)))]
        return real(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", idn)
    with hostile_server(lambda h: send(h, b"{}")) as (url, seen):
        port = url.rsplit(":", 1)[1]
        is_error, text, out = await call("verify_mlflow_server", {"tracking_uri": f"http://bücher.test:{port}"})
    assert not is_error, text
    assert seen and seen[0]["host"] == f"xn--bcher-kva.test:{port}"


@pytest.mark.anyio
async def test_a_failed_first_lookup_no_longer_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo
    calls: list[str] = []

    def flaky(host: object, port: object, *args: object, **kwargs: object) -> list:
        if host in ("flaky.test", b"flaky.test"):
            calls.append("x")
            if len(calls) == 1:
                raise socket.gaierror(socket.EAI_AGAIN, "temporary failure")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", int(port or 80)))]
        return real(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", flaky)
    is_error, text, _ = await call("verify_mlflow_server", {"tracking_uri": "http://flaky.test:5000", "timeout_s": 0.5})
    assert is_error and "tracking_uri" in text and calls == ["x"]


# --- issue 16: one TLS context; the probe's own overhead on loopback ---------------------------------------------

def test_one_tls_context_for_every_probe() -> None:
    first = http_json.client(1.0)
    second = http_json.client(2.0)
    assert http_json.ssl_context() is http_json.ssl_context()
    pool_contexts = {id(c._transport._pool._ssl_context) for c in (first, second)}  # type: ignore[attr-defined]
    assert pool_contexts == {id(http_json.ssl_context())}


@pytest.mark.anyio
async def test_probe_overhead_on_loopback_is_small() -> None:
    from ml_expert_mcp.probes.tf_serving import verify_tf_serving
    from ml_expert_mcp.tools.serving.check import VerifyTFServingRequest

    status = json.dumps({"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                                   "status": {"error_code": "OK"}}]}).encode()
    with hostile_server(lambda h: send(h, status)) as (url, seen):
        req = VerifyTFServingRequest(base_url=url, model_name="m")
        await verify_tf_serving(req)
        times = []
        for _ in range(30):
            start = time.perf_counter()
            await verify_tf_serving(req)
            times.append(time.perf_counter() - start)
    per_get = statistics.median(times) / 2  # status + metadata
    assert per_get < 0.005 * 4, f"{per_get * 1000:.1f} ms per GET"  # 5 ms target; x4 slack for a loaded CI machine


def test_https_by_name_verifies_the_name_on_the_pinned_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe connects to the checked address but sends the name as TLS server name and checks the certificate
    against it: https keeps working by name, and a certificate for another name is refused."""
    import ssl
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=probe.test", "-addext", "subjectAltName=DNS:probe.test"],
                   check=True, capture_output=True)
    trusted = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(http_json, "_ssl_context", trusted)
    real = socket.getaddrinfo

    def names(host: object, port: object, *args: object, **kwargs: object) -> list:
        if host in ("probe.test", b"probe.test", "other.test", b"other.test"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", int(port or 443)))]
        return real(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", names)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(str(cert), str(key))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            send(self, b"OK")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = server_context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = str(httpd.server_address[1])
    try:
        _, _, good = await_call("verify_mlflow_server", {"tracking_uri": f"https://probe.test:{port}", "timeout_s": 5})
        _, text, bad = await_call("verify_mlflow_server", {"tracking_uri": f"https://other.test:{port}", "timeout_s": 5})
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert good is not None and good["healthy"], good
    assert bad is not None and not bad["healthy"] and "CERTIFICATE_VERIFY_FAILED" in text, text


def await_call(tool: str, args: dict) -> tuple[bool, str, dict | None]:
    import anyio

    return anyio.run(call, tool, args)
