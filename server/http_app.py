"""Streamable HTTP with the hardening an exposed MCP server needs.

- DNS-rebinding protection is always on: the Host (421) and Origin (403) headers must be ours. On loopback that
  is localhost/127.0.0.1/[::1] on any port; on any other address the operator names the host names.
- Binding to anything but loopback requires a bearer token (ML_EXPERT_TOKEN or --token-file); the server refuses
  to start without one. The token is compared in constant time; a missing or wrong one gets 401.
- Request bodies are capped (413); /healthz answers without auth and says only that the process is up.
- Stateless: every POST is served on its own (`stateless_http`, JSON responses), so no session table exists for
  `initialize` floods to fill; the tools keep no per-client state anyway.
- Connections: request headers within a time limit, a cap on connections overall and per client address, bounded
  header size and rate-limited warnings (server.http_guard). Exposed deployments still belong behind a reverse
  proxy (README: "Exposing the HTTP server").
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ml_expert_mcp.server.http_guard import ConnectionLimits

TOKEN_ENV = "ML_EXPERT_TOKEN"
MIN_TOKEN_CHARS = 24
MAX_BODY_BYTES = 256 * 1024  # the largest valid tool call is a few KiB
OPEN_PATHS = frozenset({"/healthz"})


class StartupRefused(SystemExit):
    """The server will not start as configured; the message says why and what to do."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_token(token_file: str | None) -> str | None:
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise StartupRefused(f"error: cannot read --token-file: {err.strerror}") from None
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if token and len(token) < MIN_TOKEN_CHARS:
        raise StartupRefused(f"error: the bearer token must have at least {MIN_TOKEN_CHARS} characters")
    return token or None


@dataclass(frozen=True)
class HttpOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    max_body_bytes: int = MAX_BODY_BYTES
    open_paths: frozenset[str] = field(default=OPEN_PATHS)
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)

    def security(self) -> TransportSecuritySettings:
        hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", *self.allowed_hosts]
        origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*", *self.allowed_origins]
        return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                         allowed_origins=origins)


def check_exposure(options: HttpOptions) -> None:
    """Refuse to serve beyond loopback without a token, or on all interfaces without named hosts."""
    if is_loopback(options.host):
        return
    if options.token is None:
        raise StartupRefused(f"error: binding to {options.host} needs a bearer token: set {TOKEN_ENV} or pass "
                             "--token-file (loopback needs none)")
    if not options.allowed_hosts:
        raise StartupRefused("error: binding beyond loopback needs --allowed-host NAME[:PORT] (repeatable) so "
                             "DNS-rebinding protection knows which Host headers are this server's")


class BearerTokenMiddleware:
    """401 unless `Authorization: Bearer <token>` matches (hmac.compare_digest); open paths pass."""

    def __init__(self, app: ASGIApp, token: str, open_paths: frozenset[str]) -> None:
        self.app = app
        self.token = token.encode()
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.open_paths:
            scheme, _, value = Headers(scope=scope).get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self.token):
                response = JSONResponse({"error": "unauthorized"}, status_code=401,
                                        headers={"WWW-Authenticate": 'Bearer realm="ml-expert"'})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class PostOnlyMiddleware:
    """405 for GET and DELETE on the MCP endpoint: a stateless server has no standalone SSE stream to offer (the SDK
    would hold such a GET open for ever) and no session to delete."""

    def __init__(self, app: ASGIApp, path: str = "/mcp") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == self.path and scope["method"] in ("GET", "DELETE"):
            response = JSONResponse({"error": "method not allowed: this server is stateless, POST only"},
                                    status_code=405, headers={"Allow": "POST"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def build_http_app(options: HttpOptions) -> ASGIApp:
    from ml_expert_mcp.server.app import build_server

    check_exposure(options)
    app: ASGIApp = build_server().streamable_http_app(
        max_request_body_size=options.max_body_bytes, transport_security=options.security(), host=options.host,
        stateless_http=True, json_response=True)
    app = PostOnlyMiddleware(app)
    if options.token is not None:
        app = BearerTokenMiddleware(app, options.token, options.open_paths)
    return app


def serve_http(options: HttpOptions) -> None:
    import uvicorn

    from ml_expert_mcp.server.http_guard import install_log_rate_limits, raise_open_file_limit, uvicorn_settings

    app = build_http_app(options)
    raise_open_file_limit()
    config = uvicorn.Config(app, host=options.host, port=options.port, log_level="warning", lifespan="on",
                            **uvicorn_settings(options.limits))
    install_log_rate_limits()  # after uvicorn.Config, which configures its loggers
    uvicorn.Server(config).run()
