"""search_knowledge: deterministic keyword ranking over the framework trees."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from ml_expert_mcp.knowledge import framework_nodes
from ml_expert_mcp.knowledge.schema import KnowledgeNode, NodeStatus
from ml_expert_mcp.tools.common.models import StrictModel
from ml_expert_mcp.tools.common.tool import tool

_WORD = re.compile(r"[a-z0-9]+")
# Field weights: a query word in the id or title counts most, then tags, then the summary and correction.
WEIGHTS = {"id": 4.0, "title": 4.0, "tags": 3.0, "summary": 1.0, "correction": 1.0}


class SearchKnowledgeRequest(StrictModel):
    query: str = Field(min_length=1, max_length=200, description="Keywords, e.g. 'model registry aliases'.")
    limit: int = Field(default=5, ge=1, le=20, description="Maximum hits.")


class KnowledgeHit(BaseModel):
    id: str = Field(description="Node id; read it as resource knowledge://node/{id}.")
    title: str
    summary: str
    status: NodeStatus = Field(description="current, deprecated, renamed or removed.")
    successor: str | None = Field(default=None, description="Node that replaces it, if any.")
    score: float = Field(description="Relevance score (higher is better).")


class SearchKnowledgeResult(BaseModel):
    hits: list[KnowledgeHit]


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


@tool("Search the ML knowledge base")
def search_knowledge(req: SearchKnowledgeRequest) -> SearchKnowledgeResult:
    """Find framework-tree nodes (TF, PyTorch, MLflow, Kubeflow, SageMaker...) by keywords; says which are deprecated
    and what replaced them. Call first when a question names a tool or API.
    """
    query = _words(req.query)
    scored: list[tuple[float, str, KnowledgeNode]] = []
    for node in framework_nodes():
        fields = {"id": node.id.replace(".", " ").replace("_", " "), "title": node.title, "tags": " ".join(node.tags),
                  "summary": node.summary, "correction": node.correction or ""}
        score = 0.0
        for name, text in fields.items():
            words = _words(text)
            score += WEIGHTS[name] * sum(1 for q in query if q in words)
        if score > 0:
            scored.append((score, node.id, node))
    scored.sort(key=lambda s: (-s[0], s[1]))
    hits = [KnowledgeHit(id=n.id, title=n.title, summary=n.summary, status=n.status, successor=n.successor, score=s)
            for s, _, n in scored[: req.limit]]
    return SearchKnowledgeResult(hits=hits)
