"""The grid search (tools/training/grid.py, NumPy over the layout grid) against the scalar path it stands in for
(issue 16): every cell bit-identical to evaluation.evaluate, and the plan the scalar search gives without pruning."""

from __future__ import annotations

from typing import Any

import pytest

from ml_expert_mcp.tools.training import grid
from ml_expert_mcp.tools.training.estimate import sequence_parallel
from ml_expert_mcp.tools.training.evaluation import evaluate, op_level
from ml_expert_mcp.tools.training.inputs import ClusterSpec, ModelSpec, TrainingSpec
from ml_expert_mcp.tools.training.strategy import (
    MICRO_BATCHES,
    SelectDistributionRequest,
    _context,
    _search,
    _space,
    _Tally,
)

# (preset, framework, cluster, training): every branch of the grid's memory and step terms
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("llama-3.1-8b", "pytorch_fsdp", {"nodes": 2}, {}),  # TP (DTensor), hybrid shard, offload, selective_op
    ("llama-3.1-8b", "pytorch_fsdp", {"nodes": 4}, {"sequence_length": 8192}),  # context parallel
    ("llama-3.1-70b", "pytorch_fsdp", {"nodes": 8}, {"precision": "fp8"}),  # fp8 weight copies, ZeRO-3 gathers
    ("llama-3.1-8b", "pytorch_fsdp", {"gpu": "A10G", "gpus_per_node": 4, "nodes": 8, "inter_node_gbps": 1.25}, {}),
    ("qwen3-8b", "accelerate", {"nodes": 1}, {"optimizer": "adam_8bit"}),  # qk-norm, 8-bit optimizer step
    ("gpt2-medium", "lightning", {"gpu": "A100-SXM-40GB", "nodes": 2}, {"attention": "eager"}),  # unfused GELU, scores
    ("bert-large", "pytorch_fsdp", {"gpu": "L4", "gpus_per_node": 1, "nodes": 4}, {"precision": "fp32"}),
    ("vit-b-16", "pytorch_fsdp", {"gpu": "L4", "gpus_per_node": 4, "nodes": 1}, {}),  # per-sample logits
    ("resnet-50", "tensorflow", {"gpu": "A10G", "gpus_per_node": 4, "nodes": 2}, {}),  # opaque CNN, full/none only
    ("llama-3.2-1b", "deepspeed", {"gpus_per_node": 1, "nodes": 1}, {}),  # Megatron-style mixed precision, buckets
    ("llama-3.1-8b", "pytorch_fsdp", {"nodes": 1}, {"micro_batch_size": 2, "activation_checkpointing": "selective"}),
    ("llama-3.1-8b", "pytorch_fsdp", {"nodes": 2}, {"micro_batch_size": 3, "global_batch_size": 64}),  # never divides
    ("llama-3.1-70b", "pytorch_fsdp", {"gpu": "A100-SXM-40GB", "nodes": 1}, {}),  # nothing fits
]


def _request(preset: str, framework: str, cluster: dict[str, Any], training: dict[str, Any],
             top_k: int = 3) -> SelectDistributionRequest:
    return SelectDistributionRequest(model=ModelSpec(preset=preset), cluster=ClusterSpec(**cluster),
                                     training=TrainingSpec(**training), framework=framework, top_k=top_k)


@pytest.mark.parametrize(("preset", "framework", "cluster", "training"), CASES)
def test_every_cell_is_the_scalar_evaluation_bit_for_bit(preset: str, framework: str, cluster: dict[str, Any],
                                                         training: dict[str, Any]) -> None:
    """Memory (GiB on the device) and tokens/s of each (family, checkpointing, micro-batch) cell equal what
    evaluation.evaluate gives that layout, exactly: the grid writes each term in the scalar model's order."""
    req = _request(preset, framework, cluster, training)
    ctx, gb = _context(req)
    space = _space(req, ctx, gb, _Tally())
    assert grid.covers(ctx, space.families)
    columns = [space.fixed_mb] if space.fixed_mb else list(MICRO_BATCHES)
    cells = grid._Grid(ctx, space.families, [op_level(c, framework) for c in space.ckpts], columns, space.meg)
    device, tokens = cells.device_gib(), cells.tokens_per_s()
    compared = 0
    for i, (tp, _pp, cp, dp, per_rank, zero, hybrid, offload) in enumerate(space.families):
        for j, ckpt in enumerate(space.ckpts):
            for k, mb in enumerate(columns):
                if per_rank % mb:
                    continue
                res = evaluate(ctx, dp=dp, tp=tp, pp=1, cp=cp, sp=sequence_parallel(framework, tp), zero=zero,
                               hybrid=hybrid, offload=offload, micro_batch=mb, accumulation=per_rank // mb,
                               checkpointing=op_level(ckpt, framework), megatron_style=space.meg)
                assert res.step is not None
                assert float(device[i, j, k]) == res.device_gib, (space.families[i], ckpt, mb)
                assert float(tokens[i, j, k]) == res.step.tokens_per_s, (space.families[i], ckpt, mb)
                compared += 1
    assert compared >= 7 or not any(f[4] % mb == 0 for f in space.families for mb in columns)  # (a size never divides)


@pytest.mark.parametrize(("preset", "framework", "cluster", "training"), CASES)
def test_grid_search_gives_the_plan_of_the_scalar_search_without_pruning(
        preset: str, framework: str, cluster: dict[str, Any], training: dict[str, Any]) -> None:
    """The tool's plan (ranking, rejections, layouts counted) from the grid equals the scalar search's that times
    every layout that fits; the ranking-only search (best_layout's) ranks the same, with or without a floor."""
    req = _request(preset, framework, cluster, training)
    gridded, reference = _search(req, True), _search(req, True, prune=False)
    assert gridded.model_dump() == reference.model_dump()
    ranking = _search(req, False)
    assert ranking.ranked == reference.ranked
    if reference.ranked:
        best = reference.ranked[0].tokens_per_s
        assert _search(req, False, at_least=0.999 * best).ranked[:1] == reference.ranked[:1]
        assert not _search(req, False, at_least=1.001 * best).ranked


def test_the_grid_leaves_pipelines_experts_and_fine_tuning_to_the_scalar_search() -> None:
    for preset, framework, training in (("llama-3.1-8b", "megatron", {}), ("mixtral-8x7b", "pytorch_fsdp", {}),
                                        ("llama-3.1-8b", "pytorch_fsdp", {"finetuning": {"method": "lora"}}),
                                        ("llama-3.1-70b", "deepspeed", {})):
        req = _request(preset, framework, {"nodes": 2}, training)
        ctx, gb = _context(req)
        assert not grid.covers(ctx, _space(req, ctx, gb, _Tally()).families), (preset, framework, training)


def test_clusters_searched_together_rank_as_searched_alone() -> None:
    """Node counts of one instance type in one pass (a planner's counts, grid.search_clusters): each ranks as its own
    search does, floors included."""
    searches = []
    for nodes, floor in ((2, 5000.0), (4, -float("inf")), (8, 15000.0)):
        req = _request("llama-3.1-8b", "pytorch_fsdp", {"gpu": "A10G", "gpus_per_node": 4, "nodes": nodes,
                                                        "inter_node_gbps": 1.25}, {}, top_k=2)
        ctx, gb = _context(req)
        searches.append((ctx, _space(req, ctx, gb, _Tally()), floor))
    space = searches[0][1]
    together = grid.search_clusters([(ctx, s.families, floor) for ctx, s, floor in searches], space.ckpts,
                                    list(MICRO_BATCHES), space.meg, 2)
    alone = [grid.search(ctx, s.families, s.ckpts, list(MICRO_BATCHES), s.meg, 2, floor) for ctx, s, floor in searches]
    assert [r.ranked for r in together] == [r.ranked for r in alone]
    assert [r.misses for r in together] == [r.misses for r in alone]
    assert any(r.ranked for r in alone)
