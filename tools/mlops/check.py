"""verify_mlflow_server's judgement: compare what a tracking server answers with what a design expects. Pure."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ml_expert_mcp.tools.common.models import Plan, StrictModel
from ml_expert_mcp.tools.common.patterns import URL_PATTERN


class VerifyMLflowRequest(StrictModel):
    tracking_uri: str = Field(max_length=2048, pattern=URL_PATTERN, description="Server base URL, e.g. http://host:5000.")
    expected_version: str | None = Field(max_length=256, default=None, pattern=r"^\d+(\.\d+){0,2}$",
                                         description="Version (or prefix such as '3' or '3.17') the design deploys.")
    expect_auth: bool | None = Field(default=None, description="Whether anonymous API calls must be refused (basic auth).")
    expect_prometheus: bool | None = Field(default=None, description="Whether /metrics must answer.")
    timeout_s: float = Field(default=5.0, ge=0.1, le=30.0, description="Per-request limit, connect to last byte, s; the call stops at 3x.")
    metrics_credentials_env: str | None = Field(default=None, max_length=128, pattern=r"^[A-Z_][A-Z0-9_]{0,127}$",
                                                description="Name of an environment variable of this server holding user:password for /metrics behind basic auth (never the secret itself).")


class Probe(BaseModel):
    path: str
    status: int | None = Field(description="HTTP status; null when no answer.")
    detail: str = Field(description="Body summary or the error.")


class MLflowVerification(Plan):
    def headline(self) -> str:
        if not self.healthy:
            return "The MLflow server is not healthy: " + ("; ".join(self.problems[:2]) or "no answer")
        state = "matches the design" if self.matches else "does NOT match the design: " + "; ".join(self.problems[:3])
        return f"MLflow {self.version or '(version unknown)'} answers; it {state}."

    healthy: bool = Field(description="/health answered OK.")
    version: str | None = Field(description="What /version reports.")
    api_answers: bool = Field(description="The REST API answered (200, or 401/403 behind auth).")
    auth_enforced: bool | None = Field(description="Anonymous API call refused with 401; null if unknown.")
    prometheus: bool | None = Field(description="/metrics served MLflow metrics.")
    matches: bool = Field(description="Everything the request expects holds.")
    probes: list[Probe]
    problems: list[str]
    unverified: list[str] = Field(description="Expectations that could not be checked (e.g. /version behind auth).")


def compare(req: VerifyMLflowRequest, probes: list[Probe], version: str | None, metrics_text: str | None) -> MLflowVerification:
    by_path = {p.path: p for p in probes}
    health = by_path.get("/health")
    api = by_path.get("/api/2.0/mlflow/experiments/search")
    healthy = health is not None and health.status == 200
    api_status = api.status if api else None
    api_answers = api_status in (200, 401, 403)
    auth = None if api_status is None else api_status == 401
    prometheus = None if "/metrics" not in by_path else bool(metrics_text and "mlflow_http_request" in metrics_text)
    problems: list[str] = []
    unverified: list[str] = []
    if not healthy:
        problems.append(f"/health: {health.detail if health else 'not probed'}")
    if req.expected_version and version is None:
        unverified.append(f"version: /version answered {by_path['/version'].status if '/version' in by_path else None}")
    elif req.expected_version and not (version or "").startswith(req.expected_version):
        problems.append(f"version {version!r} does not match expected {req.expected_version}")
    if not api_answers:
        problems.append(f"REST API: {api.detail if api else 'not probed'}")
    if req.expect_auth is not None and auth is not None and auth != req.expect_auth:
        problems.append("anonymous API call was served: auth is off" if req.expect_auth
                        else "anonymous API call refused: auth is on")
    metrics_probe = by_path.get("/metrics")
    if metrics_probe is not None and metrics_probe.status in (401, 403):
        prometheus = None  # behind basic auth: neither served nor missing
        if req.expect_prometheus is not None:
            unverified.append(f"/metrics answered {metrics_probe.status} (basic auth): pass metrics_credentials_env "
                              "naming a variable that holds user:password to check it")
    elif req.expect_prometheus and not prometheus:
        problems.append("/metrics does not serve MLflow metrics (--expose-prometheus missing?)")
    return MLflowVerification(healthy=healthy, version=version, api_answers=api_answers, auth_enforced=auth,
                              prometheus=prometheus, matches=not problems, probes=probes, problems=problems,
                              unverified=unverified)
