"""Step-time model against published runs; the search, plans and bad input."""

from __future__ import annotations

import json
import time

import pytest

from bench.planner_accuracy import published_accuracy
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.training.estimate import EstimateTrainingMemoryRequest, estimate_training_memory
from ml_expert_mcp.tools.training.inputs import ClusterSpec, Layout, ModelSpec, TrainingSpec
from ml_expert_mcp.tools.training.pytorch import PlanPyTorchTrainingRequest, plan_pytorch_training
from ml_expert_mcp.tools.training.step_time import ring_seconds
from ml_expert_mcp.tools.training.strategy import SelectDistributionRequest, select_distribution_strategy
from ml_expert_mcp.tools.training.tensorflow import PlanTFTrainingRequest, plan_tf_training


def test_published_runs_fit_and_throughput_is_close(shared_data) -> None:
    result = published_accuracy(shared_data)
    assert result["published_layouts_fit"] == f"{result['rows']}/{result['rows']}"
    assert result["median_abs_error"] <= 0.15
    assert result["recommended_fits_and_at_least_0.9x"] == f"{result['rows']}/{result['rows']}"


def test_ring_all_reduce_hand_calculation() -> None:
    # 1 GB over 8 GPUs at 100 GB/s: 2 * 7/8 * 1e9 / 100e9 = 17.5 ms
    assert ring_seconds(1e9, 8, 100.0) == pytest.approx(0.0175)
    assert ring_seconds(1e9, 1, 100.0) == 0.0


def test_70b_on_64_h100_rejects_ddp_and_fits_something() -> None:
    plan = select_distribution_strategy(SelectDistributionRequest(model=ModelSpec(preset="llama-3.1-70b"),
                                                                  cluster=ClusterSpec(nodes=8)))
    assert plan.fits and plan.ranked
    assert any(r.startswith("DDP") and "GiB per GPU >" in r for r in plan.rejected)
    best = plan.ranked[0]
    assert best.device_total_gib <= 79.18
    assert best.layout.data_parallel * best.layout.tensor_parallel * best.layout.pipeline_parallel * best.layout.context_parallel == 64
    assert "torchrun --nnodes=8 --nproc-per-node=8" in plan.launch.command
    compile(plan.launch.code, "train.py", "exec")  # the emitted code is valid Python
    # 70B x 16 bytes of states cannot fit on one 80 GB GPU unsharded: 1,129 GB
    assert plan.ranked[0].layout.zero_stage > 0 or plan.ranked[0].layout.tensor_parallel > 1


def test_search_for_1t_on_3072_gpus_is_fast() -> None:
    req = SelectDistributionRequest(
        model=ModelSpec(hidden_size=25600, num_hidden_layers=128, num_attention_heads=160, intermediate_size=102400,
                        vocab_size=51200, gated_mlp=False, tie_word_embeddings=True),
        training=TrainingSpec(global_batch_size=3072), cluster=ClusterSpec(gpu="A100-SXM-80GB", nodes=384),
        framework="megatron")
    start = time.process_time()
    plan = select_distribution_strategy(req)
    assert time.process_time() - start < 5  # generous bound; bench/ reports the real figure
    assert plan.fits and plan.ranked[0].layout.tensor_parallel == 8


def test_nothing_fits_gives_a_normal_result_with_a_fix() -> None:
    plan = select_distribution_strategy(SelectDistributionRequest(
        model=ModelSpec(preset="llama-3.1-405b"), cluster=ClusterSpec(gpu="T4", gpus_per_node=1, nodes=1),
        training=TrainingSpec(precision="amp_fp16")))
    assert not plan.fits and plan.ranked == [] and plan.to_make_it_fit


def test_deepspeed_config_is_consistent_json() -> None:
    import json

    plan = select_distribution_strategy(SelectDistributionRequest(
        model=ModelSpec(preset="llama-2-13b"), cluster=ClusterSpec(nodes=2), framework="deepspeed",
        training=TrainingSpec(global_batch_size=256)))
    cfg = json.loads(plan.launch.config)
    lay = plan.ranked[0].layout
    assert cfg["train_batch_size"] == cfg["train_micro_batch_size_per_gpu"] * cfg["gradient_accumulation_steps"] * lay.data_parallel
    assert cfg["zero_optimization"]["stage"] == lay.zero_stage


@pytest.mark.parametrize(("layout", "field"), [
    (Layout(data_parallel=2, tensor_parallel=3), "layout.tensor_parallel"),
    (Layout(data_parallel=1, pipeline_parallel=3, tensor_parallel=2, virtual_pipeline_stages=2), "layout.virtual_pipeline_stages"),
    (Layout(data_parallel=16), "layout"),
])
def test_bad_layouts_name_the_field(layout: Layout, field: str) -> None:
    cluster = ClusterSpec(gpus_per_node=layout.data_parallel * layout.tensor_parallel * layout.pipeline_parallel if field != "layout" else 8)
    with pytest.raises(PlanInputError) as err:
        estimate_training_memory(EstimateTrainingMemoryRequest(model=ModelSpec(preset="llama-2-7b"), layout=layout, cluster=cluster))
    assert str(err.value).startswith(field)


def test_unknown_gpu_and_preset_are_named() -> None:
    with pytest.raises(PlanInputError, match="cluster.gpu"):
        estimate_training_memory(EstimateTrainingMemoryRequest(model=ModelSpec(preset="llama-2-7b"), cluster=ClusterSpec(gpu="X1")))
    with pytest.raises(PlanInputError, match="model.preset"):
        estimate_training_memory(EstimateTrainingMemoryRequest(model=ModelSpec(preset="gpt-9")))


def test_estimate_says_what_would_fit() -> None:
    est = estimate_training_memory(EstimateTrainingMemoryRequest(
        model=ModelSpec(preset="llama-2-7b"), cluster=ClusterSpec(gpus_per_node=8),
        layout=Layout(data_parallel=8, micro_batch_size=8)))
    assert not est.fits and est.to_make_it_fit
    assert est.device_total_gib > est.usable_gib


def test_pytorch_plan_picks_fp16_on_volta_and_bf16_on_hopper() -> None:
    volta = plan_pytorch_training(PlanPyTorchTrainingRequest(model=ModelSpec(preset="bert-large"),
                                                             cluster=ClusterSpec(gpu="V100-SXM2-32GB", gpus_per_node=8),
                                                             training=TrainingSpec(sequence_length=512)))
    assert volta.precision == "amp_fp16" and any("GradScaler" in s for s in volta.settings)
    hopper = plan_pytorch_training(PlanPyTorchTrainingRequest(model=ModelSpec(preset="resnet-50"),
                                                              training=TrainingSpec(precision="fp32", sequence_length=1)))
    assert hopper.precision == "amp_bf16" and any("channels_last" in s for s in hopper.settings)
    assert hopper.global_batch_size == hopper.micro_batch_size * hopper.gradient_accumulation_steps * 8
    # square-root rule for AdamW: 3e-4 * sqrt(256 / 256) at the reference batch
    assert hopper.learning_rate.peak_learning_rate == pytest.approx(3e-4 * (hopper.global_batch_size / 256) ** 0.5, rel=1e-5)


def test_tf_plan_strategy_and_policy() -> None:
    plan = plan_tf_training(PlanTFTrainingRequest(model=ModelSpec(preset="bert-base"),
                                                  cluster=ClusterSpec(gpu="A100-SXM-80GB", nodes=2),
                                                  training=TrainingSpec(sequence_length=512, global_batch_size=512),
                                                  dataset_examples=1_000_000, example_bytes=4096))
    assert plan.strategy == "MultiWorkerMirroredStrategy" and plan.mixed_precision_policy == "mixed_bfloat16"
    assert len(plan.tf_config) == 2 and plan.steps_per_epoch == 1_000_000 // 512
    assert plan.shuffle_buffer == 2 * 1024**3 // 4096  # 2 GiB of host memory / 4 KiB examples (< 1M examples)
    ps = plan_tf_training(PlanTFTrainingRequest(model=ModelSpec(preset="bert-base"), sparse_embedding_params=5e9,
                                                training=TrainingSpec(sequence_length=128)))
    assert ps.strategy == "ParameterServerStrategy"
    t4 = plan_tf_training(PlanTFTrainingRequest(model=ModelSpec(preset="bert-base"), cluster=ClusterSpec(gpu="T4", gpus_per_node=1),
                                                training=TrainingSpec(precision="amp_fp16", sequence_length=128)))
    assert t4.mixed_precision_policy == "mixed_float16" and "LossScale" in t4.loss_scaling


def _estimate(layout: Layout, precision: str = "amp_bf16") -> object:
    return estimate_training_memory(EstimateTrainingMemoryRequest(
        model=ModelSpec(preset="llama-3.1-70b"), training=TrainingSpec(sequence_length=8192, global_batch_size=128, precision=precision),
        cluster=ClusterSpec(gpu="H100-SXM-80GB", nodes=8), framework="megatron", layout=layout))


def test_block_recompute_sits_between_none_and_full_in_memory_and_time() -> None:
    base = dict(data_parallel=2, tensor_parallel=4, pipeline_parallel=8, zero_stage=1, gradient_accumulation_steps=64)
    none = _estimate(Layout(**base, activation_checkpointing="none"))
    full = _estimate(Layout(**base, activation_checkpointing="full"))
    half = _estimate(Layout(**base, activation_checkpointing="full", recompute_layers=5))  # 5 of 10 layers per stage
    act_none, act_full, act_half = (next(t.gib for t in e.breakdown if t.name == "activations")  # type: ignore[attr-defined]
                                    for e in (none, full, half))
    assert act_full < act_half < act_none
    # stored activations are linear in the share of checkpointed layers (one recomputed layer's working set aside)
    assert act_half == pytest.approx((act_none + act_full) / 2, rel=0.1)
    assert full.step_time_s > half.step_time_s > none.step_time_s  # type: ignore[attr-defined]


def test_block_recompute_needs_full_checkpointing_and_fits_the_stage() -> None:
    base = dict(data_parallel=2, tensor_parallel=4, pipeline_parallel=8, zero_stage=1, gradient_accumulation_steps=64)
    for layout in (Layout(**base, activation_checkpointing="none", recompute_layers=2),
                   Layout(**base, activation_checkpointing="full", recompute_layers=11)):
        with pytest.raises(PlanInputError) as err:
            _estimate(layout)
        assert err.value.field == "layout.recompute_layers"


def test_megatron_search_checkpoints_only_the_layers_it_must() -> None:
    """Llama 3 70B at 4K on 16 H100: the best layout keeps some activations and recomputes only the layers per stage
    it must (Megatron's block method), and the launch flags say so."""
    plan = select_distribution_strategy(SelectDistributionRequest(
        model=ModelSpec(preset="llama-3.1-70b"), training=TrainingSpec(sequence_length=4096, global_batch_size=96),
        cluster=ClusterSpec(gpu="H100-SXM-80GB", nodes=2), framework="megatron", top_k=3))
    lay = plan.ranked[0].layout
    per_stage = -(-80 // (lay.pipeline_parallel * lay.virtual_pipeline_stages))
    assert lay.activation_checkpointing == "full" and lay.recompute_layers is not None and 0 < lay.recompute_layers < per_stage
    flags = str(plan.model_dump())
    assert "--recompute-method block" in flags and f"--recompute-num-layers {lay.recompute_layers}" in flags
    # the 16-bit gradient buffer the memory counts is what the command asks for, and the plan says so
    assert "--grad-reduce-in-bf16" in flags and any("--grad-reduce-in-bf16" in c for c in plan.caveats)
    assert f"{lay.recompute_layers} of {per_stage} layers per" in " ".join(plan.ranked[0].reasons)
    # and Megatron-LM's own argument table (core_v0.19.0) accepts the command, block method included
    from bench.training_artifacts import FLAGS_FILE, check_megatron, collect_items

    items = [it for it in collect_items([("llama-3.1-70b", {"sequence_length": 4096, "global_batch_size": 96},
                                          {"nodes": 2}, 1.5e-4)]) if it["framework"] == "megatron"]
    assert any("--recompute-method block" in it["command"] for it in items)
    table = json.loads(FLAGS_FILE.read_text())
    for it in items:
        check_megatron(it, table)


def test_published_frontier_layouts_are_expressible_and_close() -> None:
    from bench.planner_accuracy import frontier_accuracy

    result = frontier_accuracy()
    rows = result["rows"]  # on GPUs as the catalogue holds them
    assert rows >= 17 and result["expressible"] == f"{rows}/{rows}"
    assert result["published_layouts_fit"] == f"{rows}/{rows}"  # block recompute, torchtitan's layer and op AC included
    # issue 13's floor is 15% for the median row: 12.1% measured when NeMo 24.07, BLOOM and more torchtitan rows came in
    assert result["median_abs_error"] <= 0.15
    # and the plan we recommend fits with the default headroom and predicts at least 0.9x the published layout (17/17
    # once Megatron plans kept the 16-bit gradient buffer NVIDIA's recipes use; Nemotron-4 340B was 0.87x before)
    assert result["recommended_fits_and_at_least_0.9x"] == f"{rows}/{rows}"
    everything = result["all_rows"]  # Grand Teton (500 W, 96 GB) H100 rows too: every layout still fits
    assert everything["rows"] >= 23 and everything["published_layouts_fit"] == f"{everything['rows']}/{everything['rows']}"


def test_fp8_weight_copies_under_fsdp_are_the_gathered_layers_only() -> None:
    """torchtitan ran Llama 3.1 405B with Float8 on 128 H100s of 96 GB (FSDP16 x TP8, local batch 2, full AC; 177
    tokens/s per GPU, docs/performance.md @ 3faaa1a0): a whole-model fp8 weight copy (405B / TP8 = 50 GB) cannot have
    been kept. Under ZeRO-3/FSDP the copies are the gathered layers'; Megatron's distributed optimizer keeps them all."""
    def fp8_copies(zero: int, dp: int) -> float:
        est = estimate_training_memory(EstimateTrainingMemoryRequest(
            model=ModelSpec(preset="llama-3.1-405b"),
            training=TrainingSpec(sequence_length=8192, global_batch_size=32, precision="fp8"),
            cluster=ClusterSpec(gpu="H100-SXM-80GB", nodes=16), framework="pytorch_fsdp" if zero == 3 else "megatron",
            layout=Layout(data_parallel=dp, tensor_parallel=8, pipeline_parallel=128 // (8 * dp), zero_stage=zero,
                          micro_batch_size=2 if zero == 3 else 1, activation_checkpointing="full",
                          gradient_accumulation_steps=1 if zero == 3 else 32 // dp)))
        if zero == 3:
            assert est.device_total_gib < 96
        return next(t.gib for t in est.breakdown if t.name == "autocast_weight_copies")

    layer_gib = 405e9 / 126 / 8 / 2**30  # one layer's weights on a TP8 rank, 1 byte each
    assert fp8_copies(3, 16) <= 2.5 * layer_gib  # the gathered layer and the prefetched one
    assert fp8_copies(1, 1) >= 405e9 / 16 / 8 / 2**30 * 0.9  # PP16: a stage's whole share, kept


def test_fsdp_selective_is_torchtitans_op_policy_and_matches_its_measured_memory() -> None:
    """torchtitan, Llama 3.1 8B, FSDP on 128 H100, local batch 2 at 8K, selective (op) AC: 67.0 GiB measured
    (benchmarks/llama3_h100_202412_torchtitan.md, Table 3). 'selective' in the FSDP2 plan is that policy."""
    est = estimate_training_memory(EstimateTrainingMemoryRequest(
        model=ModelSpec(preset="llama-3.1-8b"), training=TrainingSpec(sequence_length=8192, global_batch_size=256),
        cluster=ClusterSpec(gpu="H100-SXM-80GB", nodes=16), framework="pytorch_fsdp",
        layout=Layout(data_parallel=128, zero_stage=3, micro_batch_size=2, activation_checkpointing="selective")))
    assert est.device_total_gib == pytest.approx(67.0, rel=0.10)
    full = estimate_training_memory(EstimateTrainingMemoryRequest(
        model=ModelSpec(preset="llama-3.1-8b"), training=TrainingSpec(sequence_length=8192, global_batch_size=256),
        cluster=ClusterSpec(gpu="H100-SXM-80GB", nodes=16), framework="pytorch_fsdp",
        layout=Layout(data_parallel=128, zero_stage=3, micro_batch_size=2, activation_checkpointing="full")))
    assert full.step_time_s > est.step_time_s  # op AC recomputes a third of the matmuls, full AC the whole forward


def test_cnn_throughput_says_what_the_model_leaves_out() -> None:
    """ResNet-50 images/s ran 18% high on a measured H100 (no bandwidth term): the plan must say so; a decoder's not."""
    def caveats(preset: str) -> list[str]:
        return select_distribution_strategy(SelectDistributionRequest(
            model=ModelSpec(preset=preset), training=TrainingSpec(optimizer="sgd_momentum", global_batch_size=256),
            cluster=ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=1))).caveats

    assert any("memory-bandwidth" in c for c in caveats("resnet-50"))
    assert not any("memory-bandwidth" in c for c in caveats("llama-3.2-1b"))


def test_presets_with_layers_the_model_does_not_count_say_so() -> None:
    """Gemma 3's four norms and q/k norms were 18% above the estimate in a CPU count: every plan for it must say so."""
    req = {"model": {"preset": "gemma-3-12b"}, "training": {"sequence_length": 4096},
           "layout": {"data_parallel": 8, "zero_stage": 3, "micro_batch_size": 1}}
    est = estimate_training_memory(EstimateTrainingMemoryRequest.model_validate(req))
    plan = select_distribution_strategy(SelectDistributionRequest.model_validate({k: req[k] for k in ("model", "training")}))
    for said in (est.assumptions, plan.caveats):
        assert any(c.startswith("gemma-3-12b: Gemma 3 layers have four RMSNorms") for c in said)
    llama = select_distribution_strategy(SelectDistributionRequest(model=ModelSpec(preset="llama-3.1-8b")))
    assert not any(c.startswith("llama-3.1-8b:") for c in llama.caveats)
