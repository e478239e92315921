"""Connection-level limits for the HTTP transport, below the ASGI app (which never sees a request whose headers
have not arrived): slowloris and connection floods.

- A request (headers and body) must arrive within `header_timeout_s` of the connection opening (or of the first
  byte of the next request on a kept-alive connection); otherwise the connection is closed. uvicorn only bounds
  idle keep-alive time, so a client sending one header (or body) byte every few seconds held a connection for ever.
- At most `max_connections` open connections, and `max_per_client` from one client address; the rest are closed
  at once, so file descriptors run out neither for the listener nor for legitimate clients.
- Header blocks over `MAX_HEADER_BYTES` are refused by h11 (uvicorn's h11_max_incomplete_event_size).
- Warnings from these limits, uvicorn and asyncio are rate-limited (`RateLimitFilter`) so a flood cannot fill the
  disk through the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_HEADER_BYTES = 16 * 1024
READING = (h11.IDLE, h11.SEND_BODY)  # the client's side while a request's headers or body are still arriving
logger = logging.getLogger("ml_expert_mcp.http")


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float = 10.0
    max_connections: int = 512
    max_per_client: int = 64  # 0: no per-client limit (behind a reverse proxy every client is the proxy)


class RateLimitFilter(logging.Filter):
    """At most `burst` records per `window_s` per logger; then one line saying how many were dropped."""

    def __init__(self, burst: int = 20, window_s: float = 10.0) -> None:
        super().__init__()
        self.burst, self.window_s = burst, window_s
        self.window_start = 0.0
        self.count = 0
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self.window_start >= self.window_s:
            if self.dropped:
                record.msg = f"[{self.dropped} similar log records dropped in the last {self.window_s:g} s] {record.msg}"
            self.window_start, self.count, self.dropped = now, 0, 0
        self.count += 1
        if self.count > self.burst:
            self.dropped += 1
            return False
        return True


def install_log_rate_limits() -> None:
    for name in ("asyncio", "uvicorn", "uvicorn.error", "uvicorn.access", "mcp", "ml_expert_mcp.http"):
        log = logging.getLogger(name)
        if not any(isinstance(f, RateLimitFilter) for f in log.filters):
            log.addFilter(RateLimitFilter())


def raise_open_file_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def guarded_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the limits above (one class per server: the per-client counts are its own)."""
    per_client: Counter[str] = Counter()

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _counted: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            address = self.client[0] if self.client else "?"
            if len(self.connections) > limits.max_connections:
                logger.warning("connection from %s closed: %d connections open (limit %d)", address,
                               len(self.connections) - 1, limits.max_connections)
                self.transport.abort()
                return
            if limits.max_per_client and per_client[address] >= limits.max_per_client:
                logger.warning("connection from %s closed: %d open from that address (limit %d)", address,
                               per_client[address], limits.max_per_client)
                self.transport.abort()
                return
            per_client[address] += 1
            self._counted = address
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            if self._counted is not None:
                per_client[self._counted] -= 1
                if per_client[self._counted] <= 0:
                    del per_client[self._counted]
                self._counted = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.transport.is_closing():
                self._cancel_header_timer()
            elif self.conn.their_state in READING:  # a request has started but not fully arrived
                if self._header_timer is None:
                    self._arm_header_timer()
            else:
                self._cancel_header_timer()

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            self._header_timer = self.loop.call_later(limits.header_timeout_s, self._header_timeout)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if self.conn.their_state in READING and not self.transport.is_closing():
                logger.warning("connection from %s closed: request incomplete after %g s",
                               self.client[0] if self.client else "?", limits.header_timeout_s)
                self.transport.abort()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._cancel_header_timer()  # the keep-alive timeout covers the idle time until the next request

    return GuardedH11Protocol


def uvicorn_settings(limits: ConnectionLimits) -> dict[str, Any]:
    """Keyword arguments for uvicorn.Config: the protocol above and uvicorn's own bounds."""
    return {"http": guarded_protocol(limits), "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
            "limit_concurrency": limits.max_connections + 16, "timeout_keep_alive": 5,
            "backlog": max(128, limits.max_connections)}
