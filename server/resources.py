"""MCP resources: the knowledge base (index, one resource per node) and the GPU and model catalogues."""

from __future__ import annotations

import json

from mcp.server.mcpserver.exceptions import ResourceNotFoundError


def knowledge_index() -> str:
    from ml_expert_mcp.knowledge import framework_nodes

    rows = [{"id": n.id, "title": n.title, "parent": n.parent, "status": n.status} for n in framework_nodes()]
    return json.dumps(rows, separators=(",", ":"))


def knowledge_node(node_id: str) -> str:
    from ml_expert_mcp.knowledge import node_index

    node = node_index().get(node_id)
    if node is None:
        raise ResourceNotFoundError(f"no knowledge node {node_id!r}; read knowledge://index for the ids")
    return node.model_dump_json(exclude_none=True)


def gpu_catalogue() -> str:
    from ml_expert_mcp.knowledge import gpu_catalog

    return json.dumps([g.model_dump(mode="json", exclude_none=True) for g in gpu_catalog().values()], separators=(",", ":"))


def model_catalogue() -> str:
    from ml_expert_mcp.knowledge import model_catalog

    return json.dumps([m.model_dump(mode="json", exclude_none=True) for m in model_catalog().values()], separators=(",", ":"))
