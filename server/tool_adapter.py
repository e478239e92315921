"""Turn a `tools/` function (request model in, plan out) into an MCP tool function with flat, described arguments.

The MCP SDK builds the input schema from the function signature, so the signature is made from the request
model's fields; the wrapper re-validates into the request model (cross-field rules), maps planner errors to
ToolError (an isError result naming the field), and caches results, which are deterministic.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any, get_type_hints

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field, ValidationError
from pydantic.fields import FieldInfo

from ml_expert_mcp.server.result_views import DETAIL_DESCRIPTION, Detail, view_and_text
from ml_expert_mcp.tools.common.errors import PlanInputError

SERVER_ARGUMENTS = frozenset({"detail"})  # accepted by every tool, handled here, never seen by a planner


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

    async def run(detail: Detail = "plan", **arguments: Any) -> CallToolResult:
        try:
            return tool_result(await probe(_validated(request_model, arguments)), detail)
        except PlanInputError as err:
            raise ToolError(str(err)) from None

    return run


def mcp_tool_function(name: str, request_model: type[BaseModel], plan: Callable[[Any], Any],
                      cache_size: int) -> Callable[..., Any]:
    output = get_type_hints(plan)["return"]
    params = [_parameter(n, f) for n, f in request_model.model_fields.items()]
    params.append(inspect.Parameter("detail", inspect.Parameter.KEYWORD_ONLY, default="plan",
                                    annotation=Annotated[Detail, Field(description=DETAIL_DESCRIPTION)]))
    run = _probe_function(request_model, plan) if inspect.iscoroutinefunction(plan) else _cached_plan(request_model, plan, cache_size)
    run.__signature__ = inspect.Signature(params, return_annotation=output)  # type: ignore[attr-defined]
    run.__name__ = name
    run.__doc__ = plan.__doc__
    return run


def tool_result(plan_result: BaseModel | dict[str, Any], detail: Detail = "full") -> CallToolResult:
    """structuredContent at the asked detail, plus the same JSON, compact, as text (the SDK's default text is
    indented: more tokens)."""
    full = plan_result if isinstance(plan_result, dict) else plan_result.model_dump(mode="json", by_alias=True)
    structured, text = view_and_text(full, detail)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


CACHE_MAX_BYTES = 4 * 1024 * 1024  # per tool: the LRU also drops results until their text fits this budget
MAX_RESULT_CHARS = 1024 * 1024  # a backstop: no tool answers with more (the largest real plan is ~60 KB)


def _cached_plan(request_model: type[BaseModel], plan: Callable[[Any], BaseModel], cache_size: int) -> Callable[..., Any]:
    cache: OrderedDict[str, tuple[CallToolResult, int]] = OrderedDict()
    held = 0

    def run(detail: Detail = "plan", **arguments: Any) -> CallToolResult:
        nonlocal held
        request = _validated(request_model, arguments)
        key = f"{detail}|{request.model_dump_json()}"  # each view is cached on its own
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
            return hit[0]
        try:
            result = tool_result(plan(request), detail)
        except PlanInputError as err:
            raise ToolError(str(err)) from None
        except ValidationError as err:
            raise ToolError(format_validation_error(err)) from None
        size = sum(len(getattr(c, "text", "")) for c in result.content) + len(key)
        if size > MAX_RESULT_CHARS:
            raise ToolError(f"the result has {size} characters, over the {MAX_RESULT_CHARS} bound; ask for less")
        if cache_size > 0 and 2 * size <= CACHE_MAX_BYTES:  # text and structured content: about twice the text
            cache[key] = (result, 2 * size)
            held += 2 * size
            while len(cache) > cache_size or held > CACHE_MAX_BYTES:
                held -= cache.popitem(last=False)[1][1]
        return result

    return run
