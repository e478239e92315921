"""Compact the JSON schemas pydantic generates, for tools/list: every character there is paid by the assistant on
every turn. Only text that carries no meaning for a caller is removed:

- `title` keywords (pydantic derives them from the field names, which are already the property keys);
- in input schemas, the `null` branch and `default: null` of optional fields: a field outside `required` may be
  omitted, which is what null means to our planners (the server still accepts an explicit null);
- `additionalProperties: false`: the server refuses unknown arguments by name, nested ones included;
- in input schemas, a nested model's own description (its class docstring): the property that refers to it
  carries a description of its own;
- in output schemas (the server produces these objects and sends them as structuredContent, which describes
  itself): defaults, `required`, and the inside of nested objects: a nested object is `{"type": "object"}`
  with its description; top-level fields keep their types and descriptions; `anyOf: [T, null]` is written as
  `type: [T, "null"]`.
"""

from __future__ import annotations

from typing import Any

_SCHEMA_MAPS = ("properties", "$defs", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not")


def compact_input(schema: dict[str, Any]) -> dict[str, Any]:
    out = _walk(schema, output=False)
    for definition in out.get("$defs", {}).values():
        definition.pop("description", None)  # the class docstring: every property that refers to it has its own
    return out


def compact_output(schema: dict[str, Any]) -> dict[str, Any]:
    out = _walk(schema, output=True)
    out.pop("$defs", None)
    out["properties"] = {name: _shallow(sub) for name, sub in out.get("properties", {}).items()}
    return out


def _shallow(prop: dict[str, Any]) -> dict[str, Any]:
    """A top-level output field with nested objects reduced to their type."""
    described = {"description": prop["description"]} if "description" in prop else {}
    if "$ref" in prop:
        return {"type": "object", **described}
    if "anyOf" in prop:
        kinds = sorted({"object" if "$ref" in b else b.get("type", "object") for b in prop["anyOf"]})
        return {"type": kinds if len(kinds) > 1 else kinds[0], **described}
    if prop.get("type") == "array" and isinstance(prop.get("items"), dict) and (
            "$ref" in prop["items"] or "anyOf" in prop["items"]):
        return {**prop, "items": {"type": "object"}}
    if prop.get("type") == "object" and isinstance(prop.get("additionalProperties"), dict) and (
            "$ref" in prop["additionalProperties"]):
        return {**prop, "additionalProperties": {"type": "object"}}
    return prop


def _is_null(s: Any) -> bool:
    return isinstance(s, dict) and s == {"type": "null"}


def _walk(schema: dict[str, Any], output: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" or (key == "additionalProperties" and value is False):
            continue
        if output and key in ("default", "required"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: _walk(v, output) if isinstance(v, dict) else v for k, v in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_walk(v, output) if isinstance(v, dict) else v for v in value]
        elif key in _SCHEMA_VALUES and isinstance(value, dict):
            out[key] = _walk(value, output)
        else:
            out[key] = value
    branches = out.get("anyOf")
    if isinstance(branches, list) and len(branches) == 2 and any(_is_null(b) for b in branches):
        other = next(b for b in branches if not _is_null(b))
        if not output:
            del out["anyOf"]
            if out.get("default", 0) is None:
                del out["default"]
            out = {**other, **out}
        elif isinstance(other.get("type"), str) and "$ref" not in other:
            del out["anyOf"]
            out = {**other, **out, "type": [other["type"], "null"]}
    return out
