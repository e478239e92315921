"""estimate_training_memory: the per-GPU memory breakdown of one given layout."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ml_expert_mcp.tools.common.aliases import alias_notes
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.models import StrictModel
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.training.context import build_context, check_layout
from ml_expert_mcp.tools.training.evaluation import chunk_layers, evaluate, fit_limit_gib, gib, op_level
from ml_expert_mcp.tools.training.inputs import ClusterSpec, Framework, Layout, ModelSpec, TrainingSpec
from ml_expert_mcp.tools.training.memory import CUDA_CONTEXT_GIB, FRAGMENTATION, NCCL_BUFFERS_GIB, memory_caveats
from ml_expert_mcp.tools.training.moe import check_expert_layout
from ml_expert_mcp.tools.training.plans import MemoryEstimate, MemoryTerm
from ml_expert_mcp.tools.training.specialisations import backward_buffer_bytes, describe
from ml_expert_mcp.tools.training.step_time import model_caveats


class EstimateTrainingMemoryRequest(StrictModel):
    model: ModelSpec = Field(description="Preset or HF config fields.")
    training: TrainingSpec = Field(default_factory=TrainingSpec, description="Precision, optimizer, sequence, batch.")
    cluster: ClusterSpec = Field(default_factory=ClusterSpec, description="GPU type and count.")
    layout: Layout = Field(default_factory=Layout, description="Parallel layout; degrees must multiply to the GPU count.")
    framework: Framework = Field(default="pytorch_fsdp", description="Mixed-precision style follows it (megatron/deepspeed: 16-bit params).")


def megatron_style(framework: str) -> bool:
    return framework in ("megatron", "deepspeed")


def sequence_parallel(framework: str, tp: int) -> bool:
    """Megatron-style sequence parallelism goes with TP where the framework applies it; the FSDP2 code applies none."""
    return tp > 1 and framework in ("megatron", "deepspeed")


@tool("Estimate per-GPU training memory")
def estimate_training_memory(req: EstimateTrainingMemoryRequest) -> MemoryEstimate:
    """Per-GPU memory breakdown and fit verdict for one given parallel layout (DP/TP/PP/CP, ZeRO/FSDP, offload,
    checkpointing). Use to check a layout.
    """
    ctx = build_context(req.model, req.training, req.cluster, req.framework)
    lay = req.layout
    if lay.micro_batch_size == 1 and req.training.micro_batch_size:
        lay = lay.model_copy(update={"micro_batch_size": req.training.micro_batch_size})
    check_layout(ctx, lay)
    check_expert_layout(ctx.arch, lay.expert_parallel, lay.expert_tensor_parallel, lay.tensor_parallel,
                        lay.context_parallel, lay.data_parallel)
    ckpt = lay.activation_checkpointing or req.training.activation_checkpointing or "none"
    chunk = chunk_layers(ctx.arch.layers, lay.pipeline_parallel, lay.virtual_pipeline_stages) if ctx.arch.is_transformer else 1
    if lay.recompute_layers is not None and (ckpt != "full" or lay.recompute_layers > chunk):
        raise PlanInputError("layout.recompute_layers", f"needs activation_checkpointing 'full' and at most {chunk} "
                             f"(layers per pipeline or virtual stage); got {lay.recompute_layers} with '{ckpt}'")
    result = evaluate(
        ctx, dp=lay.data_parallel, tp=lay.tensor_parallel, pp=lay.pipeline_parallel, cp=lay.context_parallel,
        sp=lay.sequence_parallel, zero=lay.zero_stage, hybrid=lay.hybrid_shard, offload=lay.cpu_offload,
        micro_batch=lay.micro_batch_size, accumulation=lay.gradient_accumulation_steps,
        checkpointing=op_level(ckpt, req.framework),
        megatron_style=megatron_style(req.framework), with_time=True, ep=lay.expert_parallel,
        etp=lay.expert_tensor_parallel, virtual=lay.virtual_pipeline_stages,
        recompute_layers=lay.recompute_layers,
    )
    m = result.memory
    st = result.step
    seq = ctx.training.sequence_length if ctx.arch.is_transformer else 1
    world = ctx.num_gpus
    terms = [
        MemoryTerm(name="weights", gib=gib(m.weights), basis="params/(tp*pp) x bytes, /dp under ZeRO-3 (ZeRO paper 3.1)"),
        MemoryTerm(name="gradients", gib=gib(m.gradients), basis="params x grad bytes, /dp under ZeRO-2+"),
        MemoryTerm(name="optimizer_states", gib=gib(m.optimizer_states), basis="AdamW 8 B/param fp32 (+4 master), /dp under ZeRO-1+; 0 offloaded"),
        MemoryTerm(name="activations", gib=gib(m.activations), basis=f"per layer per token (Korthikanti 2022 sec. 4) x layers x tokens x {m.pipeline_in_flight} in-flight micro-batch(es)"),
        MemoryTerm(name="logits_and_loss", gib=gib(m.logits_and_loss), basis="12 x vocab bytes per token at the loss backward (fp32 log-softmax, its gradient, the gradient returned); Megatron's loss 14.5"),
        MemoryTerm(name="autocast_weight_copies", gib=gib(m.autocast_weight_copies), basis="autocast keeps 16-bit copies of matmul weights through backward"),
        MemoryTerm(name="sharding_buffers", gib=gib(m.sharding_buffers), basis="ZeRO-3 gathered layer (current + prefetch), unsharded layer grads, DeepSpeed ZeRO-1/2 gradient buckets"),
        MemoryTerm(name="allocator_fragmentation", gib=gib(m.peak_reserved - m.peak_allocated), basis=f"reserved = {FRAGMENTATION} x allocated (median of measured H100 runs)"),
        MemoryTerm(name="cuda_context", gib=CUDA_CONTEXT_GIB, basis="CUDA context + cuBLAS workspace, outside the allocator"),
    ]
    if world > 1:
        terms.append(MemoryTerm(name="nccl_buffers", gib=NCCL_BUFFERS_GIB, basis="NCCL communicator buffers"))
    usable = ctx.gpu.usable_memory_gib
    headroom = round(fit_limit_gib(ctx) - result.device_gib, 3)
    fixes: list[str] = []
    if not result.fits:
        fixes = _what_would_fit(req, ckpt)
    assumptions = [
        "peak = max(start of backward, end of backward, optimizer step); gradients set to None between steps",
        "fused AdamW (no step temporaries); DDP gradient_as_bucket_view=True (no duplicate gradient buckets)",
        "the loop keeps only the loss and leaves autocast when the forward returns (HF Trainer, accelerate, Lightning, "
        "our code); `out = model(..); out.loss.backward()` inside autocast adds 2 B per logit (vocab x tokens)",
        "1F1B pipeline schedule: stage i holds min(pp - i, micro-batches) micro-batches of activations; "
        "interleaved: the first stage holds L(1 + (pp-1)/(pp v)) layers' worth (Korthikanti 2022 sec. 4.2.3)",
        f"fits = device total <= usable x (1 - {ctx.cluster.memory_headroom:g} headroom) = {fit_limit_gib(ctx):.1f} GiB "
        "(cluster.memory_headroom)",
        "step time, throughput and MFU: the same model select_distribution_strategy ranks by",
    ]
    assumptions += model_caveats(ctx.arch)
    assumptions += memory_caveats(ctx.training.precision, lay.zero_stage, ctx.framework)
    buckets = backward_buffer_bytes(ctx, lay.zero_stage)
    if buckets:
        assumptions.append(f"DeepSpeed ZeRO-{lay.zero_stage}: two gradient buckets of reduce_bucket_size (DeepSpeed's "
                           f"default 5e8 elements, 16-bit) live through the backward with overlap_comm and "
                           f"contiguous_gradients (as the generated config sets): {buckets / 2**30:.2f} GiB; a smaller "
                           "reduce_bucket_size shrinks them")
    assumptions += alias_notes(("cluster.gpu", req.cluster.gpu, ctx.gpu.id), ("model.preset", req.model.preset, ctx.arch.name))
    assumptions += describe(ctx, dp=lay.data_parallel, zero=lay.zero_stage, offload=lay.cpu_offload,
                            micro_batch=lay.micro_batch_size, accumulation=lay.gradient_accumulation_steps,
                            checkpointing=ckpt, ep=lay.expert_parallel, etp=lay.expert_tensor_parallel,
                            model_shards=lay.tensor_parallel * lay.pipeline_parallel)
    return MemoryEstimate(
        gpu=ctx.gpu.id, breakdown=terms, peak_phase=m.peak_phase, peak_allocated_gib=gib(m.peak_allocated),
        peak_reserved_gib=gib(m.peak_reserved), device_total_gib=round(result.device_gib, 3), usable_gib=usable,
        fits=result.fits, headroom_gib=headroom, to_make_it_fit=fixes, assumptions=assumptions,
        memory_headroom=ctx.cluster.memory_headroom,
        global_batch_size=lay.data_parallel * lay.micro_batch_size * lay.gradient_accumulation_steps,
        step_time_s=round(st.step_s, 4) if st else None, tokens_per_s=round(st.tokens_per_s, 1) if st else None,
        samples_per_s=round(st.tokens_per_s / seq, 2) if st else None, mfu=round(st.mfu, 4) if st else None,
    )


def _what_would_fit(req: EstimateTrainingMemoryRequest, ckpt: str) -> list[str]:
    """Single changes, each checked with the same estimator, that would make the layout fit."""
    lay = req.layout
    candidates: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    if ckpt != "full":
        candidates.append(("activation_checkpointing='full'", {"activation_checkpointing": "full"}, {}))
    if lay.micro_batch_size > 1:
        half = lay.micro_batch_size // 2
        candidates.append((f"micro_batch_size={half} with gradient_accumulation_steps={lay.gradient_accumulation_steps * 2}",
                           {"micro_batch_size": half, "gradient_accumulation_steps": lay.gradient_accumulation_steps * 2}, {}))
    if lay.zero_stage < 3 and lay.pipeline_parallel == 1 and lay.data_parallel > 1:
        candidates.append(("zero_stage=3 (FSDP full shard)", {"zero_stage": 3}, {}))
    if not lay.cpu_offload and lay.zero_stage >= 1:
        candidates.append(("cpu_offload=true", {"cpu_offload": True}, {}))
    out: list[str] = []
    for text, update, _ in candidates:
        trial = req.model_copy(update={"layout": lay.model_copy(update=update)})
        try:
            if estimate_training_memory(trial).fits:
                out.append(text)
        except ValueError:
            continue
    if not out:
        out.append("no single change to this layout fits (full checkpointing, half the micro-batch, ZeRO-3, "
                   "offload tried); select_distribution_strategy searches every layout and cluster size")
    return out
