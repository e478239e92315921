"""Hypothesis strategies from the JSON schemas our tools publish (hypothesis-jsonschema does not run with the
current Hypothesis). Covers what pydantic emits for our request models: objects with properties and required,
$ref to $defs, anyOf (optional fields), enum/const, strings (pattern, min/maxLength), integers and numbers with
bounds, booleans, arrays (min/maxItems) and maps (additionalProperties, maxProperties)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def from_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None, depth: int = 0) -> st.SearchStrategy[Any]:
    defs = schema.get("$defs", {}) if defs is None else defs
    if "$ref" in schema:
        return from_schema(defs[schema["$ref"].split("/")[-1]], defs, depth + 1)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([from_schema(s, defs, depth + 1) for s in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        lo = schema.get("minimum", schema.get("exclusiveMinimum", -(2**31) - 1) + 1 if "exclusiveMinimum" in schema else -(2**31))
        hi = schema.get("maximum", 2**31)
        return st.integers(min_value=int(lo), max_value=int(hi))
    if kind == "number":
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        hi = schema.get("maximum", schema.get("exclusiveMaximum"))
        return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False,
                         exclude_min="exclusiveMinimum" in schema, exclude_max="exclusiveMaximum" in schema)
    if kind == "string":
        lo, hi = schema.get("minLength", 0), schema.get("maxLength", 64)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: lo <= len(s) <= hi)
        return st.text(st.characters(blacklist_categories=("Cs",)), min_size=lo, max_size=min(hi, 64))
    if kind == "array":
        items = from_schema(schema.get("items", {}), defs, depth + 1)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 4), 4))
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        if not props and isinstance(schema.get("additionalProperties"), dict):
            return st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
                                   from_schema(schema["additionalProperties"], defs, depth + 1),
                                   max_size=min(schema.get("maxProperties", 3), 3))
        req = {k: from_schema(v, defs, depth + 1) for k, v in props.items() if k in required}
        opt = {k: from_schema(v, defs, depth + 1) for k, v in props.items() if k not in required and depth < 6}
        return st.fixed_dictionaries(req, optional=opt)
    return TEXT
