"""recommend_framework: rank ML frameworks for a use case with the documented scoring in knowledge/framework_scores.toml."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, Field

from ml_expert_mcp.tools.common.models import Plan, StrictModel
from ml_expert_mcp.tools.common.tool import tool

Task = Literal["llm_pretraining", "llm_finetuning", "nlp", "vision", "tabular", "recommendation", "time_series",
               "speech", "reinforcement_learning"]
Target = Literal["server", "mobile_edge", "browser", "batch"]
Language = Literal["python", "javascript", "cpp", "java"]
Stack = Literal["pytorch", "tensorflow", "jax", "sklearn", "spark", "aws_sagemaker", "gcp_vertex", "databricks"]


class RecommendFrameworkRequest(StrictModel):
    task: Task = Field(description="What is being built.")
    data_size_gb: float = Field(default=10, ge=0, le=1e7, description="Training data size, GB.")
    model_params_b: float = Field(default=0.1, ge=0, le=1e4, description="Model size, billions of parameters (0 for classical ML).")
    num_gpus: int = Field(default=1, ge=0, le=100_000, description="GPUs available for training (0 = CPU only).")
    tpu: bool = Field(default=False, description="Training on Google TPUs.")
    deployment_targets: list[Target] = Field(default_factory=lambda: list[Target](["server"]), max_length=4, description="Where models run.")
    team_language: Language = Field(default="python", description="Team's main language.")
    existing_stack: list[Stack] = Field(default_factory=list, max_length=8, description="What the team already runs.")
    needs_distributed_training: bool = Field(default=False, description="Multi-GPU or multi-node training needed.")
    needs_managed_cloud: bool = Field(default=False, description="Prefers a managed cloud service.")


class FrameworkScore(BaseModel):
    framework: str = Field(description="Framework id.")
    title: str
    score: float = Field(description="Total points (see README scoring).")
    reasons_for: list[str]
    reasons_against: list[str]
    knowledge_ids: list[str] = Field(description="Knowledge nodes behind this entry.")


class FrameworkRecommendation(Plan):
    def headline(self) -> str:
        if not self.ranked:
            return "No framework fits the stated task."
        best = self.ranked[0]
        runner = f"; then {self.ranked[1].title} ({self.ranked[1].score:g})" if len(self.ranked) > 1 else ""
        return f"{best.title} ranks first (score {best.score:g}){runner}. {'; '.join(best.reasons_for[:2])}."

    ranked: list[FrameworkScore] = Field(description="Best first; ties by id.")
    scoring: str = Field(description="How the score is computed.")


@cache
def _table() -> tuple[dict[str, Any], ...]:
    text = resources.files("ml_expert_mcp.knowledge").joinpath("framework_scores.toml").read_text(encoding="utf-8")
    return tuple(tomllib.loads(text)["framework"])


SCORING = ("task fit (0-10) + sum of deployment-target points + distributed bonus if needed + large-model bonus "
           "if >= 1B params + TPU points if on TPU + 2 per matching existing stack + team-language points; "
           "classical ML loses 5 when data > 100 GB")


@tool("Recommend an ML framework")
def recommend_framework(req: RecommendFrameworkRequest) -> FrameworkRecommendation:
    """Rank frameworks (PyTorch, Lightning, TensorFlow/Keras, JAX, Transformers, scikit-learn, XGBoost) for a task,
    scale, deployment targets and team, with points for and against.
    """
    out: list[FrameworkScore] = []
    for row in _table():
        pro: list[str] = []
        con: list[str] = []
        score = float(row["task"][req.task])
        (pro if score >= 6 else con).append(f"task fit for {req.task}: {score:g}/10")
        for target in sorted(set(req.deployment_targets)):
            pts = row["targets"][target]
            score += pts
            runtimes = row.get("edge_runtimes", {}).get(target)
            if pts > 0:
                pro.append(f"deploys to {target} (+{pts})" + (f" with {runtimes}" if runtimes else ""))
            elif pts < 0:
                con.append(f"weak for {target} ({pts})")
        if req.needs_distributed_training or req.num_gpus > 1:
            score += row["distributed"]
            (pro if row["distributed"] > 0 else con).append(f"distributed training ({row['distributed']:+d})")
        if req.model_params_b >= 1:
            score += row["large_model"]
            (pro if row["large_model"] > 0 else con).append(f"models of {req.model_params_b:g}B params ({row['large_model']:+d})")
        if req.tpu:
            score += row["tpu"]
            (pro if row["tpu"] > 0 else con).append(f"TPU support ({row['tpu']:+d})")
        if row["id"] in req.existing_stack or (row["id"] in ("lightning", "transformers") and "pytorch" in req.existing_stack):
            score += 2
            pro.append("matches the existing stack (+2)")
        lang = row["languages"].get(req.team_language, 0)
        score += lang
        if lang:
            pro.append(f"{req.team_language} API (+{lang})")
        elif req.team_language != "python":
            con.append(f"no first-class {req.team_language} API")
        if row["id"] in ("sklearn",) and req.data_size_gb > 100:
            score -= 5
            con.append("data > 100 GB does not fit in one machine's memory (-5)")
        if req.needs_managed_cloud:
            pro.append("runs on SageMaker/Vertex AI managed training")
        nodes = [row["node"]] + (["parallelism.fsdp"] if row["id"] == "pytorch" and req.num_gpus > 1 else [])
        if {"mobile_edge", "browser"} & set(req.deployment_targets):
            nodes += row.get("edge_nodes", [])
        out.append(FrameworkScore(framework=row["id"], title=row["title"], score=score, reasons_for=pro,
                                  reasons_against=con, knowledge_ids=nodes))
    out.sort(key=lambda f: (-f.score, f.framework))
    return FrameworkRecommendation(ranked=out, scoring=SCORING)
