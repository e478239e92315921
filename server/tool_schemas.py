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

Across tools, a nested input model that an earlier tool in the listing already defines identically (the training
tools share ModelSpec, ClusterSpec, TrainingSpec...; the endpoint tools share LatencySLA...) is written once: later
tools carry `{"type": "object", "description": "Fields as ModelSpec in estimate_training_memory."}` in its place.
An assistant reads the whole listing, so the fields are in front of it once instead of five times; the server
validates the full model either way. `expand_shared` puts the definitions back (one tool's schema on its own, the
CLI's `tools NAME`, tests that draw inputs from a schema).
"""

from __future__ import annotations

import json
import re
from typing import Any

_SCHEMA_MAPS = ("properties", "$defs", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not")


def compact_input(schema: dict[str, Any]) -> dict[str, Any]:
    out = _walk(schema, output=False)
    for definition in out.get("$defs", {}).values():
        definition.pop("description", None)  # the class docstring: every property that refers to it has its own
    return out


_SHARED = re.compile(r"Fields as (\w+) in (\w+)\.")


def share_definitions(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each input definition written in full in the first tool (listing order) that has it; later identical copies
    become a one-line pointer, and definitions only a pointer referred to are dropped."""
    first: dict[tuple[str, str], str] = {}
    out = []
    for entry in entries:
        schema = entry["inputSchema"]
        defs: dict[str, Any] = schema.get("$defs", {})
        shared = {}
        for name, definition in defs.items():
            owner = first.setdefault((name, json.dumps(definition, sort_keys=True)), entry["name"])
            if owner != entry["name"]:
                shared[name] = {"type": "object", "description": f"Fields as {name} in {owner}."}
        if shared:
            merged = {**defs, **shared}
            used = _referenced({k: v for k, v in schema.items() if k != "$defs"}, merged)
            schema = {**schema, "$defs": {k: v for k, v in merged.items() if k in used}}
            entry = {**entry, "inputSchema": schema}
        out.append(entry)
    return out


def expand_shared(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The listing with every shared pointer replaced by the definition it points to (recursively)."""
    full: dict[tuple[str, str], Any] = {
        (name, e["name"]): d for e in entries for name, d in e["inputSchema"].get("$defs", {}).items()
        if not _SHARED.fullmatch(d.get("description", ""))}
    out = []
    for entry in entries:
        defs = dict(entry["inputSchema"].get("$defs", {}))
        pending = list(defs)
        while pending:
            name = pending.pop()
            pointer = _SHARED.fullmatch(defs[name].get("description", ""))
            if pointer and set(defs[name]) == {"type", "description"}:
                defs[name] = full[(pointer[1], pointer[2])]
                for ref in _referenced(defs[name], {}) - set(defs):
                    defs[ref] = full[(ref, pointer[2])]
                    pending.append(ref)
        out.append({**entry, "inputSchema": {**entry["inputSchema"], **({"$defs": defs} if defs else {})}})
    return out


def _referenced(schema: Any, defs: dict[str, Any]) -> set[str]:
    """Names of the $defs reachable from schema (through defs when given)."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name not in found:
                    found.add(name)
                    if name in defs:
                        stack.append(defs[name])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


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
