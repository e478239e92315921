"""Kubernetes manifests as plain dicts, rendered to YAML by PyYAML's safe dumper (user strings stay data).

Shared by the serving and MLflow planners. Names follow RFC 1123 (what the API server enforces on metadata.name
and namespaces); the full schema check is `kubernetes-validate --strict` in the tests.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
IMAGE_TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
KUBERNETES_VERSION = "1.34.0"  # the schema version the tests validate against


def dns_name(text: str, suffix: str = "") -> str:
    """A DNS-1123 label made from free text (lower case, other characters to '-'), with an optional suffix."""
    base = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "app"
    room = 63 - len(suffix)
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
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1_000_000,
                         allow_unicode=True)


def check_names(documents: list[dict[str, Any]]) -> list[str]:
    """Our own checks: every object has apiVersion, kind and an RFC 1123 name and namespace."""
    problems = []
    for doc in documents:
        meta = doc.get("metadata", {})
        for key in ("name", "namespace"):
            if key in meta and not DNS_LABEL.match(meta[key]):
                problems.append(f"{doc.get('kind')}: metadata.{key} {meta[key]!r} is not an RFC 1123 label")
        if not doc.get("apiVersion") or not doc.get("kind"):
            problems.append(f"object without apiVersion/kind: {meta.get('name')}")
    return problems
