"""Turn a `tools/` function (request model in, plan out) into an MCP tool function with flat, described arguments.

The MCP SDK builds the input schema from the function signature, so the signature is made from the request
model's fields; the wrapper re-validates into the request model (cross-field rules), maps planner errors to
ToolError (an isError result naming the field), and caches results, which are deterministic.
"""

from __future__ import annotations

import inspect
import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any, get_type_hints

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from ml_expert_mcp.tools.common.errors import PlanInputError


def format_validation_error(err: ValidationError) -> str:
    parts = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"]) or "input"
        msg = e["msg"].removeprefix("Value error, ")
        if ": " in msg and not e["loc"]:
            parts.append(msg)  # model validators already name the field
        else:
            parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def _parameter(name: str, info: FieldInfo) -> inspect.Parameter:
    meta = FieldInfo.merge_field_infos(info)
    default: Any = inspect.Parameter.empty
    if info.default_factory is None and not info.is_required():
        default = info.default
        meta = FieldInfo.merge_field_infos(info, default=...)  # the default travels on the parameter
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[info.annotation, meta])


def _validated(request_model: type[BaseModel], arguments: dict[str, Any]) -> BaseModel:
    try:
        return request_model.model_validate(arguments)
    except ValidationError as err:
        raise ToolError(f"invalid arguments: {format_validation_error(err)}") from None


def _probe_function(request_model: type[BaseModel], probe: Callable[[Any], Any]) -> Callable[..., Any]:
    """Open-world tools (async, reading a live server): validated like the others, never cached."""

    async def run(**arguments: Any) -> CallToolResult:
        try:
            return tool_result(await probe(_validated(request_model, arguments)))
        except PlanInputError as err:
            raise ToolError(str(err)) from None

    return run


def mcp_tool_function(name: str, request_model: type[BaseModel], plan: Callable[[Any], Any],
                      cache_size: int) -> Callable[..., Any]:
    output = get_type_hints(plan)["return"]
    params = [_parameter(n, f) for n, f in request_model.model_fields.items()]
    run = _probe_function(request_model, plan) if inspect.iscoroutinefunction(plan) else _cached_plan(request_model, plan, cache_size)
    run.__signature__ = inspect.Signature(params, return_annotation=output)  # type: ignore[attr-defined]
    run.__name__ = name
    run.__doc__ = plan.__doc__
    return run


def tool_result(plan_result: BaseModel) -> CallToolResult:
    """structuredContent plus the same JSON, compact, as text (the SDK's default text is indented: more tokens)."""
    structured = plan_result.model_dump(mode="json", by_alias=True)
    text = json.dumps(structured, separators=(",", ":"), ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def _cached_plan(request_model: type[BaseModel], plan: Callable[[Any], BaseModel], cache_size: int) -> Callable[..., Any]:
    cache: OrderedDict[str, CallToolResult] = OrderedDict()

    def run(**arguments: Any) -> CallToolResult:
        request = _validated(request_model, arguments)
        key = request.model_dump_json()
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
            return hit
        try:
            result = tool_result(plan(request))
        except PlanInputError as err:
            raise ToolError(str(err)) from None
        except ValidationError as err:
            raise ToolError(format_validation_error(err)) from None
        if cache_size > 0:
            cache[key] = result
            if len(cache) > cache_size:
                cache.popitem(last=False)
        return result

    return run
