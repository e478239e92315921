"""The layout search as one NumPy pass over its grid (issue 16): every (family, checkpointing, micro-batch) cell's
memory and step time at once, instead of one scalar evaluation per layout.

Scope: no pipeline stages, dense models, from-scratch training, frameworks other than Megatron (no block recompute
or interleaving): every PyTorch FSDP, accelerate, Lightning and TensorFlow search, and those of the SageMaker and
Kubeflow planners. Anything else takes the scalar search (strategy._fitting_layouts). The arithmetic is
evaluation.evaluate's (memory.estimate_memory, step_time.predict_step_time) term by term, in the same order, so
every cell is bit-identical to the scalar evaluation; tests/test_training_grid.py checks each cell, and the plan
against the scalar search's (the reference).

What it gives is the scalar search's without pruning: in each (family, checkpointing) group the micro-batches from
the smallest until the first that does not fit; no selective or no checkpointing where full checkpointing's first
micro-batch does not fit; best first by tokens/s, then fewer accumulation steps, less memory, the layout; the
closest miss of each family with nothing that fits, and the memory evaluations those walks make.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ml_expert_mcp.tools.training.context import TrainingContext
from ml_expert_mcp.tools.training.estimate import sequence_parallel
from ml_expert_mcp.tools.training.evaluation import (
    LayoutResult,
    evaluate,
    fit_limit_gib,
    op_level,
    pipeline_imbalance,
)
from ml_expert_mcp.tools.training.memory import (
    _DTYPE_BYTES,
    _LOGITS_FORWARD_V,
    _LOGITS_V,
    CUDA_CONTEXT_GIB,
    FRAGMENTATION,
    GIB,
    NCCL_BUFFERS_GIB,
    layer_activation_bytes,
    optimizer_bytes_per_param,
    saved_bytes_per_token,
    stage_state,
)
from ml_expert_mcp.tools.training.specialisations import backward_buffer_bytes
from ml_expert_mcp.tools.training.step_time import (
    CPU_ADAM_PARAMS_PER_S,
    DP_OVERLAP,
    PCIE_GBPS,
    ZERO3_OVERLAP,
    compute_rate,
    hardware_flops_per_token,
)

Floats = npt.NDArray[np.float64]
Family = tuple[int, int, int, int, int, int, bool, bool]  # (tp, pp, cp, dp, per-rank batch, ZeRO, hybrid, offload)


def covers(ctx: TrainingContext, families: list[Family]) -> bool:
    """Whether the grid search gives this search's ranking (see the module's scope)."""
    return (ctx.framework != "megatron" and ctx.arch.experts <= 1 and getattr(ctx.training, "finetuning", None) is None
            and all(f[1] == 1 for f in families))


@dataclass
class GridSearch:
    """What the scalar search without pruning finds (strategy._fitting_layouts with prune=False)."""

    ranked: list[tuple[float, tuple[Any, ...], LayoutResult]]  # top_k of distinct families, best first
    evaluated: int  # memory evaluations the upward walks make
    fitting: set[int]  # families (by index) with a layout that fits
    misses: dict[int, float | None]  # the others: their closest miss in GiB (None: the micro-batch does not divide)


def search(ctx: TrainingContext, families: list[Family], ckpts: tuple[str, ...], columns: list[int], meg: bool,
           top_k: int, floor: float, report: bool = True) -> GridSearch:
    """The top_k layouts of distinct families at or above `floor` tokens/s, each evaluated again by the scalar path
    (the plan's numbers come from it), and what the walks saw (`report`: else only the ranking). `columns`: the
    micro-batch sizes, smallest first."""
    return search_clusters([(ctx, families, floor)], ckpts, columns, meg, top_k, report)[0]


def search_clusters(searches: list[tuple[TrainingContext, list[Family], float]], ckpts: tuple[str, ...],
                    columns: list[int], meg: bool, top_k: int, report: bool = True) -> list[GridSearch]:
    """`search` for clusters that differ only in their node count (a planner trying the counts of one instance type),
    in one pass over their families side by side: a cell depends on the GPU, the node (its GPUs, bandwidths) and the
    family (its data-parallel degree and batch per rank), not on how many nodes there are."""
    ctx = searches[0][0]
    families = [f for _, fams, _ in searches for f in fams]
    if not families:
        return [GridSearch([], 0, set(), {}) for _ in searches]
    grid = _Grid(ctx, families, [op_level(c, ctx.framework) for c in ckpts], columns, meg)
    # memory does not depend on the GPU: searches over instance types with the same layouts share it
    memory_key = ("grid memory", tuple(families), tuple(ckpts), tuple(columns), tuple(grid.group.ravel().tolist()))
    device = ctx.memory_memo.get(memory_key)
    if device is None:
        device = ctx.memory_memo[memory_key] = grid.device_gib()
    fits = device <= fit_limit_gib(ctx)
    valid = grid.divides & np.ones((1, len(ckpts), 1), dtype=bool)
    # the upward walk: a cell counts while every valid smaller size of its group fits
    reached = valid & np.logical_and.accumulate(fits | ~valid, axis=2)
    has_size = grid.divides[:, 0, :].any(axis=1)
    first = np.argmax(grid.divides[:, 0, :], axis=1)  # each family's smallest size
    first_fits = fits[np.arange(len(families)), :, first] & has_size[:, None]  # (family, checkpointing)
    walked = np.ones(first_fits.shape, dtype=bool)
    if "full" in ckpts:  # no selective or no checkpointing where full checkpointing's smallest size does not fit
        missed = ~first_fits[:, ckpts.index("full")]
        walked &= ~(missed[:, None] & np.array([c != "full" for c in ckpts])[None, :])
        reached &= walked[:, :, None]
    all_tokens = np.where(reached, grid.tokens_per_s(), -np.inf)
    out, start = [], 0
    for search_ctx, fams, floor in searches:
        part = slice(start, start + len(fams))
        start += len(fams)
        found = GridSearch([], 0, set(), {})
        out.append(found)
        if not fams:
            continue
        if report:
            prefix = reached[part].sum(axis=2)
            found.evaluated = int(np.where(walked[part] & has_size[part, None],
                                           prefix + (prefix < valid[part].sum(axis=2)), 0).sum())
            fitting = (first_fits[part] & walked[part]).any(axis=1)
            j0 = 0 if "full" not in ckpts else ckpts.index("full")
            found.fitting = set(np.flatnonzero(fitting).tolist())
            found.misses = {i: (float(device[part][i, j0, first[part][i]]) if has_size[part][i] else None)
                            for i in np.flatnonzero(~fitting).tolist()}
        found.ranked = _ranked_cells(search_ctx, fams, ckpts, columns, meg, top_k, floor, all_tokens[part],
                                     device[part])
    return out


def _ranked_cells(ctx: TrainingContext, families: list[Family], ckpts: tuple[str, ...], columns: list[int], meg: bool,
                  top_k: int, floor: float, tokens: Floats,
                  device: Floats) -> list[tuple[float, tuple[Any, ...], LayoutResult]]:
    """The top_k cells of distinct families at or above `floor`, in strategy._search's order, each evaluated again by
    the scalar path."""
    tokens = np.where(tokens < floor - 1e-6, -np.inf, tokens)
    # only a family's fastest cells can stand for it, and only the top_k families' (the margin covers the ranking's
    # rounding to 1e-6 tokens/s): the exact ordering below then runs over a handful of cells
    best = tokens.max(axis=(1, 2))
    kth = np.sort(best)[::-1][min(top_k, len(best)) - 1]
    cells = np.nonzero((tokens >= best[:, None, None] - 1e-5) & (best >= kth - 1e-5)[:, None, None]
                       & (tokens > -np.inf))
    picked: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []
    for i, j, k in zip(*(c.tolist() for c in cells), strict=True):
        tp, pp, cp, dp, per_rank, zero, hybrid, offload = families[i]
        size = columns[k]
        key = (tp, pp, cp, dp, zero, hybrid, offload, size, per_rank // size, ckpts[j], 1, None)
        picked.append(((-round(float(tokens[i, j, k]), 6), key[8], round(float(device[i, j, k]), 6), key), key))
    picked.sort(key=lambda p: p[0])
    ranked: list[tuple[float, tuple[Any, ...], LayoutResult]] = []
    seen: set[tuple[Any, ...]] = set()
    for _, key in picked:
        family = (key[0], key[1], key[2], key[4], key[5], key[6])
        if family in seen:
            continue
        seen.add(family)
        res = evaluate(ctx, dp=key[3], tp=key[0], pp=1, cp=key[2], sp=sequence_parallel(ctx.framework, key[0]),
                       zero=key[4], hybrid=key[5], offload=key[6], micro_batch=key[7], accumulation=key[8],
                       checkpointing=op_level(key[9], ctx.framework), megatron_style=meg)
        ranked.append((res.step.tokens_per_s, key, res))  # type: ignore[union-attr]
        if len(ranked) == top_k:
            break
    return ranked


class _Grid:
    """The cells as arrays: per family (shape (F, 1, 1)), per family and size (F, 1, M), per family, checkpointing
    and size (F, C, M). Each term is the scalar model's expression in the scalar model's order (bit-identical)."""

    def __init__(self, ctx: TrainingContext, families: list[Family], ops: list[str], columns: list[int], meg: bool):
        self.ctx, self.families, self.ops, self.meg = ctx, families, ops, meg
        fam = np.array(families, dtype=np.int64).T[:, :, None, None]  # (field, family, 1, 1)
        self.tp, _, self.cp, self.dp, per_rank, self.zero, hybrid, offload = fam
        # evaluation.shard_group: all data-parallel ranks, or those inside one node under hybrid sharding
        per_node = np.maximum(1, ctx.cluster.gpus_per_node // (self.tp * self.cp))
        self.group = np.where(hybrid == 1, np.maximum(1, np.minimum(self.dp, per_node)), self.dp)
        self.offload = offload == 1
        self.mb = np.array(columns, dtype=np.int64)[None, None, :]
        self.divides = per_rank % self.mb == 0
        self.acc = np.where(self.divides, per_rank // self.mb, 1)
        self.full = np.array([o == "full" for o in ops])[None, :, None]

    def device_gib(self) -> Floats:
        """memory.estimate_memory (one stage: the whole model) then device_total_gib."""
        ctx, tp, zero = self.ctx, self.tp, self.zero
        arch, t = ctx.arch, ctx.training
        precision = "megatron" if self.meg and t.precision.startswith("amp") else t.precision
        wb, gb, act, res = _DTYPE_BYTES[precision]
        ob = optimizer_bytes_per_param(t.optimizer, precision, arch)
        amp = precision.startswith("amp")
        shard = self.group  # >= 1
        buffers: Any = 0.0
        if ctx.framework == "deepspeed":
            buffers = np.array([backward_buffer_bytes(ctx, f[5]) for f in self.families])[:, None, None]
        # weights, gradients, optimizer states, autocast copies, sharding buffers per family (the whole model on one
        # stage), shared with the scalar evaluations
        states = [stage_state(arch, precision, f[0], f[5], group, f[7], amp, wb, gb, ob, act, arch.layers, True, True,
                              group) for f, group in zip(self.families, shard.ravel().tolist(), strict=True)]
        params_local, layer_params, weights, grads, opt, cast, sharding = np.array(states).T[:, :, None, None]
        held_grads = np.where((self.acc > 1) | (zero >= 2), grads, 0.0)
        base = weights + opt + cast + sharding
        state = weights + opt + grads
        optimizer_step = state + (4.0 * params_local / shard if t.optimizer == "adam_8bit" else 0.0)
        world = self.dp * tp * self.cp
        if not arch.is_transformer:
            opaque = arch.opaque_activation_bytes * self.mb * (act / 4.0)
            activations = np.where(self.full, opaque * 0.35, opaque * 1.0)
            end_of_backward = state + sharding + 0.0 + buffers
            backward = base + held_grads + activations + max(0.0, 0.0 + 0.0) + buffers
            return _device(np.maximum(np.maximum(end_of_backward, optimizer_step), backward), world)
        # per (tensor parallel, checkpointing): the saved bytes per token and the working layer (_stage_memory)
        tps = sorted({f[0] for f in self.families})
        rows = []
        for tp_ in tps:
            sp = sequence_parallel(ctx.framework, tp_)
            for op in self.ops:
                per_layer = layer_activation_bytes(arch, precision, tp_, sp, t.attention, t.sequence_length,
                                                   op == "selective")
                rows.append(saved_bytes_per_token(arch, op, per_layer, act, res, tp_, sp, 1.0, float(arch.layers)))
        per_tp = np.array(rows).reshape(len(tps), len(self.ops), 2)
        per_token = per_tp[np.searchsorted(tps, tp.ravel())]  # (family, checkpointing, 2)
        stored, working = per_token[:, :, 0:1], per_token[:, :, 1:2]
        tokens = self.mb * t.sequence_length / self.cp
        per_out = tokens if arch.family != "vit" else self.mb
        logits_peak = _LOGITS_V[precision] * arch.vocab / tp * per_out
        logits_kept = 2.0 * arch.vocab / tp * per_out
        held = base + held_grads
        activations = tokens * stored
        recompute = tokens * working
        peak = np.maximum(state + sharding + logits_kept + buffers, optimizer_step)
        backward = held + activations + np.maximum(logits_peak, logits_kept + recompute) + buffers
        if amp and "full" in self.ops:
            # full checkpointing under autocast: the weight-cast cache dies with the forward (memory._stage_memory)
            j = self.ops.index("full")
            forward = held + activations[:, j:j + 1] + (_LOGITS_FORWARD_V[precision] * arch.vocab / tp * per_out)
            head_copy = 2.0 * (arch.head_params or arch.embedding_params) / tp
            after = ((base - cast + head_copy) + held_grads + activations[:, j:j + 1]
                     + np.maximum(logits_peak, logits_kept + (recompute[:, j:j + 1] + 2.0 * layer_params)) + buffers)
            backward[:, j:j + 1] = np.where(cast != 0, np.maximum(forward, after), backward[:, j:j + 1])
        return _device(np.maximum(peak, backward), world)

    def tokens_per_s(self) -> Floats:
        """evaluation._step and step_time.predict_step_time without pipelining: tokens/s."""
        ctx, tp, cp, dp, zero, group = self.ctx, self.tp, self.cp, self.dp, self.zero, self.group
        arch, t, gpu = ctx.arch, ctx.training, ctx.gpu
        seq = t.sequence_length if arch.is_transformer else 1
        gpn, intra, inter = ctx.cluster.gpus_per_node, ctx.intra_gbps, ctx.inter_gbps
        params_per_gpu = arch.total_params / (tp * 1)
        grad_bytes = 2 if self.meg or t.precision in ("bf16", "fp8") else 4
        act_bytes = 4 if t.precision == "fp32" else 2
        tokens_mb = self.mb * seq
        hw = np.array([hardware_flops_per_token(arch, seq, op, 1.0) for op in self.ops])[None, :, None]
        imbalance = pipeline_imbalance(arch, seq, 1)
        compute_mb = hw * tokens_mb / (tp * cp) / compute_rate(arch, gpu, t.precision)
        if imbalance != 1.0:
            compute_mb = compute_mb * imbalance
        stage_mb = compute_mb  # + tensor-parallel traffic + the rest (adding a zero term changes nothing)
        if arch.is_transformer and (tp > 1).any():
            collectives = np.array([4 + (2 * 1.0 if op == "full" else 0) for op in self.ops])[None, :, None]
            per = _ring(tokens_mb / cp * arch.hidden * act_bytes, tp, intra)
            stage_mb = compute_mb + np.where(tp > 1, collectives * per * arch.layers / 1, 0.0)
        inner = tp * cp
        other_mb: Any = 0.0
        if arch.is_transformer and (cp > 1).any():
            kv_bytes = 2 * tokens_mb / cp * arch.kv_dim * act_bytes * arch.layers / 1 / tp
            other_mb = np.where(cp > 1, 0.1 * _ring(kv_bytes, cp, np.where(tp * cp <= gpn, intra, inter)), 0.0)
        sharded_mb = (zero >= 3) | ((zero == 2) & (not self.meg))
        if sharded_mb.any():
            g_gbps = np.where(inner * group <= gpn, intra, inter)
            gather = (group - 1) / group * params_per_gpu * act_bytes / (g_gbps * 1e9)
            scatter = (group - 1) / group * params_per_gpu * grad_bytes / (g_gbps * 1e9)
            layers = max(arch.layers / 1, 1) if arch.is_transformer else 50.0
            gathered = np.where(zero >= 3, 2, 1) * gather + scatter
            exposed = np.maximum(0.0, gathered - ZERO3_OVERLAP * compute_mb) + gather / layers
            other_mb = np.where(sharded_mb & (group > 1), other_mb + exposed, other_mb)
        step = self.acc * (stage_mb + other_mb)
        exposes = (dp > 1) & ~sharded_mb | sharded_mb & (dp > group)
        if exposes.any():
            reduce = np.where(sharded_mb, _ring(params_per_gpu / group * grad_bytes, dp // group, inter),
                              _ring(params_per_gpu * grad_bytes, dp, np.where(inner * dp <= gpn, intra, inter)))
            step = step + np.where(exposes, np.maximum(0.0, reduce - DP_OVERLAP * compute_mb * 2.0 / 3.0), 0.0)
        if self.offload.any():
            pcie = PCIE_GBPS.get(gpu.pcie_gen or 4, 25.0)
            cpu_step = params_per_gpu / CPU_ADAM_PARAMS_PER_S + 2 * params_per_gpu * 4 / (pcie * 1e9)
            step = step + np.where(self.offload, cpu_step, 0.0)
        tokens: Floats = self.acc * tokens_mb * dp / step
        return tokens


def _device(peak: Any, world: Any) -> Floats:
    """memory.device_total_gib: reserved memory plus the CUDA context (and NCCL's buffers when distributed)."""
    extra = np.where(world > 1, CUDA_CONTEXT_GIB + NCCL_BUFFERS_GIB, CUDA_CONTEXT_GIB + 0.0)
    return np.asarray(peak * FRAGMENTATION / GIB + extra, dtype=np.float64)


def _ring(bytes_: Any, n: Any, gbps: Any) -> Any:
    """step_time.ring_seconds over arrays (0 where n <= 1)."""
    return np.where(n <= 1, 0.0, 2.0 * (n - 1) / n * bytes_ / (gbps * 1e9))
