"""verify_tf_serving: read a TF Serving REST API (status per version and label, metadata) and compare with a plan."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ml_expert_mcp.probes.http_json import Deadline, client, get_json
from ml_expert_mcp.probes.targets import check_target
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.serving.check import TFServingVerification, VerifyTFServingRequest, compare

__all__ = ["VerifyTFServingRequest", "TFServingVerification", "verify_tf_serving"]


@tool("Verify a running TensorFlow Serving", open_world=True)
async def verify_tf_serving(req: VerifyTFServingRequest) -> TFServingVerification:
    """Read a TF Serving REST API (model status, labels, metadata) and report whether served versions and labels match
    a plan. Contacts the given URL.
    """
    # GET /v1/models/NAME, /v1/models/NAME/labels/LABEL for each planned label, and /v1/models/NAME/metadata.
    target = await check_target(req.base_url, "base_url")
    base = f"/v1/models/{quote(req.model_name, safe='')}"
    errors: list[str] = []
    deadline = Deadline(req.timeout_s)
    async with client(req.timeout_s) as http:
        status, err, _ = await get_json(http, target, base, deadline)
        if err:
            errors.append(err)
        labels: dict[str, Any] = {}
        metadata = None
        if status is not None:
            for v in req.expected_versions:
                if v.label:
                    labels[v.label], err, _ = await get_json(http, target, f"{base}/labels/{v.label}", deadline)
                    if err:
                        errors.append(err)
            metadata, err, _ = await get_json(http, target, f"{base}/metadata", deadline)
            if err:
                errors.append(err)
    return compare(req, status if isinstance(status, dict) else None, labels,
                   metadata if isinstance(metadata, dict) else None, errors)
