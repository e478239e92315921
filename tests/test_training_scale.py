"""Issue 13: the training planner at real scale: settings honoured, headroom, uneven and interleaved pipelines, the
sharded-DP communication model, one layout's step time, and fixes that do fit."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from pathlib import Path

import pytest

from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.training.artifacts import megatron_args
from ml_expert_mcp.tools.training.context import build_context
from ml_expert_mcp.tools.training.estimate import EstimateTrainingMemoryRequest, estimate_training_memory
from ml_expert_mcp.tools.training.inputs import ClusterSpec, Layout, ModelSpec, TrainingSpec
from ml_expert_mcp.tools.training.memory import activation_bytes_per_token_layer
from ml_expert_mcp.tools.training.model_arch import Architecture, resolve_model
from ml_expert_mcp.tools.training.pipeline import bubble_fraction, interleave_ok, stage_split
from ml_expert_mcp.tools.training.pytorch import PlanPyTorchTrainingRequest, plan_pytorch_training
from ml_expert_mcp.tools.training.strategy import SelectDistributionRequest, select_distribution_strategy
from ml_expert_mcp.tools.training.tensorflow import PlanTFTrainingRequest, plan_tf_training

H100_USABLE = 79.18


def test_uneven_split_of_llama3_405b_matches_meta() -> None:
    # Llama 3 paper (arXiv:2407.21783, 3.3.2): 126 layers on 16 stages, first and last one layer lighter
    assert stage_split(126, 16) == (7, 8, 7)
    assert stage_split(126, 16)[0] + 14 * 8 + stage_split(126, 16)[2] == 126
    assert stage_split(70, 4) == (17, 18, 17) and 17 + 2 * 18 + 17 == 70  # BLOOM-like 70 layers
    assert stage_split(3, 4) is None
    # (126 + embedding + loss) / (16 stages x 2 chunks) = 4 layers per chunk: interleaving allowed
    assert interleave_ok(126, 16, 2, 32) and not interleave_ok(126, 16, 3, 32) and not interleave_ok(96, 8, 3, 4)
    assert bubble_fraction(8, 1, 64) == pytest.approx(7 / 64) and bubble_fraction(8, 3, 64) == pytest.approx(7 / 192)


def test_llama3_405b_at_meta_scale_is_expressible_and_fits() -> None:
    cluster = ClusterSpec(nodes=1024)
    training = TrainingSpec(sequence_length=8192, global_batch_size=2048, activation_checkpointing="full")
    layout = Layout(data_parallel=64, tensor_parallel=8, pipeline_parallel=16, zero_stage=1, micro_batch_size=1,
                    gradient_accumulation_steps=32, virtual_pipeline_stages=2)
    est = estimate_training_memory(EstimateTrainingMemoryRequest(model=ModelSpec(preset="llama-3.1-405b"),
                                                                 training=training, cluster=cluster, layout=layout,
                                                                 framework="megatron"))
    assert est.fits and est.step_time_s and est.mfu and 0.2 < est.mfu < 0.6
    plan = select_distribution_strategy(SelectDistributionRequest(model=ModelSpec(preset="llama-3.1-405b"),
                                                                  training=training, cluster=cluster, framework="megatron"))
    assert plan.fits and plan.ranked[0].layout.pipeline_parallel > 2


def test_megatron_uneven_and_interleaved_flags() -> None:
    ctx = build_context(ModelSpec(preset="llama-3.1-405b"), TrainingSpec(sequence_length=8192), ClusterSpec(nodes=1024))
    from ml_expert_mcp.tools.training.plans import RankedLayout

    lay = Layout(data_parallel=64, tensor_parallel=8, pipeline_parallel=16, zero_stage=1, micro_batch_size=1,
                 gradient_accumulation_steps=32, virtual_pipeline_stages=2, activation_checkpointing="full")
    ranked = RankedLayout(rank=1, strategy="x", layout=lay, peak_allocated_gib=1, device_total_gib=1, step_time_s=1,
                          tokens_per_s=1, mfu=0.4, step_breakdown_s={}, reasons=[])
    args = " ".join(megatron_args(ranked, ctx, 2048, "--bf16", 8e-5))
    words = shlex.split(args)
    assert "--account-for-embedding-in-pipeline-split" in words and "--account-for-loss-in-pipeline-split" in words
    assert words[words.index("--num-layers-per-virtual-pipeline-stage") + 1] == "4"  # (126 + 2) / (16 x 2)
    assert words[words.index("--rotary-base") + 1] == "500000" and "--use-rope-scaling" in words
    assert "--untie-embeddings-and-output-weights" in words and "--use-flash-attn" not in words
    assert words[words.index("--num-query-groups") + 1] == "8"


def test_checkpointing_is_honoured_when_given_and_searched_when_not() -> None:
    base = dict(model=ModelSpec(preset="llama-3.1-70b"), cluster=ClusterSpec(nodes=4), top_k=5)
    full = select_distribution_strategy(SelectDistributionRequest(**base, training=TrainingSpec(activation_checkpointing="full")))
    assert full.ranked and {r.layout.activation_checkpointing for r in full.ranked} == {"full"}
    none = select_distribution_strategy(SelectDistributionRequest(**base, training=TrainingSpec(activation_checkpointing="none")))
    assert {r.layout.activation_checkpointing for r in none.ranked} <= {"none"}
    free = select_distribution_strategy(SelectDistributionRequest(**base, training=TrainingSpec()))
    assert free.ranked[0].tokens_per_s >= max(full.ranked[0].tokens_per_s, none.ranked[0].tokens_per_s if none.ranked else 0)


def test_default_headroom_is_kept_and_overridable() -> None:
    req = SelectDistributionRequest(model=ModelSpec(preset="llama-3.1-70b"), cluster=ClusterSpec(nodes=2))
    plan = select_distribution_strategy(req)
    assert all(r.device_total_gib <= H100_USABLE * 0.94 + 1e-6 for r in plan.ranked)
    assert "6% headroom" in plan.ranked[0].reasons[0]
    tight = select_distribution_strategy(req.model_copy(update={"cluster": ClusterSpec(nodes=2, memory_headroom=0.0)}))
    assert tight.ranked[0].tokens_per_s >= plan.ranked[0].tokens_per_s


def test_estimate_gives_the_step_time_the_search_ranks_by() -> None:
    req = SelectDistributionRequest(model=ModelSpec(preset="llama-3.1-8b"), cluster=ClusterSpec(nodes=2),
                                    training=TrainingSpec(sequence_length=4096, global_batch_size=256))
    best = select_distribution_strategy(req).ranked[0]
    est = estimate_training_memory(EstimateTrainingMemoryRequest(model=req.model, training=req.training,
                                                                 cluster=req.cluster, layout=best.layout))
    assert est.step_time_s == pytest.approx(best.step_time_s, rel=1e-3)
    assert est.tokens_per_s == pytest.approx(best.tokens_per_s, rel=1e-3) and est.mfu == pytest.approx(best.mfu, abs=1e-3)
    assert est.samples_per_s == pytest.approx(256 / best.step_time_s, rel=2e-3)
    assert est.device_total_gib == pytest.approx(best.device_total_gib, rel=1e-3)


def test_fsdp_at_64_nodes_is_not_communication_bound() -> None:
    # issue 13: the old model charged params x DP bytes per micro-batch (0.7% MFU for Llama 3.1 8B on 64 nodes)
    common = dict(model=ModelSpec(preset="llama-3.1-8b"), cluster=ClusterSpec(nodes=64),
                  training=TrainingSpec(sequence_length=8192, global_batch_size=512))
    full = estimate_training_memory(EstimateTrainingMemoryRequest(**common, layout=Layout(
        data_parallel=512, zero_stage=3, micro_batch_size=1, activation_checkpointing="full")))
    # 2 all-gathers (bf16) + 1 reduce-scatter (fp32) of 8.03e9 params over 50 GB/s ~ 1.3 s per micro-batch,
    # compute ~1.4 s per micro-batch: mostly hidden by prefetch
    assert full.mfu > 0.2
    slow = ClusterSpec(nodes=64, inter_node_gbps=5.0)
    full_slow = estimate_training_memory(EstimateTrainingMemoryRequest(**{**common, "cluster": slow}, layout=Layout(
        data_parallel=512, zero_stage=3, micro_batch_size=1, activation_checkpointing="full")))
    hybrid_slow = estimate_training_memory(EstimateTrainingMemoryRequest(**{**common, "cluster": slow}, layout=Layout(
        data_parallel=512, zero_stage=3, hybrid_shard=True, micro_batch_size=1, activation_checkpointing="full")))
    # on a slow network, sharding within the node (NVLink) is cheaper than sharding over 512 ranks
    assert hybrid_slow.step_time_s < full_slow.step_time_s
    assert hybrid_slow.device_total_gib > full_slow.device_total_gib  # but holds 8-way, not 512-way, shards


def test_deepspeed_never_offers_zero2_or_3_with_pipeline() -> None:
    for preset, nodes in (("llama-3.1-70b", 2), ("llama-3.1-70b", 8), ("llama-3.1-8b", 1)):
        plan = select_distribution_strategy(SelectDistributionRequest(
            model=ModelSpec(preset=preset), cluster=ClusterSpec(nodes=nodes), framework="deepspeed", top_k=10))
        for r in plan.ranked:
            assert not (r.layout.zero_stage >= 2 and r.layout.pipeline_parallel > 1), r.strategy
        cfg = json.loads(plan.launch.config)
        if plan.ranked[0].layout.pipeline_parallel > 1:
            assert cfg["pipeline"]["stages"] == plan.ranked[0].layout.pipeline_parallel
            assert "PipelineModule(" in plan.launch.code
        if plan.ranked[0].layout.cpu_offload:
            assert cfg["optimizer"]["type"] == "AdamW"
    with pytest.raises(ValueError, match="ZeRO-2/3"):
        Layout(pipeline_parallel=2, zero_stage=2)


def test_what_would_fit_only_suggests_changes_that_fit() -> None:
    req = SelectDistributionRequest(model=ModelSpec(preset="llama-3.1-70b"), cluster=ClusterSpec(nodes=1),
                                    training=TrainingSpec(activation_checkpointing="none", sequence_length=8192))
    plan = select_distribution_strategy(req)
    assert not plan.fits and plan.to_make_it_fit
    for fix in plan.to_make_it_fit:
        if " nodes (" in fix:
            nodes = int(fix.split()[0])
            trial = req.model_copy(update={"cluster": ClusterSpec(nodes=nodes),
                                           "training": TrainingSpec(sequence_length=8192)})
            assert select_distribution_strategy(trial).fits, fix
        if fix.startswith("leave activation_checkpointing unset"):
            trial = req.model_copy(update={"training": TrainingSpec(sequence_length=8192)})
            assert select_distribution_strategy(trial).fits, fix


def test_resnet_plan_reports_images_uses_sgd_and_ddp() -> None:
    plan = plan_pytorch_training(PlanPyTorchTrainingRequest(
        model=ModelSpec(preset="resnet-50"), cluster=ClusterSpec(gpu="A100-SXM-80GB"),
        training=TrainingSpec(optimizer="sgd_momentum", global_batch_size=1024), base_learning_rate=0.1))
    best = plan.distribution.ranked[0]
    assert best.layout.zero_stage == 0 and best.strategy == "DDP"
    assert best.samples_per_s == pytest.approx(best.tokens_per_s) and "images/s" in best.reasons[0]
    # images per second stay under the GPU's dense peak / FLOPs per image (3 x 4.1 GMACs x 2)
    assert best.samples_per_s < 8 * 312e12 / (3 * 8.2e9)
    code = plan.distribution.launch.code
    assert "torch.optim.SGD(" in code and "LR = 0.4" in code and "model.model.layers" not in code
    assert "AdamW" not in code and "cross_entropy" in code and ".loss" not in code


def test_fsdp_code_takes_the_planned_learning_rate() -> None:
    plan = plan_pytorch_training(PlanPyTorchTrainingRequest(
        model=ModelSpec(preset="llama-3.1-8b"), training=TrainingSpec(sequence_length=4096, global_batch_size=64),
        base_learning_rate=1e-5, reference_batch_size=64))
    assert plan.learning_rate.peak_learning_rate == pytest.approx(1e-5)
    assert "LR = 1e-05" in plan.distribution.launch.code and "3e-4" not in plan.distribution.launch.code


def test_tf_plan_says_when_nothing_fits_and_names_the_keras_issue() -> None:
    big = plan_tf_training(PlanTFTrainingRequest(model=ModelSpec(preset="llama-3.1-8b"),
                                                 training=TrainingSpec(sequence_length=8192)))
    assert big.fits is False and "does NOT fit" in big.summary
    multi = plan_tf_training(PlanTFTrainingRequest(model=ModelSpec(preset="bert-base"), cluster=ClusterSpec(nodes=2),
                                                   training=TrainingSpec(sequence_length=128, global_batch_size=1024)))
    assert multi.fits and any("keras-team/keras#20585" in c for c in multi.caveats)
    assert multi.code.startswith("import tensorflow as tf") or "import tensorflow as tf" in multi.code
    assert f"ACCUM = {multi.global_batch_size // (multi.per_replica_batch_size * 16)}" in multi.code


def test_bad_virtual_stages_name_the_field() -> None:
    with pytest.raises(PlanInputError, match="layout.virtual_pipeline_stages"):
        estimate_training_memory(EstimateTrainingMemoryRequest(
            model=ModelSpec(preset="llama-2-7b"), cluster=ClusterSpec(gpus_per_node=4),
            layout=Layout(pipeline_parallel=4, virtual_pipeline_stages=3, gradient_accumulation_steps=4)))


def test_one_node_pipeline_sends_activations_over_nvlink_not_the_network() -> None:
    def step_ms(inter_gbps: float, nodes: int) -> float:
        layout = Layout(data_parallel=nodes, tensor_parallel=2, pipeline_parallel=4, micro_batch_size=1,
                        gradient_accumulation_steps=16)
        return estimate_training_memory(EstimateTrainingMemoryRequest(
            model=ModelSpec(preset="llama-3.1-8b"), training=TrainingSpec(sequence_length=4096),
            cluster=ClusterSpec(nodes=nodes, inter_node_gbps=inter_gbps), layout=layout)).step_time_s or 0.0

    assert step_ms(0.5, 1) == step_ms(50.0, 1)  # TP2 x PP4 on one 8-GPU node: stage neighbours share NVLink
    assert step_ms(0.5, 2) > step_ms(50.0, 2)  # across nodes the network carries the stage-to-stage sends


def test_clusters_differing_only_where_the_search_does_not_look_share_one_search() -> None:
    base = {"model": {"preset": "llama-3.1-8b"}, "framework": "pytorch_fsdp"}
    plans = [select_distribution_strategy(SelectDistributionRequest.model_validate(
        {**base, "cluster": {"nodes": 1, "cpu_cores_per_node": cores, "inter_node_gbps": net}}))
        for cores, net in ((96, 50.0), (8, 1.25))]
    assert plans[0] == plans[1]
    two_nodes = [select_distribution_strategy(SelectDistributionRequest.model_validate(
        {**base, "cluster": {"nodes": 2, "inter_node_gbps": net}})) for net in (50.0, 1.25)]
    assert two_nodes[0].ranked[0].tokens_per_s > two_nodes[1].ranked[0].tokens_per_s  # the network counts there


@pytest.mark.parametrize("preset", ["llama-3.1-8b", "mixtral-8x7b", "gpt2-medium", "bert-large", "resnet-50", "qwen3-30b-a3b"])
def test_full_checkpointing_never_needs_more_memory_than_selective_or_none(preset: str) -> None:
    # the search skips selective and none for a layout once full checkpointing misses at its smallest micro-batch
    compared = 0
    for framework, zero, tp, pp in (("pytorch_fsdp", 3, 1, 1), ("megatron", 1, 2, 2), ("deepspeed", 0, 1, 1)):
        for precision in ("amp_bf16", "bf16"):
            sizes = {}
            for ckpt in ("full", "selective", "none"):
                layout = Layout(data_parallel=2, tensor_parallel=tp, pipeline_parallel=pp, zero_stage=zero,
                                micro_batch_size=1, gradient_accumulation_steps=4, activation_checkpointing=ckpt)
                try:
                    sizes[ckpt] = estimate_training_memory(EstimateTrainingMemoryRequest(
                        model=ModelSpec(preset=preset), framework=framework,
                        training=TrainingSpec(precision=precision, sequence_length=2048),
                        cluster=ClusterSpec(nodes=1, gpus_per_node=tp * pp * 2), layout=layout)).device_total_gib
                except PlanInputError:
                    break  # a layout this model cannot take (e.g. heads not divisible)
            if len(sizes) == 3:
                assert sizes["full"] <= min(sizes["selective"], sizes["none"]) + 1e-9, (framework, precision, sizes)
                compared += 1
    assert compared >= 2


def _saved_layer_counts() -> dict[tuple[str, str], float]:
    """Saved bytes per token per layer (hidden units) by (layer, precision): scripts/count_saved_layers.py's CPU counts."""
    rows = json.loads((Path(__file__).resolve().parents[1] / "bench/evidence/saved_layer_counts.json").read_text())["rows"]
    return {(r["layer"], r["precision"]): r["saved_per_token_h"] for r in rows}


def test_attention_wider_than_hidden_saves_what_the_cpu_count_says() -> None:
    # Gemma, Qwen3 and gpt-oss have heads x head_dim != hidden: q and the attention output are that wide


    counted = _saved_layer_counts()

    base = resolve_model(ModelSpec(hidden_size=1024, num_hidden_layers=2, num_attention_heads=16, num_key_value_heads=8,
                                   intermediate_size=3584, vocab_size=1000))

    def arch(head_dim: int) -> Architecture:
        return replace(base, head_dim=head_dim)

    for precision in ("fp32", "bf16"):  # no autocast weight copies in these two counts
        ours = [activation_bytes_per_token_layer(arch(hd), precision, 1, False, "sdpa", 512, False) / 1024
                for hd in (64, 128)]
        measured = counted[("llama_wide_q", precision)] - counted[("llama", precision)]
        assert ours[1] - ours[0] == pytest.approx(measured, abs=0.1), precision


def test_qwen3_qk_norm_saves_what_the_cpu_count_says() -> None:


    counted = _saved_layer_counts()
    wide = replace(resolve_model(ModelSpec(hidden_size=1024, num_hidden_layers=2, num_attention_heads=16,
                                           num_key_value_heads=8, intermediate_size=3584, vocab_size=1000)), head_dim=128)
    for precision in ("fp32", "amp_bf16", "bf16"):
        ours = [activation_bytes_per_token_layer(replace(wide, qk_norm=qk), precision, 1, False, "sdpa", 512, False) / 1024
                for qk in (False, True)]
        measured = counted[("qwen3", precision)] - counted[("llama_wide_q", precision)]
        assert ours[1] - ours[0] == pytest.approx(measured, abs=0.2), precision
    assert resolve_model(ModelSpec(preset="qwen3-8b")).qk_norm and not resolve_model(ModelSpec(preset="llama-3.1-8b")).qk_norm


def test_mla_attention_keeps_its_own_widths() -> None:
    # DeepSeek-V3 (config.json): 128 heads, q/k heads 128 nope + 64 rope, v heads 128, latents 1536 + 512
    assert resolve_model(ModelSpec(preset="deepseek-v3")).attention_widths == (
        128 * 192, 128 * 192, 128 * 128, 128 * 128, 1536 + 512)
    # CPU saved-tensor counts of two MLA layers that differ only in head widths (nope = v head 32 | 64): our difference
    # is the q, k, v and output growth; the CPU's SDPA math path (unequal q/k and v head sizes) also keeps its matmul
    # output and o_proj input, so it counts somewhat more, never less


    counted = _saved_layer_counts()
    base = resolve_model(ModelSpec(hidden_size=512, num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=8,
                                   intermediate_size=1024, vocab_size=1000))
    for precision in ("fp32", "bf16"):
        ours = [activation_bytes_per_token_layer(replace(base, mla=(192, 64, 16, d, d)), precision, 1, False, "sdpa", 512,
                                                 False) / 512 for d in (32, 64)]
        measured = counted[("mla_64", precision)] - counted[("mla_32", precision)]
        assert 0.55 * measured <= ours[1] - ours[0] <= measured, (precision, ours, measured)


@pytest.mark.parametrize(("preset", "nodes", "framework", "top_k", "seq"), [
    ("llama-3.1-70b", 8, "megatron", 3, 2048), ("llama-3.1-405b", 64, "megatron", 3, 8192),
    ("llama-3.1-8b", 16, "pytorch_fsdp", 1, 8192), ("llama-3.1-70b", 4, "deepspeed", 2, 4096),
    ("llama-3.1-8b", 4, "pytorch_fsdp", 1, 2048), ("llama-3.1-8b", 8, "megatron", 1, 2048),
    ("llama-3.1-70b", 8, "pytorch_fsdp", 1, 2048), ("llama-3.1-8b", -8, "pytorch_fsdp", 1, 4096)])
def test_bounded_search_ranks_exactly_as_timing_every_layout(preset: str, nodes: int, framework: str, top_k: int,
                                                             seq: int) -> None:
    """The search skips a layout whose step time without recompute is below the k-th best family found so far, and
    a whole (family, checkpointing) group that cannot reach that bar (the fastest micro-batch's step without
    pipelining; the compute and tensor-parallel traffic with it) after its first micro-batch's memory: the tool's plan
    (ranking, rejections) is the one timing every layout that fits gives, with fewer layouts evaluated. Planners that
    read only the ranking (best_layout) skip such groups before any memory: the same ranking."""
    from ml_expert_mcp.tools.training.strategy import _search

    # nodes < 0: that many nodes of 4 A10G on a slow network (hybrid shard, offload and TP compete)
    cluster = ClusterSpec(nodes=nodes) if nodes > 0 else ClusterSpec(gpu="A10G", gpus_per_node=4, nodes=-nodes,
                                                                     inter_node_gbps=1.25)
    req = SelectDistributionRequest(model=ModelSpec(preset=preset), cluster=cluster,
                                    training=TrainingSpec(sequence_length=seq), framework=framework, top_k=top_k)
    bounded, reference = _search(req, True, prune=True), _search(req, True, prune=False)
    work = {"layouts_evaluated", "summary"}  # the summary names the count
    assert bounded.ranked and bounded.model_dump(exclude=work) == reference.model_dump(exclude=work)
    assert bounded.layouts_evaluated <= reference.layouts_evaluated
    ranking_only = _search(req, False, prune=True)
    assert ranking_only.ranked == reference.ranked and ranking_only.layouts_evaluated <= reference.layouts_evaluated
    # a caller's floor (best_layout's at_least): the same best layout when it reaches the floor; nothing as fast as
    # the floor when it does not
    best = reference.ranked[0].tokens_per_s
    assert _search(req, False, at_least=0.999 * best).ranked[:1] == reference.ranked[:1]
    above = _search(req, False, at_least=1.001 * best)
    assert all(r.tokens_per_s < 1.001 * best for r in above.ranked)
    assert above.layouts_evaluated <= ranking_only.layouts_evaluated


def test_fp8_under_fsdp_says_its_memory_ran_under_the_published_figure() -> None:
    def caveats(precision: str, zero: int) -> list[str]:
        req = EstimateTrainingMemoryRequest.model_validate({
            "model": {"preset": "llama-3.1-8b"}, "training": {"precision": precision},
            "layout": {"data_parallel": 8, "zero_stage": zero}})
        return estimate_training_memory(req).assumptions

    assert any("fp8 under FSDP" in c and "71.9 GiB" in c for c in caveats("fp8", 3))
    assert not any("fp8 under FSDP" in c for c in caveats("fp8", 1) + caveats("amp_bf16", 3))
    plan = select_distribution_strategy(SelectDistributionRequest.model_validate({
        "model": {"preset": "llama-3.1-8b"}, "training": {"precision": "fp8"}, "framework": "pytorch_fsdp"}))
    assert plan.ranked[0].layout.zero_stage == 3 and any("fp8 under FSDP" in c for c in plan.caveats)


@pytest.mark.parametrize(("preset", "gpu", "gpus_per_node", "nodes", "framework", "precision"), [
    ("llama-3.1-8b", "A10G", 1, 8, "pytorch_fsdp", "amp_bf16"), ("llama-3.1-8b", "H100-SXM-80GB", 8, 1, "megatron", "fp8"),
    ("resnet-50", "L4", 1, 4, "pytorch_fsdp", "amp_bf16"), ("mixtral-8x7b", "H100-SXM-80GB", 8, 2, "megatron", "bf16")])
def test_no_layout_beats_the_compute_ceiling_a_deadline_search_skips_by(preset: str, gpu: str, gpus_per_node: int,
                                                                       nodes: int, framework: str, precision: str) -> None:
    """best_layout(at_least) returns nothing without searching when the GPUs' matmul rate over the model FLOPs per
    token is below the floor: sound only if every layout the full search times stays under that ceiling."""
    from ml_expert_mcp.tools.training.context import build_context
    from ml_expert_mcp.tools.training.step_time import compute_rate
    from ml_expert_mcp.tools.training.strategy import _search, best_layout

    req = SelectDistributionRequest(model=ModelSpec(preset=preset), training=TrainingSpec(precision=precision),
                                    cluster=ClusterSpec(gpu=gpu, gpus_per_node=gpus_per_node, nodes=nodes),
                                    framework=framework, top_k=5)
    ctx = build_context(req.model, req.training, req.cluster, req.framework)
    seq = req.training.sequence_length if ctx.arch.is_transformer else 1
    ceiling = ctx.num_gpus * compute_rate(ctx.arch, ctx.gpu, precision) / ctx.arch.model_flops_per_token(seq)
    reference = _search(req, False, prune=False)
    # reached exactly by a layout with no recompute and nothing exposed (RankedLayout rounds tokens/s to 0.1)
    assert reference.ranked and all(r.tokens_per_s <= ceiling * (1 + 1e-9) + 0.05 for r in reference.ranked)
    assert best_layout(req, at_least=1.0001 * ceiling) is None  # skipped without a search
    assert best_layout(req, at_least=0.5 * reference.ranked[0].tokens_per_s) is not None
