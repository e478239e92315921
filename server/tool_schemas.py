"""Compact the JSON schemas pydantic generates, for tools/list: every character there is paid by the assistant on
every turn. Only text that carries no meaning for a caller is removed:

- `title` keywords (pydantic derives them from the field names, which are already the property keys);
- in input schemas, the `null` branch and `default: null` of optional fields: a field outside `required` may be
  omitted, which is what null means to our planners (the server still accepts an explicit null);
- `additionalProperties: false`: the server refuses unknown arguments by name, nested ones included; and
  `additionalProperties: true`, JSON Schema's default;
- in input schemas, a nested model's own description (its class docstring): the property that refers to it
  carries a description of its own;
- in input schemas, `type: string` beside an enum of strings (the enum says it), and `default: false` on a flag;
- in input schemas, what guards the server rather than advises the caller: string lengths of 256 characters or
  more (tools.common.bounded.ShortStr, 2,048 for URIs), numeric bounds of a million or more in size, and the
  patterns of standard formats the description names (URLs, S3 URIs, role ARNs, ECR images:
  tools.common.patterns.STANDARD_FORMATS). The server still enforces them, and a request past one gets an
  isError naming the field (tests/test_limits.py walks the full schemas for the bounds);
- in output schemas (the server produces these objects and sends them as structuredContent, which describes
  itself, summary and caveats first): descriptions, defaults, `required`, and the inside of nested objects: a
  nested object is `{"type": "object"}`; top-level fields keep their names and types; `anyOf: [T, null]` is
  written as `type: [T, "null"]`. Assistants read a tool's description and input schema; the output schema is
  there for clients to validate structuredContent against.

Across tools, a nested input model that an earlier tool in the listing already defines identically (the training
tools share ModelSpec, ClusterSpec, TrainingSpec...; the endpoint tools share LatencySLA...) is written once: in
later tools the property that refers to it is `{"type": "object", "description": "Preset or HF config fields.
Fields as ModelSpec in estimate_training_memory."}`.
An assistant reads the whole listing, so the fields are in front of it once instead of five times; the server
validates the full model either way. `expand_shared` puts the definitions back (one tool's schema on its own, the
CLI's `tools NAME`, tests that draw inputs from a schema).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ml_expert_mcp.tools.common.patterns import STANDARD_FORMATS

_SCHEMA_MAPS = ("properties", "$defs", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not")


GUARD_LENGTH = 256  # string ceilings from this length up guard the server, they are not advice
GUARD_MAGNITUDE = 1e6  # so do numeric bounds this large


def compact_input(schema: dict[str, Any]) -> dict[str, Any]:
    out = _walk(schema, output=False)
    for definition in out.get("$defs", {}).values():
        definition.pop("description", None)  # the class docstring: every property that refers to it has its own
    return out


def _drop_guards(node: dict[str, Any]) -> None:
    """Remove the guards against oversized or injected values and the type an enum of strings already states."""
    if node.get("pattern") in STANDARD_FORMATS:
        del node["pattern"]
    if isinstance(node.get("maxLength"), int) and node["maxLength"] >= GUARD_LENGTH:
        del node["maxLength"]
    for key in ("maximum", "minimum"):
        value = node.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= GUARD_MAGNITUDE:
            del node[key]
    if node.get("type") == "string" and all(isinstance(e, str) for e in node.get("enum", [None])):
        del node["type"]
    if node.get("type") == "boolean" and node.get("default") is False:
        del node["default"]  # an absent flag is off


_SHARED = re.compile(r"(?:(.+) )?Fields as (\w+) in (\w+)\.", re.DOTALL)


def share_definitions(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each input definition written in full in the first tool (listing order) that has it. In later tools a
    property that refers to an identical copy becomes `{"type": "object", "description": "<its description>
    Fields as X in <first tool>."}`, and the copy (with the definitions only it referred to) is dropped."""
    first: dict[tuple[str, str], str] = {}
    out = []
    for entry in entries:
        schema = entry["inputSchema"]
        defs: dict[str, Any] = schema.get("$defs", {})
        shared = {}
        for name, definition in defs.items():
            owner = first.setdefault((name, json.dumps(definition, sort_keys=True)), entry["name"])
            if owner != entry["name"]:
                shared[name] = owner
        if shared:
            schema = _point(schema, shared)
            kept = {k: v for k, v in schema.get("$defs", {}).items() if k not in shared}
            rest = {k: v for k, v in schema.items() if k != "$defs"}
            used = _referenced(rest, kept)
            kept = {k: v for k, v in kept.items() if k in used}
            entry = {**entry, "inputSchema": {**({"$defs": kept} if kept else {}), **rest}}
        out.append(entry)
    return out


def _point(node: Any, shared: dict[str, str]) -> Any:
    """node with each $ref to a shared definition replaced by a described object naming where it is written."""
    if isinstance(node, list):
        return [_point(v, shared) for v in node]
    if not isinstance(node, dict):
        return node
    name = node.get("$ref", "").removeprefix("#/$defs/") if isinstance(node.get("$ref"), str) else ""
    if name in shared:
        said = node.get("description")
        pointer = f"Fields as {name} in {shared[name]}."
        others = {k: v for k, v in node.items() if k not in ("$ref", "description")}
        return {"type": "object", **others, "description": f"{said} {pointer}" if said else pointer}
    return {k: _point(v, shared) for k, v in node.items()}


def expand_shared(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The listing with every shared pointer replaced by a $ref to the definition it names (recursively)."""
    full: dict[tuple[str, str], Any] = {
        (name, e["name"]): d for e in entries for name, d in e["inputSchema"].get("$defs", {}).items()}
    out = []
    for entry in entries:
        defs = dict(entry["inputSchema"].get("$defs", {}))
        rest = _expand({k: v for k, v in entry["inputSchema"].items() if k != "$defs"}, defs, full)
        done: set[str] = set()
        while todo := sorted(set(defs) - done):  # definitions, kept or brought in, may point too
            defs[todo[0]] = _expand(defs[todo[0]], defs, full)
            done.add(todo[0])
        out.append({**entry, "inputSchema": {**({"$defs": defs} if defs else {}), **rest}})
    return out


def _expand(node: Any, defs: dict[str, Any], full: dict[tuple[str, str], Any]) -> Any:
    """node with each pointer made a $ref again; the definitions it names are added to defs from their owner."""
    if isinstance(node, list):
        return [_expand(v, defs, full) for v in node]
    if not isinstance(node, dict):
        return node
    said = node.get("description")
    pointer = _SHARED.fullmatch(said) if isinstance(said, str) else None
    if pointer is None or node.get("type") != "object" or "properties" in node:
        return {k: _expand(v, defs, full) for k, v in node.items()}
    pending = [pointer[2]]
    while pending:
        ref = pending.pop()
        if ref not in defs:
            defs[ref] = full[(ref, pointer[3])]
            pending.extend(_referenced(defs[ref], {}))  # written by the same tool
    others = {k: v for k, v in node.items() if k not in ("type", "description")}
    return {"$ref": f"#/$defs/{pointer[2]}", **others, **({"description": pointer[1]} if pointer[1] else {})}


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
    """A top-level output field reduced to its type, nested objects included."""
    prop = {k: v for k, v in prop.items() if k != "description"}
    if "$ref" in prop:
        return {"type": "object"}
    if "anyOf" in prop:
        kinds = sorted({"object" if "$ref" in b else b.get("type", "object") for b in prop["anyOf"]})
        return {"type": kinds if len(kinds) > 1 else kinds[0]}
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
        if key == "title" or (key == "additionalProperties" and isinstance(value, bool)):
            continue
        if output and key in ("default", "required", "description"):
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
    if not output:
        _drop_guards(out)
    return out
