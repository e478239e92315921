"""Names a person types ("H100", "llama-3-70b", "meta-llama/Llama-3.1-8B-Instruct") read as catalogue ids.

The table is data (knowledge/aliases.toml); this module normalises the spelling, looks the name up, and says what it
resolved to (`alias_note`), so a plan can report it. An ambiguous name is an input error listing the candidates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from ml_expert_mcp.knowledge import alias_table, gpu_catalog, model_catalog
from ml_expert_mcp.tools.common.errors import PlanInputError

Kind = Literal["gpu", "model"]
_LABEL = {"gpu": "GPU", "model": "model preset"}
_GPU_WORDS = ("nvidia-", "amd-", "instinct-", "geforce-", "google-", "cloud-", "tesla-")
# variants that share the base model's layers: chat/instruct tunes, HF export tags, Mistral versions, dated releases
_MODEL_VARIANT = re.compile(r"-(instruct|it|chat|hf|fp8|bf16|v0\.\d+|\d{4})$")
_FAMILY_DIGIT = re.compile(r"^(llama|gemma|phi|mistral|mixtral)(\d)")
_QWEN = re.compile(r"^qwen-(\d)")


def _plain(kind: Kind, name: str) -> str:
    s = name.strip().lower()
    if kind == "model":
        s = s.rsplit("/", 1)[-1].replace(":", "-")
    s = re.sub(r"-+", "-", re.sub(r"[\s_]+", "-", s)).strip("-")
    if kind == "gpu":
        while s.startswith(_GPU_WORDS):
            s = s.split("-", 1)[1]
    else:
        s = _QWEN.sub(r"qwen\1", _FAMILY_DIGIT.sub(r"\1-\2", s.removeprefix("meta-")))
    return s


def _keys(kind: Kind, name: str) -> list[str]:
    """The normalised name, then (models) without its variant suffixes."""
    keys = [_plain(kind, name)]
    if kind == "model":
        s = keys[0]
        while (t := _MODEL_VARIANT.sub("", s)) != s:
            s = t
        if s != keys[0]:
            keys.append(s)
    return keys


def _lookup(kind: Kind, given: str, ids: list[str]) -> tuple[str | None, str, list[str]]:
    """(id or None, why, candidates when ambiguous)."""
    if given in ids:
        return given, "", []
    lower = {i.lower(): i for i in ids}
    table = alias_table()[kind]
    keys = _keys(kind, given)
    for n, key in enumerate(keys):
        variant = "; chat/instruct and release variants share the base model's layers" if n else ""
        if key in lower:
            return lower[key], "catalogue spelling" + variant, []
        if key in table:
            entry = table[key]
            if entry.to is not None:
                return entry.to, (entry.why or "common name") + variant, []
            return None, "", list(entry.candidates)
    for key in keys:
        prefixed = sorted(i for i in ids if i.lower().startswith(key + "-"))
        if len(prefixed) == 1:
            return prefixed[0], f"the only catalogue entry named {key!r}", []
        if prefixed:
            return None, "", prefixed
    return None, "", []


def resolve_name(kind: Kind, given: str, catalog: Iterable[str], field: str) -> str:
    """The catalogue id `given` names, or a PlanInputError naming `field` (the candidates, or the accepted ids)."""
    ids = sorted(catalog)
    found, _, candidates = _lookup(kind, given, ids)
    if found is not None:
        return found
    if candidates:
        raise PlanInputError(field, f"{_LABEL[kind]} {given!r} is ambiguous; candidates: {', '.join(candidates)}")
    raise PlanInputError(field, f"unknown {_LABEL[kind]} {given!r}; accepted: {', '.join(ids)}")


def alias_note(field: str, given: str | None, resolved: str) -> str:
    """What a typed name was read as, for a plan's notes; '' when it was the catalogue id itself."""
    if not given or given == resolved:
        return ""
    for kind, ids in (("gpu", gpu_catalog()), ("model", model_catalog())):
        if resolved in ids:
            found, why, _ = _lookup(kind, given, sorted(ids))  # type: ignore[arg-type]
            if found == resolved:
                return f"{field}: {given!r} read as {resolved!r}" + (f" ({why})" if why else "")
    return f"{field}: {given!r} read as {resolved!r}"


def alias_notes(*readings: tuple[str, str | None, str]) -> list[str]:
    """alias_note for each (field, given, resolved), dropping the names that were ids already."""
    return [note for note in (alias_note(*r) for r in readings) if note]


__all__ = ["alias_note", "alias_notes", "resolve_name"]
