"""Check an AWS API request against botocore's bundled service model before it leaves a tool.

botocore's ParamValidator checks required members, types and minimums. It skips what the service checks on
its side: enums, maximum lengths and values, and name patterns. `check_request` runs both, the second by
walking the same shapes, so a request AWS would reject for its shape never leaves a planner. The models are
read from botocore's data files once, on first use.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from ml_expert_mcp.tools.common.errors import PlanInputError


@cache
def _service_model(service: str) -> Any:
    import botocore.session  # heavy: imported on first use, not at server start

    return botocore.session.get_session().get_service_model(service)


@cache
def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:  # a Java-only construct: leave it to the service
        return None


def _walk(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, item in value.items():
            if name in shape.members:
                _walk(shape.members[name], item, f"{path}.{name}" if path else name, problems)
    elif kind == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: at most {meta['max']} items, got {len(value)}")
        for i, item in enumerate(value):
            _walk(shape.member, item, f"{path}[{i}]", problems)
    elif kind == "map" and isinstance(value, dict):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: at most {meta['max']} entries, got {len(value)}")
        for key, item in value.items():
            _walk(shape.key, key, f"{path} key", problems)
            _walk(shape.value, item, f"{path}[{key}]", problems)
    elif kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of the {len(shape.enum)} values of {shape.name}")
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: at most {meta['max']} characters, got {len(value)}")
        compiled = _pattern(meta["pattern"]) if "pattern" in meta else None
        if compiled is not None and not compiled.fullmatch(value):
            problems.append(f"{path}: {value[:80]!r} does not match {meta['pattern']}")
    elif kind in ("integer", "long", "float", "double") and isinstance(value, int | float) and \
            "max" in meta and value > meta["max"]:
        problems.append(f"{path}: at most {meta['max']}, got {value}")


def check_request(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """Every reason AWS would reject `params` for its shape: botocore's validator, then enums/max/patterns."""
    from botocore.validate import ParamValidator

    shape = _service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    problems = [line.strip() for line in report.generate_report().splitlines() if line.strip()] \
        if report.has_errors() else []
    _walk(shape, params, "", problems)
    return problems


def require_valid(service: str, operation: str, params: dict[str, Any], field: str) -> None:
    """Raise PlanInputError naming the input behind `params` when AWS would reject them."""
    problems = check_request(service, operation, params)
    if problems:
        raise PlanInputError(field, f"{operation} would be rejected: " + "; ".join(problems[:5]))
