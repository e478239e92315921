"""Validate a custom resource against its CRD the way the API server does on create, strictly.

1. The version's openAPIV3Schema as JSON Schema (the `jsonschema` library): every object whose schema lists
   properties refuses unknown fields (`kubectl apply --validate=strict` / fieldValidation=Strict), except where the
   CRD says `x-kubernetes-preserve-unknown-fields: true` (anything goes below, listed properties still checked) or
   `x-kubernetes-embedded-resource` (apiVersion/kind/metadata allowed). `nullable` allows null;
   `x-kubernetes-int-or-string` comes with its own anyOf. An object schema with neither properties nor
   additionalProperties would be pruned to {} by the server: a value there is an unknown field.
2. Root metadata is checked as ObjectMeta (the server ignores the CRD schema below metadata).
3. `x-kubernetes-list-type: map` keys and `set` items must be unique.
4. Every CEL rule (`x-kubernetes-validations`) on a value present in the object is evaluated with a real CEL
   implementation (cel-python). Transition rules (those reading `oldSelf`) only run on update: skipped on create,
   and counted so a test can see them.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import yaml

OBJECT_META_FIELDS = {"name", "namespace", "labels", "annotations", "generateName", "finalizers", "ownerReferences"}
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    rules_evaluated: int = 0
    transition_rules_skipped: int = 0


def _strict(node: Any) -> Any:
    """The CRD's structural schema as a JSON Schema that refuses unknown fields."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) if k in ("properties", "items", "additionalProperties", "anyOf", "allOf", "oneOf", "not")
           else v for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if "properties" in node:
        out["properties"] = {k: _strict(v) for k, v in node["properties"].items()}
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if node.get("x-kubernetes-embedded-resource"):
        out.setdefault("properties", {})
        for key in ("apiVersion", "kind"):
            out["properties"].setdefault(key, {"type": "string"})
        out["properties"].setdefault("metadata", {"type": "object"})
    if node.get("type") == "object" and not preserve and "additionalProperties" not in node:
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@dataclass(frozen=True)
class Crd:
    group: str
    kind: str
    scope: str
    versions: dict[str, dict[str, Any]]  # name -> openAPIV3Schema

    def validator(self, version: str) -> jsonschema.Draft4Validator:
        return _validator(self, version)


@cache
def load_crd(path: str | Path) -> Crd:
    doc = yaml.safe_load(Path(path).read_text())
    spec = doc["spec"]
    return Crd(group=spec["group"], kind=spec["names"]["kind"], scope=spec["scope"],
               versions={v["name"]: v["schema"]["openAPIV3Schema"] for v in spec["versions"] if v.get("served", True)})


_VALIDATORS: dict[tuple[int, str], jsonschema.Draft4Validator] = {}


def _validator(crd: Crd, version: str) -> jsonschema.Draft4Validator:
    key = (id(crd), version)
    if key not in _VALIDATORS:
        schema = copy.deepcopy(crd.versions[version])
        schema["properties"].pop("metadata", None)  # ObjectMeta: checked on its own below
        schema = _strict(schema)
        schema["properties"]["metadata"] = {"type": "object"}
        jsonschema.Draft4Validator.check_schema(schema)
        _VALIDATORS[key] = jsonschema.Draft4Validator(schema)
    return _VALIDATORS[key]


def _check_metadata(meta: Any, namespaced: bool, problems: list[str]) -> None:
    if not isinstance(meta, dict):
        problems.append("metadata: must be an object")
        return
    for key in sorted(set(meta) - OBJECT_META_FIELDS):
        problems.append(f"metadata.{key}: unknown field")
    name = meta.get("name")
    if not isinstance(name, str) or not name or len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        problems.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain")
    if namespaced and "namespace" in meta and not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", meta["namespace"]):
        problems.append(f"metadata.namespace: {meta['namespace']!r} is not a DNS-1123 label")
    if not namespaced and "namespace" in meta:
        problems.append("metadata.namespace: set on a cluster-scoped object")
    for key, value in (meta.get("labels") or {}).items():
        if not LABEL_KEY.match(key) or not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            problems.append(f"metadata.labels: {key}={value!r} is not a valid label")
    for key, value in (meta.get("annotations") or {}).items():
        if not isinstance(value, str):
            problems.append(f"metadata.annotations.{key}: must be a string")


@cache
def _program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _walk(schema: dict[str, Any], value: Any, path: str, report: Report) -> None:
    for rule in schema.get("x-kubernetes-validations", []):
        text = rule["rule"]
        if re.search(r"\boldSelf\b", text):
            report.transition_rules_skipped += 1
            continue
        report.rules_evaluated += 1
        try:
            ok = _program(text).evaluate({"self": celpy.json_to_cel(value)})
        except Exception as exc:  # a CEL runtime error is a rejection on the server too
            report.problems.append(f"{path or '<root>'}: CEL rule {text!r} failed to evaluate: {exc}")
            continue
        if isinstance(ok, Exception) or not bool(ok):
            report.problems.append(f"{path or '<root>'}: {rule.get('message', 'CEL rule failed')} ({text})")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                _walk(props[key], item, f"{path}.{key}" if path else key, report)
            elif isinstance(extra, dict):
                _walk(extra, item, f"{path}[{key}]", report)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        kind = schema.get("x-kubernetes-list-type")
        if kind == "map":
            keys = [tuple(item.get(k) for k in schema.get("x-kubernetes-list-map-keys", [])) for item in value]
            if len(keys) != len(set(keys)):
                report.problems.append(f"{path}: duplicate list-map keys {keys}")
        elif kind == "set":
            seen = [yaml.safe_dump(item, sort_keys=True) for item in value]
            if len(seen) != len(set(seen)):
                report.problems.append(f"{path}: duplicate items in a set")
        for i, item in enumerate(value):
            _walk(schema["items"], item, f"{path}[{i}]", report)


def validate(crd_path: str | Path, obj: dict[str, Any]) -> Report:
    """Every reason the API server would refuse to create `obj` (strict field validation)."""
    crd = load_crd(str(crd_path))
    report = Report()
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    if group != crd.group or version not in crd.versions:
        report.problems.append(f"apiVersion {obj.get('apiVersion')!r} is not served by the {crd.kind} CRD")
        return report
    if obj.get("kind") != crd.kind:
        report.problems.append(f"kind {obj.get('kind')!r} is not {crd.kind}")
    for error in sorted(_validator(crd, version).iter_errors(obj), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or "<root>"
        report.problems.append(f"{where}: {error.message[:300]}")
    _check_metadata(obj.get("metadata"), crd.scope == "Namespaced", report.problems)
    _walk(crd.versions[version], obj, "", report)
    return report
