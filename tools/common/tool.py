"""Marks a planner function as an MCP tool, next to its code: the function's docstring is the tool's description.

The server's registry lists the marked functions; it reads the name (the function's), the title and whether the
tool reaches outside the process from here, and the request model from the first parameter's type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, get_type_hints

from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "__ml_expert_tool__"


@dataclass(frozen=True)
class ToolMark:
    title: str
    open_world: bool  # True for the verify_* probes, which read a URL the caller gives


def tool(title: str, *, open_world: bool = False) -> Callable[[F], F]:
    """Declare `fn(req: RequestModel) -> PlanModel` an MCP tool with this title."""

    def mark(fn: F) -> F:
        if not (fn.__doc__ or "").strip():
            raise TypeError(f"{fn.__name__}: a tool's docstring is its description and cannot be empty")
        setattr(fn, _ATTRIBUTE, ToolMark(title, open_world))
        return fn

    return mark


def tool_mark(fn: Callable[..., Any]) -> ToolMark:
    mark = getattr(fn, _ATTRIBUTE, None)
    if not isinstance(mark, ToolMark):
        raise TypeError(f"{fn.__name__} is not marked with @tool")
    return mark


def request_model(fn: Callable[..., Any]) -> type[BaseModel]:
    """The type of the function's one parameter (a pydantic model)."""
    hints = get_type_hints(fn)
    params = [k for k in hints if k != "return"]
    model = hints[params[0]]
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{fn.__name__}: its parameter must be a pydantic model")
    return model
