"""Memory and step time of one layout: the single evaluation both the estimator tool and the search use."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from ml_expert_mcp.tools.training.context import TrainingContext
from ml_expert_mcp.tools.training.memory import GIB, MemoryTerms, device_total_gib, estimate_memory
from ml_expert_mcp.tools.training.model_arch import Architecture
from ml_expert_mcp.tools.training.pipeline import stage_split
from ml_expert_mcp.tools.training.specialisations import (
    adjust_memory,
    adjust_step,
    backward_buffer_bytes,
    best_expert_layout,
    memory_arch,
)
from ml_expert_mcp.tools.training.step_time import StepTime, predict_step_time


class LayoutResult(NamedTuple):
    memory: MemoryTerms
    device_gib: float
    fits: bool
    step: StepTime | None
    ep: int = 1  # MoE expert parallel / expert tensor parallel of this evaluation
    etp: int = 1


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
    ep: int | None = 1,
    etp: int = 1,
    virtual: int = 1,
    recompute_layers: int | None = None,
    memory: LayoutResult | None = None,
) -> LayoutResult:
    """`recompute_layers`: with full checkpointing, the layers per model chunk that recompute (Megatron's block
    method); None: all of them. `memory`: this layout's memory evaluation already made (with_time=False, the same
    arguments), so only the step time is computed (the search evaluates memory first, then times what fits)."""
    if ep is None:  # MoE: search the expert layouts (EP x ETP) of this stage
        return best_expert_layout(ctx.arch, tp, cp, dp, lambda e, et: evaluate(
            ctx, dp=dp, tp=tp, pp=pp, cp=cp, sp=sp, zero=zero, hybrid=hybrid, offload=offload, micro_batch=micro_batch,
            accumulation=accumulation, checkpointing=checkpointing, megatron_style=megatron_style, with_time=with_time,
            virtual=virtual, ep=e, etp=et, recompute_layers=recompute_layers))
    t = ctx.training
    arch = ctx.arch
    recompute_share = 1.0 if recompute_layers is None else recompute_layers / chunk_layers(arch.layers, pp, virtual)
    seq = t.sequence_length if arch.is_transformer else 1  # a CNN sample is one image, not a token sequence
    group = shard_group(ctx, dp, tp, cp, hybrid)
    if memory is not None:
        mem, device, fits = memory.memory, memory.device_gib, memory.fits
    else:
        key = (dp, tp, pp, cp, sp, zero, offload, group, micro_batch, accumulation, checkpointing, megatron_style, ep,
               etp, virtual, recompute_share)
        known = ctx.memory_memo.get(key)
        if known is None:
            known = ctx.memory_memo[key] = _memory(
                ctx, dp=dp, tp=tp, pp=pp, cp=cp, sp=sp, zero=zero, offload=offload, group=group,
                micro_batch=micro_batch, accumulation=accumulation, checkpointing=checkpointing,
                megatron_style=megatron_style, ep=ep, etp=etp, virtual=virtual, recompute_share=recompute_share, seq=seq)
        mem, device = known
        fits = device <= fit_limit_gib(ctx)
    step = None
    if with_time:
        step = _step(ctx, dp=dp, tp=tp, pp=pp, cp=cp, zero=zero, offload=offload, group=group, micro_batch=micro_batch,
                     accumulation=accumulation, checkpointing=checkpointing, megatron_style=megatron_style,
                     virtual=virtual, recompute_share=recompute_share, seq=seq)
    step = adjust_step(ctx, step, tp=tp, pp=pp, cp=cp, micro_batch=micro_batch, accumulation=accumulation,
                       checkpointing=checkpointing, ep=ep, etp=etp, virtual=virtual)
    return LayoutResult(mem, device, fits, step, ep, etp)


def step_only(ctx: TrainingContext, *, dp: int, tp: int, pp: int, cp: int, zero: int, hybrid: bool, offload: bool,
              micro_batch: int, accumulation: int, checkpointing: str, megatron_style: bool, virtual: int = 1,
              recompute_layers: int | None = None) -> StepTime:
    """The step time `evaluate` gives a dense layout, without its memory: searches bound with it what a layout can
    reach before they pay for its memory (and ask again for some: kept with the context)."""
    key = (dp, tp, pp, cp, zero, hybrid, offload, micro_batch, accumulation, checkpointing, megatron_style, virtual,
           recompute_layers)
    known = ctx.step_memo.get(key)
    if known is not None:
        return known  # type: ignore[no-any-return]
    arch = ctx.arch
    step = adjust_step(ctx, _step(
        ctx, dp=dp, tp=tp, pp=pp, cp=cp, zero=zero, offload=offload, group=shard_group(ctx, dp, tp, cp, hybrid),
        micro_batch=micro_batch, accumulation=accumulation, checkpointing=checkpointing, megatron_style=megatron_style,
        virtual=virtual, seq=ctx.training.sequence_length if arch.is_transformer else 1,
        recompute_share=1.0 if recompute_layers is None else recompute_layers / chunk_layers(arch.layers, pp, virtual)),
        tp=tp, pp=pp, cp=cp, micro_batch=micro_batch, accumulation=accumulation, checkpointing=checkpointing, ep=1,
        etp=1, virtual=virtual)
    assert step is not None
    ctx.step_memo[key] = step
    return step


def _step(ctx: TrainingContext, *, dp: int, tp: int, pp: int, cp: int, zero: int, offload: bool, group: int,
          micro_batch: int, accumulation: int, checkpointing: str, megatron_style: bool, virtual: int,
          recompute_share: float, seq: int) -> StepTime:
    t = ctx.training
    arch = ctx.arch
    params_per_gpu = arch.total_params / (tp * pp)
    grad_bytes = 2 if megatron_style or t.precision in ("bf16", "fp8") else 4
    return predict_step_time(
        arch, ctx.gpu, precision=t.precision, seq=seq, micro_batch=micro_batch,
        num_micro_batches=accumulation, checkpointing=checkpointing, dp=dp, tp=tp, pp=pp, cp=cp,
        zero_stage=zero, cpu_offload=offload, gpus_per_node=ctx.cluster.gpus_per_node,
        intra_gbps=ctx.intra_gbps, inter_gbps=ctx.inter_gbps, params_per_gpu=params_per_gpu,
        grad_bytes=grad_bytes, interleave=virtual, shard_group=group, fsdp_style=not megatron_style,
        pipeline_imbalance=pipeline_imbalance(arch, seq, pp), recompute_share=recompute_share,
    )


def pipeline_imbalance(arch: Architecture, seq: int, pp: int) -> float:
    """The slowest stage's compute over the mean stage's (>= 1): the embedding and the head + loss sit on the first
    and last stages, whose layer counts stage_split lowers to compensate."""
    known = arch.memo.get(("pipeline imbalance", seq, pp))
    if known is None:
        known = arch.memo["pipeline imbalance", seq, pp] = _imbalance(arch, seq, pp)
    return float(known)


def _imbalance(arch: Architecture, seq: int, pp: int) -> float:
    split = stage_split(arch.layers, pp) if arch.is_transformer else None
    if split is None:
        return 1.0
    first, middle, last = split
    per_layer = arch.model_flops_per_token(seq) - 6.0 * arch.vocab * arch.hidden * (0 if arch.family == "vit" else 1)
    per_layer = max(per_layer, 1.0) / arch.layers
    head = arch.model_flops_per_token(seq) - per_layer * arch.layers
    slowest = max(first * per_layer, middle * per_layer, last * per_layer + head)
    return max(1.0, slowest * pp / (per_layer * arch.layers + head))


def _memory(ctx: TrainingContext, *, dp: int, tp: int, pp: int, cp: int, sp: bool, zero: int, offload: bool, group: int,
            micro_batch: int, accumulation: int, checkpointing: str, megatron_style: bool, ep: int, etp: int, virtual: int,
            recompute_share: float, seq: int) -> tuple[MemoryTerms, float]:
    """Peak memory terms of the layout and what the device shows (both independent of the GPU)."""
    t = ctx.training
    mem = estimate_memory(
        memory_arch(ctx, tp, ep, etp), precision=t.precision, optimizer=t.optimizer, seq=seq, micro_batch=micro_batch,
        checkpointing=checkpointing, attention=t.attention, dp=dp, tp=tp, pp=pp, cp=cp, sp=sp, zero_stage=zero,
        shard_group=group, cpu_offload=offload, num_micro_batches=accumulation, megatron_style=megatron_style,
        virtual_stages=virtual, recompute_share=recompute_share,
        # Megatron shards the routed experts' optimizer over the expert-data-parallel group
        expert_shard_group=tp * cp * dp // (ep * etp) if megatron_style and ep * etp > 1 else None,
        backward_buffers=backward_buffer_bytes(ctx, zero),
        # the Megatron plans reduce gradients in 16 bits (--grad-reduce-in-bf16), as NVIDIA's recipes do (memory_caveats)
        grad_reduce_in_fp32=ctx.framework != "megatron",
    )
    mem = adjust_memory(ctx, mem, dp=dp, tp=tp, pp=pp, cp=cp, sp=sp, zero=zero, offload=offload, micro_batch=micro_batch,
                        accumulation=accumulation, checkpointing=checkpointing, ep=ep, etp=etp)
    return mem, device_total_gib(mem, dp * tp * pp * cp)


def block_recompute_floor(ctx: TrainingContext, chunk: int, fits_with: Callable[[int], LayoutResult]) -> int | None:
    """The layers per chunk least_block_recompute starts from (it never answers fewer), or None when block recompute
    does not apply: keeping every activation fits, or checkpointing all does not. Activation memory is linear in the
    layers recomputed, so one solve from the two ends."""
    full, none = fits_with(chunk), fits_with(0)
    if not full.fits or none.fits or none.device_gib <= full.device_gib:
        return None
    share = (none.device_gib - fit_limit_gib(ctx)) / (none.device_gib - full.device_gib)
    return max(1, min(chunk, math.ceil(share * chunk - 1e-9)))


def least_block_recompute(ctx: TrainingContext, chunk: int, fits_with: Callable[[int], LayoutResult]) -> int | None:
    """Fewest of a model chunk's `chunk` layers (pipeline stage, or virtual stage when interleaved) to checkpoint so the
    layout fits (Megatron `--recompute-method block --recompute-num-layers N` recomputes the first N layers of each
    chunk), when keeping every activation does not fit and checkpointing all does; None otherwise: the solve of
    block_recompute_floor, then a check (and a step up where the peak moved)."""
    n = block_recompute_floor(ctx, chunk, fits_with)
    if n is None:
        return None
    while n < chunk and not fits_with(n).fits:
        n += 1
    return n if n < chunk else None


def chunk_layers(layers: int, pp: int, virtual: int) -> int:
    """Layers in one model chunk: a pipeline stage, or one virtual stage of it when interleaved."""
    return -(-layers // max(pp * virtual, 1))


def op_level(ckpt: str, framework: str) -> str:
    """'selective' as each framework's code applies it: the FSDP2 code runs PyTorch's op-level selective checkpointing
    (torchtitan's policy); Megatron recomputes the attention core (Korthikanti et al. 2022)."""
    return "selective_op" if ckpt == "selective" and framework == "pytorch_fsdp" else ckpt


def fit_limit_gib(ctx: TrainingContext) -> float:
    """Device memory a layout may use: usable memory less the stated headroom (ClusterSpec.memory_headroom)."""
    return ctx.gpu.usable_memory_gib * (1.0 - ctx.cluster.memory_headroom)


def gib(x: float) -> float:
    return round(x / GIB, 3)
