"""Protocol-buffer text format: escaping user strings for rendering, and a small reader for checking what we render.

The writer side is `quote`: the C-style escaping the text-format tokenizer undoes, so any string round-trips.
The reader is our own (TensorFlow Serving's batching and monitoring protos ship with TensorFlow, not with
tensorflow-serving-api): it parses the subset we emit (scalars, strings, nested messages, repeated fields) into
a dict of lists, and `check_fields` compares it with a field table copied from the .proto files.
"""

from __future__ import annotations

import re
from typing import Any

_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(value: str) -> str:
    """A double-quoted text-format string literal; control characters as octal escapes of their UTF-8 bytes."""
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_TOKEN = re.compile(r'\s*(?:(#[^\n]*)|("(?:[^"\\\n]|\\.)*")|([A-Za-z_][A-Za-z0-9_]*)|(-?[0-9][0-9.eE+-]*)|([{}:<>,;]))')
_END = re.compile(r"\s*\Z")
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


def _unquote(literal: str) -> str:
    body, out, i = literal[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
        elif body[i + 1] in _UNESCAPE:
            out += _UNESCAPE[body[i + 1]].encode()
            i += 2
        elif body[i + 1].isdigit():
            out.append(int(body[i + 1:i + 4], 8))
            i += 4
        else:
            raise ValueError(f"unsupported escape in {literal!r}")
    return out.decode()


def _tokens(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        if _END.match(text, pos):  # only whitespace left (no slice copy per token)
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"text proto: cannot read at offset {pos}: {text[pos:pos + 20]!r}")
        pos = m.end()
        comment, string, ident, number, punct = m.groups()
        if comment:
            continue
        if string:
            tokens.append(("str", _unquote(string)))
        elif ident:
            tokens.append(("ident", ident))
        elif number:
            tokens.append(("num", float(number) if any(c in number for c in ".eE") else int(number)))
        else:
            tokens.append(("punct", punct))
    return tokens


def parse(text: str) -> dict[str, list[Any]]:
    """Parse text format into {field: [values]}; nested messages are dicts of the same shape."""
    tokens = _tokens(text)
    pos = 0

    def message(end: str | None) -> dict[str, list[Any]]:
        nonlocal pos
        fields: dict[str, list[Any]] = {}
        while pos < len(tokens):
            kind, val = tokens[pos]
            if kind == "punct" and val in (",", ";"):
                pos += 1
                continue
            if kind == "punct" and val == end:
                pos += 1
                return fields
            if kind != "ident":
                raise ValueError(f"text proto: expected a field name, got {val!r}")
            name = val
            pos += 1
            if pos < len(tokens) and tokens[pos] == ("punct", ":"):
                pos += 1
            if pos >= len(tokens):
                raise ValueError(f"text proto: field {name} has no value")
            kind, val = tokens[pos]
            pos += 1
            if kind == "punct" and val in ("{", "<"):
                value: Any = message("}" if val == "{" else ">")
            elif kind == "ident" and val in ("true", "false"):
                value = val == "true"
            elif kind in ("str", "num", "ident"):
                value = val
            else:
                raise ValueError(f"text proto: unexpected {val!r} after {name}")
            fields.setdefault(name, []).append(value)
        if end is not None:
            raise ValueError("text proto: unclosed message")
        return fields

    return message(None)


# Field tables: name -> (type, repeated). Types: "int64", "bool", "string", "Int64Value"/"StringValue" (wrapper
# messages written as `field { value: x }`), or a nested table.
FieldTable = dict[str, tuple[Any, bool]]

# tensorflow_serving/servables/tensorflow/session_bundle_config.proto, message BatchingParameters.
BATCHING_PARAMETERS: FieldTable = {
    "max_batch_size": ("Int64Value", False),
    "batch_timeout_micros": ("Int64Value", False),
    "max_enqueued_batches": ("Int64Value", False),
    "num_batch_threads": ("Int64Value", False),
    "thread_pool_name": ("StringValue", False),
    "allowed_batch_sizes": ("int64", True),
    "pad_variable_length_inputs": ("bool", False),
}

# tensorflow_serving/config/monitoring_config.proto, message MonitoringConfig.
MONITORING_CONFIG: FieldTable = {
    "prometheus_config": ({"enable": ("bool", False), "path": ("string", False)}, False),
}

_SCALARS = {"int64": int, "bool": bool, "string": str}
_WRAPPERS = {"Int64Value": int, "StringValue": str}


def check_fields(parsed: dict[str, list[Any]], table: FieldTable, where: str = "") -> list[str]:
    """Problems where `parsed` uses a field the proto lacks, repeats a singular field, or has the wrong type."""
    problems: list[str] = []
    for name, values in parsed.items():
        path = f"{where}{name}"
        if name not in table:
            problems.append(f"{path}: no such field")
            continue
        kind, repeated = table[name]
        if len(values) > 1 and not repeated:
            problems.append(f"{path}: singular field given {len(values)} times")
        for value in values:
            if isinstance(kind, dict):
                if not isinstance(value, dict):
                    problems.append(f"{path}: expected a message")
                else:
                    problems += check_fields(value, kind, f"{path}.")
            elif kind in _WRAPPERS:
                inner = value.get("value", [None]) if isinstance(value, dict) else [None]
                if not (isinstance(value, dict) and set(value) == {"value"} and len(inner) == 1
                        and type(inner[0]) is _WRAPPERS[kind]):
                    problems.append(f"{path}: expected {{ value: <{_WRAPPERS[kind].__name__}> }}")
            elif type(value) is not _SCALARS[kind]:
                problems.append(f"{path}: expected {kind}")
    return problems
