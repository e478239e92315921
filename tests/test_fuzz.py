"""Property-based fuzzing of every tool through mcp.Client, from each tool's own input schema.

Valid inputs (drawn from each tool's full input schema, the one the server validates with) must give a result that validates against the
tool's outputSchema, or an isError result naming a field (valid JSON can still be unplannable, e.g. an unknown
GPU id). Invalid inputs (a required field dropped, a wrong type, a value past its maximum, an unknown argument)
must give an isError result naming that field. No call may crash or hang, and the server answers after each.

CI runs FUZZ_EXAMPLES (default 10) examples per tool and case; `scripts/fuzz` runs many more.
"""

from __future__ import annotations

import os
import re
from typing import Any

import jsonschema
import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from ml_expert_mcp.server.app import build_server
from ml_expert_mcp.server.registry import tool_names
from tests.schema_strategy import from_schema
from tests.schema_walk import full_input_schemas

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("FUZZ_RANDOM") is None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
URL_FIELDS = {"base_url": "http://127.0.0.1:9", "tracking_uri": "http://127.0.0.1:9"}  # never leave the machine
STATS: dict[str, int] = {}


@pytest.fixture(scope="module")
def session():
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(Client(build_server())) as client:
        listed = portal.call(client.list_tools).tools
        full = full_input_schemas()  # every bound, pattern and definition: tools/list leaves guards out
        tools = {t.name: t.model_copy(update={"input_schema": full[t.name]}) for t in listed}
        yield portal, client, tools
        assert portal.call(client.list_tools).tools  # still serving after everything
        print(f"\nfuzz examples per tool: {STATS}")


def _field_names(schema: Any, out: set[str]) -> set[str]:
    if isinstance(schema, dict):
        out.update(schema.get("properties", {}))
        for value in schema.values():
            _field_names(value, out)
    elif isinstance(schema, list):
        for value in schema:
            _field_names(value, out)
    return out


def _call(session, name: str, args: dict[str, Any]):
    portal, client, _ = session
    STATS[name] = STATS.get(name, 0) + 1
    return portal.call(client.call_tool, name, args)


def _pin_urls(args: dict[str, Any]) -> dict[str, Any]:
    for key, url in URL_FIELDS.items():
        if key in args:
            args[key] = url
            args["timeout_s"] = 0.2
    return args


@pytest.mark.parametrize("name", tool_names())
def test_valid_inputs_give_a_valid_result_or_a_named_error(session, name: str) -> None:
    tool = session[2][name]
    fields = _field_names(tool.input_schema, set())

    @SETTINGS
    @given(args=from_schema(tool.input_schema))
    def check(args: dict[str, Any]) -> None:
        result = _call(session, name, _pin_urls(args))
        if result.is_error:
            text = result.content[0].text
            assert any(re.search(rf"\b{re.escape(f)}\b", text) for f in fields), text
            assert "Traceback" not in text
        else:
            jsonschema.validate(result.structured_content, tool.output_schema)

    check()


def _wrong_type(schema: dict[str, Any]) -> Any:
    kinds = {s.get("type") for s in [schema, *schema.get("anyOf", [])]}
    if kinds & {"string"}:
        return {"not": "a string"}
    if kinds & {"integer", "number"}:
        return "not-a-number"
    if kinds & {"boolean"}:
        return "maybe"
    if kinds & {"array"}:
        return {"not": "a list"}
    return 12345


def _maximum(schema: dict[str, Any]) -> float | None:
    """A property's maximum, also inside an optional field's anyOf [T, null]."""
    found = [s["maximum"] for s in [schema, *schema.get("anyOf", [])] if "maximum" in s]
    return found[0] if found else None


@pytest.mark.parametrize("name", tool_names())
def test_invalid_inputs_give_an_error_naming_the_field(session, name: str) -> None:
    tool = session[2][name]
    schema = tool.input_schema
    props = schema["properties"]
    required = schema.get("required", [])
    maxima = {p: m for p, s in props.items() for m in [_maximum(s)] if m is not None}
    numeric = sorted(maxima)
    mutations = ["unknown", "wrong_type"] + (["drop"] if required else []) + (["too_big"] if numeric else [])

    @SETTINGS
    @given(args=from_schema(schema), how=st.sampled_from(mutations), data=st.data())
    def check(args: dict[str, Any], how: str, data: st.DataObject) -> None:
        args = _pin_urls(args)
        if how == "unknown":
            field = "zz_not_an_argument"
            args[field] = 1
        elif how == "drop":
            field = data.draw(st.sampled_from(required))
            args.pop(field, None)
        elif how == "too_big":
            field = data.draw(st.sampled_from(numeric))
            args[field] = maxima[field] * 10 + 1
        else:
            field = data.draw(st.sampled_from(sorted(props)))
            args[field] = _wrong_type(props[field])
        result = _call(session, name, args)
        assert result.is_error, (how, field)
        assert field in result.content[0].text, (how, field, result.content[0].text)

    check()
