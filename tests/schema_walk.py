"""Walk a JSON schema (with local $refs) and report unbounded strings, arrays, maps and numbers."""

from __future__ import annotations

from typing import Any


def unbounded(schema: dict[str, Any], path: str, defs: dict[str, Any], out: list[str], depth: int = 0) -> list[str]:
    if depth > 30:
        return out
    if "$ref" in schema:
        return unbounded(defs[schema["$ref"].split("/")[-1]], path, defs, out, depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            unbounded(sub, path, defs, out, depth + 1)
    kind = schema.get("type")
    if kind == "string" and not ({"maxLength", "enum", "const"} & set(schema)):
        out.append(f"{path}: string without maxLength")
    elif kind == "array":
        if "maxItems" not in schema:
            out.append(f"{path}: array without maxItems")
        unbounded(schema.get("items", {}), path + "[]", defs, out, depth + 1)
    elif kind in ("integer", "number") and not ({"maximum", "exclusiveMaximum", "enum", "const"} & set(schema)):
        out.append(f"{path}: number without maximum")
    elif kind == "object":
        for name, sub in schema.get("properties", {}).items():
            unbounded(sub, f"{path}.{name}", defs, out, depth + 1)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            if "maxProperties" not in schema:
                out.append(f"{path}: map without maxProperties")
            unbounded(extra, path + "{}", defs, out, depth + 1)
    return out


def full_input_schemas() -> dict[str, dict[str, Any]]:
    """Each tool's input schema as pydantic writes it, with every bound: tools/list leaves the guards out."""
    import anyio

    from ml_expert_mcp.server.tool_listing import registered_tools

    return {t.name: t.input_schema for t in anyio.run(registered_tools)}
