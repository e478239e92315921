"""Kubernetes manifests as plain dicts, rendered to YAML by PyYAML's safe dumper (user strings stay data).

Shared by the serving and MLflow planners. Names follow RFC 1123 (what the API server enforces on metadata.name
and namespaces); the full schema check is `kubernetes-validate --strict` in the tests.

The kubelet expands `$(VAR)` in a container's command, args and env values (a user string `$(PGPASSWORD)` would
become the secret): `to_yaml` writes every `$` there as `$$`, Kubernetes' escape, in every container of every pod
template it finds (and in Argo `container`, Kubeflow `trainer` and KServe `model` objects), so no planner can
forget it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
IMAGE_TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
KUBERNETES_VERSION = "1.34.0"  # the schema version the tests validate against


def dns_name(text: str, suffix: str = "", reserve: int = 0) -> str:
    """A DNS-1123 label made from free text (lower case, other characters to '-'), with an optional suffix; `reserve`
    keeps room for suffixes the caller appends later (e.g. "-config")."""
    base = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "app"
    room = 63 - len(suffix) - reserve
    return (base[:room].rstrip("-") or "app") + suffix


def metadata(name: str, namespace: str, app: str, component: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace,
            "labels": {"app.kubernetes.io/name": app, "app.kubernetes.io/component": component,
                       "app.kubernetes.io/managed-by": "ml-expert-mcp"}}


def quantity(value: float) -> str:
    """A Kubernetes quantity string: whole numbers as integers, otherwise milli-units."""
    milli = round(value * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def gib(value: float) -> str:
    return f"{round(value * 1024)}Mi"


_BASE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter when built with it: ~10x faster


class _Dumper(_BASE_DUMPER):  # type: ignore[valid-type,misc]
    """Safe dumper without anchors/aliases, multi-line strings as literal blocks where YAML allows it."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(documents: list[dict[str, Any]]) -> str:
    """YAML documents; container command, args and env values with `$` escaped (see the module docstring)."""
    return str(yaml.dump_all([literal_expansions(d) for d in documents], Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1_000_000,
                         allow_unicode=True))


EXPANDED_FIELDS = ("command", "args")
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _literal_container(container: dict[str, Any]) -> dict[str, Any]:
    out = dict(container)
    for key in EXPANDED_FIELDS:
        if isinstance(out.get(key), list):
            out[key] = [v.replace("$", "$$") if isinstance(v, str) else v for v in out[key]]
    if isinstance(out.get("env"), list):
        out["env"] = [{**e, "value": e["value"].replace("$", "$$")} if isinstance(e, dict) and
                      isinstance(e.get("value"), str) else e for e in out["env"]]
    return out


# Objects that become a container: Argo's template `container`, Kubeflow TrainJob's `trainer`, KServe's `model`.
CONTAINER_OBJECTS = ("container", "trainer", "model")


def _is_container_like(value: Any) -> bool:
    return isinstance(value, dict) and any(isinstance(value.get(k), list) for k in (*EXPANDED_FIELDS, "env"))


def literal_expansions(node: Any) -> Any:
    """A copy of a manifest where the kubelet's `$(VAR)` expansion gives back every container string as written."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k in CONTAINER_LISTS and isinstance(v, list):
                out[k] = [_literal_container(literal_expansions(c)) if isinstance(c, dict) else c for c in v]
            elif k in CONTAINER_OBJECTS and _is_container_like(v):
                out[k] = _literal_container(literal_expansions(v))
            else:
                out[k] = literal_expansions(v)
        return out
    if isinstance(node, list):
        return [literal_expansions(v) for v in node]
    return node


def check_names(documents: list[dict[str, Any]]) -> list[str]:
    """Our own checks: every object has apiVersion, kind and an RFC 1123 name and namespace."""
    problems = []
    for doc in documents:
        meta = doc.get("metadata", {})
        for key in ("name", "namespace"):
            if key in meta and not DNS_LABEL.fullmatch(meta[key]):
                problems.append(f"{doc.get('kind')}: metadata.{key} {meta[key]!r} is not an RFC 1123 label")
        if not doc.get("apiVersion") or not doc.get("kind"):
            problems.append(f"object without apiVersion/kind: {meta.get('name')}")
    return problems
