"""Memory and step time of one layout: the single evaluation both the estimator tool and the search use."""

from __future__ import annotations

from dataclasses import dataclass

from ml_expert_mcp.tools.training.context import TrainingContext
from ml_expert_mcp.tools.training.memory import GIB, MemoryTerms, device_total_gib, estimate_memory
from ml_expert_mcp.tools.training.step_time import StepTime, predict_step_time


@dataclass(frozen=True, slots=True)
class LayoutResult:
    memory: MemoryTerms
    device_gib: float
    fits: bool
    step: StepTime | None


def shard_group(ctx: TrainingContext, dp: int, tp: int, cp: int, hybrid: bool) -> int:
    """ZeRO/FSDP shard group: all data-parallel ranks, or those inside one node under hybrid sharding."""
    if not hybrid:
        return dp
    per_node = max(1, ctx.cluster.gpus_per_node // (tp * cp))
    return max(1, min(dp, per_node))


def evaluate(
    ctx: TrainingContext,
    *,
    dp: int,
    tp: int,
    pp: int,
    cp: int,
    sp: bool,
    zero: int,
    hybrid: bool,
    offload: bool,
    micro_batch: int,
    accumulation: int,
    checkpointing: str,
    megatron_style: bool,
    with_time: bool = True,
) -> LayoutResult:
    t = ctx.training
    group = shard_group(ctx, dp, tp, cp, hybrid)
    mem = estimate_memory(
        ctx.arch, precision=t.precision, optimizer=t.optimizer, seq=t.sequence_length, micro_batch=micro_batch,
        checkpointing=checkpointing, attention=t.attention, dp=dp, tp=tp, pp=pp, cp=cp, sp=sp, zero_stage=zero,
        shard_group=group, cpu_offload=offload, num_micro_batches=accumulation, megatron_style=megatron_style,
    )
    world = dp * tp * pp * cp
    device = device_total_gib(mem, world)
    fits = device <= ctx.gpu.usable_memory_gib
    step = None
    if with_time:
        params_per_gpu = ctx.arch.total_params / (tp * pp)
        grad_bytes = 2 if megatron_style or t.precision in ("bf16", "fp8") else 4
        step = predict_step_time(
            ctx.arch, ctx.gpu, precision=t.precision, seq=t.sequence_length, micro_batch=micro_batch,
            num_micro_batches=accumulation, checkpointing=checkpointing, dp=dp, tp=tp, pp=pp, cp=cp,
            zero_stage=zero, cpu_offload=offload, gpus_per_node=ctx.cluster.gpus_per_node,
            intra_gbps=ctx.intra_gbps, inter_gbps=ctx.inter_gbps, params_per_gpu=params_per_gpu,
            grad_bytes=grad_bytes,
        )
    return LayoutResult(mem, device, fits, step)


def gib(x: float) -> float:
    return round(x / GIB, 3)
