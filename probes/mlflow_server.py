"""verify_mlflow_server: probe a tracking server's health, version, REST API and metrics; compare with a design."""

from __future__ import annotations

import base64
import os

import httpx

from ml_expert_mcp.probes.http_json import Deadline, client, get_text
from ml_expert_mcp.probes.targets import Target, check_target
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.mlops.check import MLflowVerification, Probe, VerifyMLflowRequest, compare

__all__ = ["VerifyMLflowRequest", "MLflowVerification", "verify_mlflow_server"]


async def _get(http: httpx.AsyncClient, target: Target, path: str, deadline: Deadline) -> tuple[Probe, str | None]:
    status, text, err = await get_text(http, target, path, deadline)
    if status is None or err is not None:
        return Probe(path=path, status=status, detail=(err or "")[:300]), None
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
    target = await check_target(req.tracking_uri, "tracking_uri")
    probes: list[Probe] = []
    version = metrics = None
    deadline = Deadline(req.timeout_s)
    async with client(req.timeout_s) as http:
        for path in ("/health", "/version", "/api/2.0/mlflow/experiments/search"):
            probe, text = await _get(http, target, path + ("?max_results=1" if "search" in path else ""), deadline)
            probe.path = path
            probes.append(probe)
            if path == "/version" and probe.status == 200 and text:
                version = text.strip()[:40]
        if req.expect_prometheus is not None:
            credentials = os.environ.get(req.metrics_credentials_env or "", "")
            if credentials:  # by reference: the caller names a variable; only /metrics of the checked target sees it
                http.headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
            probe, metrics = await _get(http, target, "/metrics", deadline)
            probes.append(probe)
    return compare(req, probes, version, metrics)
