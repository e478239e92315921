"""search_knowledge: full-text ranking over the framework trees (SQLite FTS5, BM25, Porter stemming).

The index is an in-memory FTS5 table built once per process from the knowledge nodes (no file is written). Each
query word is matched with the Porter stemmer ("estimators" finds "Estimator"), any word may match (OR), and BM25
ranks with column weights: title and id words count most, then tags, then the summary, then the how-to text. A
node whose title (or last id part) is the query itself comes first: "TorchScript" finds the TorchScript node
before "TorchScript custom ops". Ties go by id, so the ranking is deterministic.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from functools import cache

from pydantic import BaseModel, Field

from ml_expert_mcp.knowledge import framework_nodes
from ml_expert_mcp.knowledge.schema import KnowledgeNode, NodeStatus
from ml_expert_mcp.tools.common.models import Plan, StrictModel
from ml_expert_mcp.tools.common.tool import tool

_WORD = re.compile(r"[a-z0-9]+")
# BM25 column weights, in the order of the columns of the index below.
COLUMNS = ("title", "id_words", "tags", "summary", "body")
WEIGHTS = (8.0, 6.0, 4.0, 2.0, 1.0)
EXACT_TITLE_BONUS = 1000.0


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


class SearchKnowledgeResult(Plan):
    def headline(self) -> str:
        if not self.hits:
            return "No knowledge node matches; try other keywords or read resource knowledge://index."
        tops = "; ".join(f"{h.title} ({h.id}, {h.status}{', use ' + h.successor if h.successor else ''})"
                         for h in self.hits[:3])
        return f"{len(self.hits)} node(s) match; best: {tops}."

    hits: list[KnowledgeHit]


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _norm(text: str) -> str:
    return " ".join(_words(text))


class _Index:
    """The FTS5 table and the nodes by rowid; one connection, used under a lock (tools may run in threads)."""

    def __init__(self, nodes: tuple[KnowledgeNode, ...]) -> None:
        self.nodes = nodes
        self.lock = threading.Lock()
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute(f"CREATE VIRTUAL TABLE node USING fts5({', '.join(COLUMNS)}, tokenize='porter unicode61')")
        rows = []
        for n in nodes:
            body = " ".join(filter(None, (n.when_to_use, n.how_to, n.correction, " ".join(n.pitfalls))))
            rows.append((n.title, n.id.replace(".", " ").replace("_", " "), " ".join(n.tags), n.summary, body))
        self.db.executemany(f"INSERT INTO node({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?)", rows)
        self.exact: dict[str, set[int]] = {}
        for i, n in enumerate(nodes):
            for key in (_norm(n.title), _norm(n.id.rsplit(".", 1)[-1].replace("_", " "))):
                self.exact.setdefault(key, set()).add(i)

    def search(self, query: str, limit: int) -> list[tuple[float, KnowledgeNode]]:
        words = _words(query)
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in dict.fromkeys(words))  # quoted: no FTS5 syntax from the caller
        weights = ", ".join(str(w) for w in WEIGHTS)
        with self.lock:
            found = self.db.execute(f"SELECT rowid, bm25(node, {weights}) FROM node WHERE node MATCH ?",
                                    (match,)).fetchall()
        exact = self.exact.get(" ".join(words), set())
        scored = [(-rank + (EXACT_TITLE_BONUS if rowid - 1 in exact else 0.0), self.nodes[rowid - 1])
                  for rowid, rank in found]
        scored.sort(key=lambda s: (-s[0], s[1].id))
        return [(round(score, 4), node) for score, node in scored[:limit]]


@cache
def _index() -> _Index:
    return _Index(tuple(framework_nodes()))


@tool("Search the ML knowledge base")
def search_knowledge(req: SearchKnowledgeRequest) -> SearchKnowledgeResult:
    """Find framework-tree nodes (TF, PyTorch, MLflow, Kubeflow, SageMaker...) by keywords; says which are deprecated
    and what replaced them. Call first when a question names a tool or API.
    """
    hits = [KnowledgeHit(id=n.id, title=n.title, summary=n.summary, status=n.status, successor=n.successor, score=score)
            for score, n in _index().search(req.query, req.limit)]
    return SearchKnowledgeResult(hits=hits)
