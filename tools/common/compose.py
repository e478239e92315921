"""docker compose files as plain dicts, rendered by PyYAML's safe dumper, with every `$` written literally.

Compose interpolates `${VAR}` and `$VAR` in every value of the file (command, environment, configs content, ...):
a user string holding `${MLFLOW_DB_PASSWORD}` would be replaced by the secret at `docker compose up`. Every `$` of
every string is therefore written `$$` (compose's escape), except the values this project means to interpolate,
which are built as `Interpolation` (e.g. `${MLFLOW_DB_PASSWORD:?set MLFLOW_DB_PASSWORD}`).
"""

from __future__ import annotations

from typing import Any

from ml_expert_mcp.tools.common import k8s


class Interpolation(str):
    """A value compose must interpolate (a secret reference); written as is."""


def literal(value: Any) -> Any:
    """A copy of `value` with `$` doubled in every string that is not an Interpolation."""
    if isinstance(value, Interpolation):
        return str(value)
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {k: literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [literal(v) for v in value]
    return value


def to_yaml(doc: dict[str, Any]) -> str:
    return k8s.to_yaml([literal(doc)])
