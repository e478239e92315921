"""Fine-tuning and Mixture-of-Experts applied to one layout evaluation (issue 17).

evaluation.evaluate calls these three hooks: the model as one GPU's memory sees it (experts / EP x ETP),
the memory terms (fine-tuning replaces the from-scratch estimate; MoE adds dispatch buffers) and the step
time (MoE all-to-all, expert GEMMs, permutation; adapters skip the frozen weights' gradient GEMMs). The
expert layout search (EP x ETP for a given TP x CP x DP) lives here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from ml_expert_mcp.tools.training.context import TrainingContext
from ml_expert_mcp.tools.training.finetuning import (
    DEQUANT_HBM_SHARE,
    dequant_seconds,
    finetune_memory,
    method_effect,
    validate_finetuning,
)
from ml_expert_mcp.tools.training.memory import MemoryTerms, deepspeed_bucket_bytes
from ml_expert_mcp.tools.training.model_arch import Architecture
from ml_expert_mcp.tools.training.moe import (
    ExpertLayout,
    dispatch_activation_bytes,
    local_expert_view,
    moe_time_per_micro_batch,
)
from ml_expert_mcp.tools.training.step_time import StepTime, hardware_flops_per_token

MAX_EXPERT_LAYOUTS = 6  # EP candidates tried per TP x CP x DP (largest powers of two that divide)
# Tokens per micro-batch below which fine-tuning steps are overhead-bound (Qwen LoRA table: up to 7x slower than the
# compute model at 256-1,024 tokens, the smaller the model the more; median 9.4% from 2,048;
# bench/evidence/peft_throughput.csv)
SHORT_MICRO_BATCH_TOKENS = 2048


def expert_layout(ctx: TrainingContext, ep: int, etp: int) -> ExpertLayout:
    moe = getattr(ctx.training, "moe", None)
    return ExpertLayout(
        ep=ep, etp=etp, capacity_factor=getattr(moe, "capacity_factor", None),
        grouped_gemm=getattr(moe, "grouped_gemm", True), dispatcher=getattr(moe, "dispatcher", "alltoall"),
        a2a_overlap=getattr(moe, "a2a_overlap", False),
    )


def memory_arch(ctx: TrainingContext, tp: int, ep: int, etp: int) -> Architecture:
    if ctx.arch.experts <= 1:
        return ctx.arch
    return local_expert_view(ctx.arch, tp, expert_layout(ctx, ep, etp))


def backward_buffer_bytes(ctx: TrainingContext, zero: int) -> float:
    """Bytes the framework's own code allocates for the backward: DeepSpeed ZeRO-1/2's gradient buckets."""
    if ctx.framework != "deepspeed":
        return 0.0
    return deepspeed_bucket_bytes(zero, 4.0 if ctx.training.precision == "fp32" else 2.0)


def adjust_memory(
    ctx: TrainingContext, mem: MemoryTerms, *, dp: int, tp: int, pp: int, cp: int, sp: bool, zero: int, offload: bool,
    micro_batch: int, accumulation: int, checkpointing: str, ep: int, etp: int,
) -> MemoryTerms:
    t = ctx.training
    ft = getattr(t, "finetuning", None)
    if ft is not None:
        validate_finetuning(ctx.arch, ft, t.precision)
        if tp * pp * cp > 1:
            return mem  # model-parallel fine-tuning: the from-scratch terms with the frozen base are an upper bound
        fm = finetune_memory(
            ctx.arch, ft, precision=t.precision, optimizer=t.optimizer, seq=t.sequence_length, micro_batch=micro_batch,
            checkpointing=checkpointing, attention=t.attention, dp=dp, zero_stage=zero, cpu_offload=offload,
            num_micro_batches=accumulation, backward_buffers=backward_buffer_bytes(ctx, zero),
        )
        return fm.terms
    if ctx.arch.experts <= 1:
        return mem
    act = 4 if t.precision == "fp32" else 2
    in_flight = min(pp, max(accumulation, 1)) if pp > 1 else 1
    extra = dispatch_activation_bytes(ctx.arch, expert_layout(ctx, ep, etp), tokens=micro_batch * t.sequence_length / cp
                                      * in_flight, pp=pp, tp=tp, act_bytes=act, checkpointing=checkpointing, sp=sp)
    if mem.peak_phase != "start_of_backward":
        extra = 0.0
    return mem._replace(activations=mem.activations + extra, peak_allocated=mem.peak_allocated + extra)


def adjust_step(
    ctx: TrainingContext, step: StepTime | None, *, tp: int, pp: int, cp: int, micro_batch: int, accumulation: int,
    checkpointing: str, ep: int, etp: int, virtual: int = 1,
) -> StepTime | None:
    if step is None:
        return None
    t = ctx.training
    compute_delta = other_delta = 0.0  # seconds per step: frozen weights' skipped GEMMs; dequantization, MoE dispatch
    model_share = hardware_share = 1.0  # of the model / hardware FLOPs per token, what the method runs (MFU, HFU)
    ft = getattr(t, "finetuning", None)
    if ft is not None and ft.method != "full":
        # frozen weights: the backward skips their weight-gradient GEMMs, 2 FLOPs per frozen matmul weight per
        # token (attention scores and every input gradient still run; a trained head keeps its own)
        a = ctx.arch
        frozen = a.active_matmul_params - ((a.head_params or a.embedding_params) if ft.train_lm_head else 0.0)
        seq = t.sequence_length if a.is_transformer else 1
        hw = hardware_flops_per_token(a, seq, checkpointing)
        compute_delta -= step.compute_s * 2.0 * frozen / hw
        model_share, hardware_share = 1.0 - 2.0 * frozen / a.model_flops_per_token(seq), 1.0 - 2.0 * frozen / hw
        # a quantized base is dequantized to 16 bits for every pass over it
        other_delta += accumulation * dequant_seconds(a, ft, ctx.gpu.hbm_bandwidth_tbps, checkpointing, tp * pp)
    if ctx.arch.experts > 1:
        compute_mb = step.compute_s / max(accumulation, 1)
        moe = moe_time_per_micro_batch(
            ctx.arch, ctx.gpu, precision=t.precision, seq=t.sequence_length, micro_batch=micro_batch, tp=tp, pp=pp,
            cp=cp, layout=expert_layout(ctx, ep, etp), gpus_per_node=ctx.cluster.gpus_per_node,
            intra_gbps=ctx.intra_gbps, inter_gbps=ctx.inter_gbps, checkpointing=checkpointing, compute_mb_s=compute_mb,
        )
        slots = accumulation + ((pp - 1) / virtual if pp > 1 else 0)
        other_delta += slots * moe.per_micro_batch_s
    if compute_delta == 0.0 and other_delta == 0.0:
        return step
    new_step = max(step.step_s + compute_delta + other_delta, 1e-9)
    scale = step.step_s / new_step
    return step._replace(step_s=new_step, other_s=step.other_s + other_delta, compute_s=step.compute_s + compute_delta,
                   tokens_per_s=step.tokens_per_s * scale, mfu=step.mfu * scale * model_share,
                   hfu=step.hfu * scale * hardware_share)


def expert_layout_options(arch: Architecture, tp: int, cp: int, dp: int) -> list[tuple[int, int]]:
    """(EP, ETP) pairs for one stage: EP divides the experts, EP x ETP divides TP x CP x DP; ETP 1 or TP."""
    if arch.experts <= 1:
        return [(1, 1)]
    stage = tp * cp * dp
    out: list[tuple[int, int]] = []
    for etp in sorted({1, tp}):
        if arch.expert_ffn % etp:
            continue
        eps = [e for e in range(1, arch.experts + 1) if arch.experts % e == 0 and stage % (e * etp) == 0]
        out.extend((e, etp) for e in sorted(eps, reverse=True)[:MAX_EXPERT_LAYOUTS])
    return out


class _Result(Protocol):
    @property
    def fits(self) -> bool: ...

    @property
    def device_gib(self) -> float: ...

    @property
    def step(self) -> StepTime | None: ...


R = TypeVar("R", bound=_Result)


def best_expert_layout(arch: Architecture, tp: int, cp: int, dp: int, run: Callable[[int, int], R]) -> R:
    """Evaluate every expert layout for this stage; the fastest that fits, else the least memory."""
    results = [run(ep, etp) for ep, etp in expert_layout_options(arch, tp, cp, dp)]
    fitting = [r for r in results if r.fits]
    if fitting:
        return max(fitting, key=lambda r: (r.step.tokens_per_s if r.step else 0.0, -r.device_gib))
    return min(results, key=lambda r: r.device_gib)


def describe(
    ctx: TrainingContext, *, dp: int, zero: int, offload: bool, micro_batch: int, accumulation: int, checkpointing: str,
    ep: int, etp: int, model_shards: int = 1,
) -> list[str]:
    """Assumption lines naming what fine-tuning and MoE changed, e.g. 'QLoRA: 4.9 GiB weights instead of 15.0'.
    `model_shards`: TP x PP slices of the base, each GPU dequantizing only its own (as adjust_step prices it)."""
    t = ctx.training
    out: list[str] = []
    ft = getattr(t, "finetuning", None)
    if ft is not None:
        fm = finetune_memory(
            ctx.arch, ft, precision=t.precision, optimizer=t.optimizer, seq=t.sequence_length, micro_batch=micro_batch,
            checkpointing=checkpointing, attention=t.attention, dp=dp, zero_stage=zero, cpu_offload=offload,
            num_micro_batches=accumulation,
        )
        out.append(method_effect(fm, ft))
        out.append("fine-tuning memory counted tensor by tensor (tools/training/finetuning.py): frozen base in its "
                   "storage format, adapters + their optimizer states, inputs saved only where adapters need them")
        if ft.method != "full":
            out.append("step time: the frozen weights' weight-gradient GEMMs are skipped (forward, input gradients and "
                       "any recompute still run); MFU counts the FLOPs the method runs, about 4 per weight per token")
        dequant = dequant_seconds(ctx.arch, ft, ctx.gpu.hbm_bandwidth_tbps, checkpointing, model_shards)
        if dequant:
            out.append(f"{fm.quant} base: dequantized to 16 bits on every pass over it, about {dequant * 1e3:.0f} ms "
                       f"per micro-batch at {DEQUANT_HBM_SHARE:.0%} of HBM bandwidth (solved on Qwen's GPTQ QLoRA vs "
                       "LoRA table; held-out pairs: median error 8%): larger micro-batches amortise it")
        if micro_batch * t.sequence_length < SHORT_MICRO_BATCH_TOKENS:
            out.append(f"{micro_batch * t.sequence_length:,} tokens per micro-batch: below ~{SHORT_MICRO_BATCH_TOKENS:,} "
                       "the per-step overhead (kernel launches, Python, adapter wrappers) is not modelled; Qwen's LoRA "
                       "table ran up to 7x slower than this model at 256-1,024 tokens, the smaller the model the more (bench/peft_throughput.py)")
    a = ctx.arch
    if a.experts > 1:
        out.append(f"MoE: {a.experts} routed experts split over EP{ep}{f' x ETP{etp}' if etp > 1 else ''} "
                   f"({a.experts // ep} per GPU), attention/dense layers over TP; router assumed balanced "
                   "(aux-loss or loss-free balancing), dropless unless moe.capacity_factor is given")
    return out
