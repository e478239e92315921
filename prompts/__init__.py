"""Jinja2 prompt templates (StrictUndefined: a missing argument is an error, never an empty string)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2


@cache
def environment() -> jinja2.Environment:
    import jinja2  # imported on first render, not at server start

    return jinja2.Environment(
        loader=jinja2.PackageLoader("prompts", "."), undefined=jinja2.StrictUndefined,
        autoescape=False, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
    )


def render(name: str, **arguments: object) -> str:
    return environment().get_template(f"{name}.md.j2").render(**arguments)
