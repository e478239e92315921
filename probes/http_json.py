"""GET with a size cap on decoded bytes, a time limit on the whole request, no redirects and at most one bounded
content-coding layer; failures come back as text, never as exceptions.

A hostile server can answer with a small body that inflates without limit (`Content-Encoding: gzip, gzip`): the
probes ask for `identity`, read the raw bytes, and decode a single gzip or deflate layer with zlib's output bound,
so the cap counts decoded bytes and nothing past it is ever inflated. Any other coding is refused.
"""

from __future__ import annotations

import json
import ssl
import threading
import zlib
from collections.abc import Callable
from typing import Any

import anyio
import httpx

from ml_expert_mcp.probes.targets import Target

MAX_BYTES = 1_000_000
CALL_LIMIT_FACTOR = 3  # a whole verify call stops after this many per-request time limits
_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def ssl_context() -> ssl.SSLContext:
    """One TLS context (certifi's roots) for every probe: building it costs ~20 ms, once."""
    global _ssl_context
    if _ssl_context is None:
        with _ssl_lock:
            if _ssl_context is None:
                import certifi

                _ssl_context = ssl.create_default_context(cafile=certifi.where())
    return _ssl_context


def client(timeout_s: float) -> httpx.AsyncClient:
    """No redirects, no proxies from the environment (the checked address is the one connected to), identity."""
    return httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, verify=ssl_context(), trust_env=False,
                             headers={"Accept-Encoding": "identity"})


class Deadline:
    """The time left to a whole verify call: each request gets min(timeout_s, what is left)."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.end = anyio.current_time() + CALL_LIMIT_FACTOR * timeout_s

    def next_limit(self) -> float:
        return min(self.timeout_s, self.end - anyio.current_time())


def _decoder(content_encoding: str) -> Callable[[bytes, int], bytes] | None:
    """A bounded decoder for the response's coding, or None when the coding is refused."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip().lower() not in ("", "identity")]
    if not codings:
        return lambda data, room: data
    if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
        return None
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if codings[0] != "deflate" else zlib.MAX_WBITS)

    def decode(data: bytes, room: int) -> bytes:
        out = inflater.decompress(data, room)
        while inflater.unconsumed_tail and len(out) < room:
            out += inflater.decompress(inflater.unconsumed_tail, room - len(out))
        return out

    return decode


async def get_text(client: httpx.AsyncClient, target: Target, path: str,
                   deadline: Deadline) -> tuple[int | None, str | None, str | None]:
    """(HTTP status, body text cut at MAX_BYTES decoded bytes, error). Status and text are None when no answer came."""
    shown = f"GET {target.shown}{path}"
    limit = deadline.next_limit()
    if limit <= 0:
        return None, None, f"{shown}: not sent, the call's time limit ({CALL_LIMIT_FACTOR} x timeout_s) is spent"
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    with anyio.move_on_after(limit):
        try:
            async with client.stream("GET", target.url + path, headers={"Host": target.host_header},
                                     auth=target.auth, extensions=extensions) as response:
                status = response.status_code
                coding = response.headers.get("content-encoding", "")
                decode = _decoder(coding)
                if decode is None:
                    return status, None, f"{shown}: Content-Encoding {coding[:40]!r} refused (asked for identity)"
                body = bytearray()
                async for chunk in response.aiter_raw():
                    body += decode(chunk, MAX_BYTES + 1 - len(body))
                    if len(body) > MAX_BYTES:
                        return status, body[:MAX_BYTES].decode(errors="replace"), \
                            f"{shown}: body over {MAX_BYTES} bytes"
                return status, body.decode(errors="replace"), None
        except (httpx.HTTPError, zlib.error) as err:
            return None, None, f"{shown}: {type(err).__name__}: {str(err)[:200]}"
    return None, None, f"{shown}: no complete answer within {limit:.3g} s"


async def get_json(client: httpx.AsyncClient, target: Target, path: str,
                   deadline: Deadline) -> tuple[Any | None, str | None, int | None]:
    """(decoded body, error, HTTP status). The body is None unless the status is 2xx and the body is JSON."""
    status, text, err = await get_text(client, target, path, deadline)
    if err is not None:
        return None, err, status
    assert status is not None and text is not None
    if not 200 <= status < 300:
        return None, f"GET {target.shown}{path}: HTTP {status}", status
    try:
        return json.loads(text), None, status
    except (ValueError, RecursionError):
        return None, f"GET {target.shown}{path}: not JSON", status
