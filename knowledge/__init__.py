"""The structured knowledge base: TOML data files validated against `knowledge.schema`, loaded once, lazily."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from ml_expert_mcp.knowledge.schema import Alias, GpuSpec, InstanceType, KnowledgeNode, LatencyAnchor, ModelPreset

__all__ = ["alias_table", "framework_nodes", "gpu_catalog", "instance_catalog", "model_catalog", "node_index", "KnowledgeNode",
           "GpuSpec", "InstanceType", "ModelPreset", "LatencyAnchor", "latency_anchors"]


def _read_toml(relative: str) -> dict[str, Any]:
    return tomllib.loads(resources.files("ml_expert_mcp.knowledge").joinpath(relative).read_text(encoding="utf-8"))


def framework_files() -> list[str]:
    """Relative paths of the framework-tree files, sorted so loading order is stable."""
    folder = resources.files("ml_expert_mcp.knowledge").joinpath("frameworks")
    return sorted(f"frameworks/{p.name}" for p in folder.iterdir() if p.name.endswith(".toml"))


@cache
def framework_nodes() -> tuple[KnowledgeNode, ...]:
    nodes: list[KnowledgeNode] = []
    for rel in framework_files():
        nodes.extend(KnowledgeNode.model_validate(raw) for raw in _read_toml(rel).get("node", []))
    by_id: dict[str, KnowledgeNode] = {}
    for node in nodes:
        if node.id in by_id:
            raise ValueError(f"duplicate knowledge node id {node.id}")
        by_id[node.id] = node
    for node in nodes:
        for ref in (node.parent, node.successor):
            if ref is not None and ref not in by_id:
                raise ValueError(f"node {node.id} refers to unknown node {ref}")
    return tuple(sorted(nodes, key=lambda n: n.id))


@cache
def node_index() -> dict[str, KnowledgeNode]:
    return {n.id: n for n in framework_nodes()}


@cache
def gpu_catalog() -> dict[str, GpuSpec]:
    return {g.id: g for g in (GpuSpec.model_validate(raw) for raw in _read_toml("gpus.toml")["gpu"])}


@cache
def model_catalog() -> dict[str, ModelPreset]:
    return {m.id: m for m in (ModelPreset.model_validate(raw) for raw in _read_toml("models.toml")["model"])}


@cache
def alias_table() -> dict[str, dict[str, Alias]]:
    """Names people type, by kind ('gpu', 'model') and normalised name; every target is in its catalogue."""
    out: dict[str, dict[str, Alias]] = {"gpu": {}, "model": {}}
    for alias in (Alias.model_validate(raw) for raw in _read_toml("aliases.toml")["alias"]):
        ids = gpu_catalog() if alias.kind == "gpu" else model_catalog()
        for target in (alias.to,) if alias.to else alias.candidates:
            if target not in ids:
                raise ValueError(f"alias {alias.name} names unknown {alias.kind} {target}")
        if alias.name in out[alias.kind] or alias.name in {i.lower() for i in ids}:
            raise ValueError(f"alias {alias.name} is given twice or shadows a catalogue id")
        out[alias.kind][alias.name] = alias
    return out


@cache
def instance_catalog() -> dict[str, InstanceType]:
    """SageMaker instance types; every GPU named must be in the GPU catalogue."""
    out = {i.id: i for i in (InstanceType.model_validate(raw) for raw in _read_toml("instances.toml")["instance"])}
    for inst in out.values():
        if inst.gpu is not None and inst.gpu not in gpu_catalog():
            raise ValueError(f"instance {inst.id} names unknown GPU {inst.gpu}")
    return out


@cache
def latency_anchors() -> dict[tuple[str, str], LatencyAnchor]:
    """Serving latency constants by (runtime, family), fitted on published inference measurements."""
    raw = _read_toml("serving_latency.toml")["anchor"]
    return {(a.runtime, a.family): a for a in (LatencyAnchor.model_validate(r) for r in raw)}
