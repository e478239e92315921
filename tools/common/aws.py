"""Check an AWS API request against botocore's bundled service model before it leaves a tool.

botocore's ParamValidator checks required members, types and minimums. It skips what the service checks on
its side: enums, maximum lengths and values, and name patterns. `check_request` runs both, the second by
walking the same shapes, so a request AWS would reject for its shape never leaves a planner.

Loading botocore's whole SageMaker model costs about 180 ms and 26 MiB on a tool's first call, for the handful of
requests we build. So the operations in OPERATIONS are read from a pruned copy of botocore's own service
description (knowledge/aws/request_shapes.json: those operations and the shapes they reach), wrapped in botocore's
ServiceModel and checked by botocore's ParamValidator as before. A test regenerates the copy from the installed
botocore and compares (`python -m ml_expert_mcp.tools.common.aws` rewrites it); any other operation falls back
to botocore's full model.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from ml_expert_mcp.tools.common.errors import PlanInputError

# The requests the planners build; each must be in the pruned extract.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "sagemaker": ("CreateTrainingJob", "CreateHyperParameterTuningJob", "CreateModel", "CreateEndpointConfig",
                  "CreateEndpoint", "CreateDataQualityJobDefinition", "CreateModelQualityJobDefinition",
                  "CreateMonitoringSchedule", "CreatePipeline"),
    "application-autoscaling": ("RegisterScalableTarget", "PutScalingPolicy"),
    "s3": ("PutBucketLifecycleConfiguration",),
}
EXTRACT = "aws/request_shapes.json"


@cache
def _service_model(service: str) -> Any:
    """botocore's full model of `service` (heavy: read on first use, never at server start)."""
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


@cache
def _extract() -> dict[str, Any]:
    text = resources.files("ml_expert_mcp.knowledge").joinpath(EXTRACT).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _pruned_model(service: str) -> Any:
    from botocore.model import ServiceModel

    return ServiceModel(_extract()["services"][service], service_name=service)


def _input_shape(service: str, operation: str) -> Any:
    model = _pruned_model(service) if operation in OPERATIONS.get(service, ()) else _service_model(service)
    return model.operation_model(operation).input_shape


def prune(description: dict[str, Any], operations: tuple[str, ...]) -> dict[str, Any]:
    """A botocore service description reduced to `operations` and every shape their inputs reach."""
    shapes = description["shapes"]
    keep: set[str] = set()
    todo = [description["operations"][op]["input"]["shape"] for op in operations]
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        shape = shapes[name]
        refs = [m["shape"] for m in shape.get("members", {}).values()]
        refs += [shape[k]["shape"] for k in ("member", "key", "value") if k in shape]
        todo.extend(refs)
    ops = {}
    for op in operations:
        full = description["operations"][op]
        ops[op] = {k: full[k] for k in ("name", "http", "input") if k in full}
    return {"version": description.get("version", "2.0"), "metadata": description["metadata"], "operations": ops,
            "shapes": {name: shapes[name] for name in sorted(keep)}}


def generate_extract() -> dict[str, Any]:
    import botocore
    import botocore.loaders

    loader = botocore.loaders.Loader()
    return {"source": f"botocore {botocore.__version__} service descriptions (service-2), pruned",
            "services": {svc: prune(loader.load_service_model(svc, "service-2"), ops)
                         for svc, ops in OPERATIONS.items()}}


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

    shape = _input_shape(service, operation)
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


if __name__ == "__main__":
    from pathlib import Path

    import ml_expert_mcp.knowledge

    target = Path(next(iter(ml_expert_mcp.knowledge.__path__))) / EXTRACT
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(generate_extract(), indent=0, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"wrote {target}")
