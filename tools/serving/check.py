"""verify_tf_serving's judgement: compare what a TF Serving REST API reports with the versions and labels planned.

Pure: the HTTP reads are done by `probes.tf_serving`, which passes the decoded JSON bodies here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ml_expert_mcp.tools.common.models import Plan, StrictModel
from ml_expert_mcp.tools.common.patterns import URL_PATTERN
from ml_expert_mcp.tools.serving.inputs import MODEL_NAME_PATTERN, ServedVersion


class VerifyTFServingRequest(StrictModel):
    base_url: str = Field(max_length=2048, pattern=URL_PATTERN, description="REST base URL, e.g. http://host:8501.")
    model_name: str = Field(max_length=256, pattern=MODEL_NAME_PATTERN, description="Model name as in /v1/models/NAME.")
    expected_versions: list[ServedVersion] = Field(default_factory=list, max_length=8,
                                                   description="Versions (and labels) the plan serves.")
    timeout_s: float = Field(default=5.0, ge=0.1, le=30.0, description="Per-request limit, connect to last byte, s; the call stops at 3x.")


class VersionState(BaseModel):
    version: int = Field(description="Served version number.")
    state: str = Field(description="START, LOADING, AVAILABLE, UNLOADING or END.")
    error: str | None = Field(default=None, description="status.error_message when not OK.")


class LabelCheck(BaseModel):
    label: str
    expected_version: int
    served_version: int | None = Field(description="Version the server resolves the label to; null if unknown.")
    ok: bool


class TFServingVerification(Plan):
    def headline(self) -> str:
        if not self.reachable:
            return "TF Serving did not answer: " + ("; ".join(self.problems[:2]) or "unreachable")
        state = "matches the plan" if self.matches else "does NOT match the plan: " + "; ".join(self.problems[:3])
        return f"TF Serving answered with {len(self.versions)} version(s); it {state}."

    reachable: bool = Field(description="The model status endpoint answered.")
    versions: list[VersionState] = Field(description="Versions the server reports.")
    labels: list[LabelCheck] = Field(description="Each planned label resolved by the server.")
    signatures: list[str] = Field(description="Signature names from the metadata endpoint.")
    matches: bool = Field(description="Every planned version AVAILABLE and every label on its planned version.")
    problems: list[str] = Field(description="What differs from the plan, or why it could not be read.")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _version(value: Any) -> int | None:
    """TF Serving writes versions as int64 in a string; anything else from a hostile server is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 2**63 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    return None


def _states(status: Any, problems: list[str]) -> list[VersionState]:
    """Each well-formed model_version_status entry; malformed ones are reported in `problems`, never raised."""
    entries = _dict(status).get("model_version_status", [])
    if not isinstance(entries, list):
        problems.append("model_version_status is not a list: the server's answer is malformed")
        return []
    out = []
    for entry in entries[:64]:
        entry = _dict(entry)
        version = _version(entry.get("version"))
        if version is None:
            problems.append(f"malformed version entry {str(entry.get('version'))[:40]!r} ignored")
            continue
        err = _dict(entry.get("status"))
        code = err.get("error_code", "OK")
        out.append(VersionState(version=version, state=str(entry.get("state", ""))[:40],
                                error=None if code == "OK" else str(err.get("error_message", code))[:300]))
    return sorted(out, key=lambda v: v.version)


def compare(req: VerifyTFServingRequest, status: dict[str, Any] | None, label_status: dict[str, dict[str, Any] | None],
            metadata: dict[str, Any] | None, errors: list[str]) -> TFServingVerification:
    problems = list(errors)
    versions = _states(status, problems) if status is not None else []
    by_version = {v.version: v for v in versions}
    for want in req.expected_versions:
        got = by_version.get(want.version)
        if got is None:
            problems.append(f"version {want.version} is not served")
        elif got.state != "AVAILABLE":
            problems.append(f"version {want.version} is {got.state}" + (f": {got.error}" if got.error else ""))
    if status is not None and not req.expected_versions and not any(v.state == "AVAILABLE" for v in versions):
        problems.append("no version is AVAILABLE")
    labels = []
    for want in (v for v in req.expected_versions if v.label):
        resolved = _states(label_status.get(want.label or ""), problems)
        served = resolved[0].version if resolved else None
        ok = served == want.version
        if not ok:
            problems.append(f"label {want.label} resolves to {served}, planned {want.version}")
        labels.append(LabelCheck(label=want.label or "", expected_version=want.version, served_version=served, ok=ok))
    signatures: list[str] = []
    if metadata is not None:
        defs = _dict(_dict(_dict(metadata.get("metadata")).get("signature_def")).get("signature_def"))
        signatures = sorted(str(name)[:128] for name in defs)[:32]
    return TFServingVerification(reachable=status is not None, versions=versions, labels=labels,
                                 signatures=signatures, matches=status is not None and not problems,
                                 problems=problems[:32])
