"""verify_mlflow_server: probe a tracking server's health, version, REST API and metrics; compare with a design."""

from __future__ import annotations

import httpx

from ml_expert_mcp.probes.http_json import get_text
from ml_expert_mcp.probes.targets import check_target
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.mlops.check import MLflowVerification, Probe, VerifyMLflowRequest, compare

__all__ = ["VerifyMLflowRequest", "MLflowVerification", "verify_mlflow_server"]


async def _get(client: httpx.AsyncClient, url: str, path: str) -> tuple[Probe, str | None]:
    status, text, err = await get_text(client, url + path)
    if status is None:
        return Probe(path=path, status=None, detail=err or ""), None
    body = (text or "").strip()
    # a short status line only: bodies of other servers are not echoed to the caller
    detail = body[:40] if len(body) <= 40 else f"{len(body.encode())} bytes"
    return Probe(path=path, status=status, detail=detail), text


@tool("Verify a running MLflow server", open_world=True)
async def verify_mlflow_server(req: VerifyMLflowRequest) -> MLflowVerification:
    """Probe a tracking server (health, version, REST API, auth, /metrics) and report whether it matches a design.
    Contacts the given URL.
    """
    # GET /health, /version, /api/2.0/mlflow/experiments/search (anonymous) and, if asked, /metrics.
    await check_target(req.tracking_uri, "tracking_uri")
    base = req.tracking_uri.rstrip("/")
    probes: list[Probe] = []
    version = metrics = None
    async with httpx.AsyncClient(timeout=req.timeout_s, follow_redirects=False) as client:
        for path in ("/health", "/version", "/api/2.0/mlflow/experiments/search"):
            probe, text = await _get(client, base, path + ("?max_results=1" if "search" in path else ""))
            probe.path = path
            probes.append(probe)
            if path == "/version" and probe.status == 200 and text:
                version = text.strip()[:40]
        if req.expect_prometheus is not None:
            probe, metrics = await _get(client, base, "/metrics")
            probes.append(probe)
    return compare(req, probes, version, metrics)
