"""What a tool result carries at each `detail` level, so the default answer fits an assistant's budget.

- `full`: the whole plan, artifacts included.
- `plan` (default): the plan with large text elided: a string over LONG_TEXT characters (a script, a manifest, a
  config file) becomes a note naming its size, then, while the result is still over PLAN_BUDGET characters, the
  largest nested value does, and last the longest top-level list keeps only its first items; every elided path
  is listed under `omitted`. Call again with detail='full' for them.
- `summary`: `summary`, `caveats` and the top-level numbers, flags and short strings.
Output schemas describe nested values only as objects (server.tool_schemas), so every view validates.
"""

from __future__ import annotations

import json
from typing import Any, Literal

Detail = Literal["summary", "plan", "full"]
DETAIL_LEVELS: tuple[str, ...] = ("summary", "plan", "full")
DETAIL_DESCRIPTION = "plan: no large artifacts; full: all; summary: the numbers."
LONG_TEXT = 600
PLAN_BUDGET = 7_500  # characters of compact JSON: about 2,000 tokens
SHORT_TEXT = 200
KEEP_ITEMS = 3  # a top-level list cut to fit the budget keeps at least this many items


def _text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _size(value: Any) -> int:
    return len(_text(value))


def _note(value: Any) -> str:
    return f"<omitted: {_size(value):,} chars; call again with detail='full'>"


def _elide_long_text(value: Any, path: list[str | int], omitted: list[str]) -> Any:
    """`path`: the keys and indices down to `value` (written out only for what is elided)."""
    if isinstance(value, str):
        if len(value) > LONG_TEXT:
            omitted.append(_path(path))
            return _note(value)
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            path.append(k)
            out[k] = _elide_long_text(v, path, omitted)
            path.pop()
        return out
    if isinstance(value, list):
        items = []
        for i, v in enumerate(value):
            path.append(i)
            items.append(_elide_long_text(v, path, omitted))
            path.pop()
        return items
    return value


def _path(parts: list[str | int]) -> str:
    """'a.b[2].c' for ['a', 'b', 2, 'c']."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _largest_nested(value: Any, path: str, root: bool) -> tuple[int, str, Any, Any] | None:
    """(size, path, container, key) of the largest dict/list value that sits in a dict below the top level: the
    output schema constrains only the top-level fields and the items of top-level arrays (as objects)."""
    best: tuple[int, str, Any, Any] | None = None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, sub in items:
        if isinstance(sub, dict | list) and sub:
            sub_path = f"{path}[{key}]" if isinstance(value, list) else (f"{path}.{key}" if path else str(key))
            if isinstance(value, dict) and not root and (best is None or _size(sub) > best[0]):
                best = (_size(sub), sub_path, value, key)
            deeper = _largest_nested(sub, sub_path, False)
            if deeper is not None and (best is None or deeper[0] > best[0]):
                best = deeper
    return best


def view(structured: dict[str, Any], detail: Detail) -> dict[str, Any]:
    return view_and_text(structured, detail)[0]


def view_and_text(structured: dict[str, Any], detail: Detail) -> tuple[dict[str, Any], str]:
    """The view at this detail and its compact JSON (written once: the sizes below are its length)."""
    if detail == "full":
        return structured, _text(structured)
    omitted: list[str] = []
    if detail == "summary":
        out = {}
        for key, value in structured.items():
            short = isinstance(value, bool | int | float) or value is None or (
                isinstance(value, str) and len(value) <= SHORT_TEXT)
            if key in ("summary", "caveats") or short:
                out[key] = value
            else:
                omitted.append(key)
        out = {**out, "omitted": omitted} if omitted else out
        return out, _text(out)
    out = _elide_long_text(structured, [], omitted)
    text = _text(out)
    while len(text) > PLAN_BUDGET:
        found = _largest_nested(out, "", True)
        if found is None or found[0] < 200:
            break
        _, path, container, key = found
        container[key] = _note(container[key])
        omitted.append(path)
        text = _text(out)
    while len(text) > PLAN_BUDGET:  # then the longest top-level list keeps its first items
        lists = [(len(v), k) for k, v in out.items() if isinstance(v, list) and len(v) > KEEP_ITEMS]
        if not lists:
            break
        _, key = max(lists)
        kept = max(KEEP_ITEMS, len(out[key]) * 2 // 3)
        omitted.append(f"{key}[{kept}:] ({len(out[key]) - kept} more items)")
        out[key] = out[key][:kept]
        text = _text(out)
    if not omitted:
        return out, text
    # the same JSON with "omitted" appended: json.dumps keeps the keys' order
    return {**out, "omitted": omitted}, (text[:-1] + ("," if out else "") + '"omitted":' + _text(omitted) + "}")
