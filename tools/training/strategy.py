"""select_distribution_strategy: search every valid layout, rank by predicted throughput, explain rejections."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import Field

from ml_expert_mcp.knowledge import gpu_catalog
from ml_expert_mcp.tools.common.aliases import alias_notes
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.models import Plan, StrictModel
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.training import grid
from ml_expert_mcp.tools.training.artifacts import LaunchPlan, launch_plan
from ml_expert_mcp.tools.training.context import (
    TrainingContext,
    build_context,
    clear_memos,
    default_global_batch,
    divisors,
    tensor_parallel_options,
)
from ml_expert_mcp.tools.training.estimate import megatron_style, sequence_parallel
from ml_expert_mcp.tools.training.evaluation import (
    LayoutResult,
    block_recompute_floor,
    chunk_layers,
    evaluate,
    fit_limit_gib,
    gib,
    least_block_recompute,
    op_level,
    step_only,
)
from ml_expert_mcp.tools.training.inputs import ClusterSpec, Framework, Layout, ModelSpec, TrainingSpec
from ml_expert_mcp.tools.training.memory import memory_caveats
from ml_expert_mcp.tools.training.moe import ExpertLayout, fsdp_expert_note
from ml_expert_mcp.tools.training.pipeline import bubble_fraction, interleave_ok, stage_split
from ml_expert_mcp.tools.training.plans import RankedLayout
from ml_expert_mcp.tools.training.step_time import compute_rate, model_caveats

MICRO_BATCHES = (1, 2, 4, 8, 16, 32, 64)
# Least memory first: when full checkpointing does not fit a layout at its smallest micro-batch, selective and none
# (which keep more) do not either, and the search moves on (tests/test_training_scale.py checks the order holds).
CHECKPOINTING = ("full", "selective", "none")
VIRTUAL_STAGES = (1, 2, 3, 4)  # interleaved 1F1B model chunks per pipeline rank (Megatron)


class SelectDistributionRequest(StrictModel):
    model: ModelSpec = Field(description="Preset or HF config fields.")
    training: TrainingSpec = Field(default_factory=TrainingSpec, description="Precision, optimizer, sequence, global batch.")
    cluster: ClusterSpec = Field(default_factory=ClusterSpec, description="GPU type, GPUs per node, nodes, bandwidths.")
    framework: Framework = Field(default="pytorch_fsdp", description="Framework the launch command and config are written for.")
    top_k: int = Field(default=3, ge=1, le=10, description="How many ranked layouts to return.")
    allow_cpu_offload: bool = Field(default=True, description="Consider ZeRO-Offload (slower, less GPU memory).")
    learning_rate: float | None = Field(default=None, gt=0, le=10, description="Peak LR for the generated code.")


class DistributionPlan(Plan):
    def headline(self) -> str:
        if not self.fits or not self.ranked:
            fix = f" {self.to_make_it_fit[0]}" if self.to_make_it_fit else ""
            return f"No layout fits ({self.layouts_evaluated} evaluated).{fix}"
        best = self.ranked[0]
        speed = f"{best.tokens_per_s:,.0f} tokens/s" if best.tokens_per_s else f"{best.samples_per_s:,.0f} samples/s"
        return (f"Best of {self.layouts_evaluated} layouts: {best.strategy}, {best.peak_allocated_gib:,.1f} GiB per "
                f"GPU, {best.step_time_s:.2f} s per step of {self.global_batch_size} samples, {speed}, MFU "
                f"{best.mfu:.0%}.")

    fits: bool = Field(description="Whether any layout fits.")
    global_batch_size: int = Field(description="Samples per optimizer step used in the search.")
    layouts_evaluated: int = Field(description="Layouts whose memory was estimated.")
    ranked: list[RankedLayout] = Field(description="Best layouts, best first.")
    rejected: list[str] = Field(description="Strategy families that did not fit or were invalid, with why (at most 12).")
    to_make_it_fit: list[str] = Field(default_factory=list, description="When nothing fits: what would.")
    launch: LaunchPlan | None = Field(default=None, description="Launch command and config for the best layout.")


def _framework_space(framework: str, ctx: TrainingContext) -> tuple[list[int], bool, bool, bool]:
    """(zero stages, tensor parallel allowed, pipeline allowed, context parallel allowed)."""
    if framework == "megatron":
        return [0, 1], True, True, True
    if framework == "deepspeed":
        return [0, 1, 2, 3], False, True, False
    if framework in ("accelerate",):
        return [0, 2, 3], False, False, False
    if framework == "lightning":
        return [0, 2, 3], False, False, False  # FSDPStrategy: offload, SHARD_GRAD_OP, HYBRID_SHARD, checkpointing
    if framework == "tensorflow":
        return [0], False, False, False
    return [0, 2, 3], True, False, True  # pytorch_fsdp: DDP, SHARD_GRAD_OP, FULL/HYBRID_SHARD + DTensor TP/CP


def strategy_name(zero: int, hybrid: bool, offload: bool, tp: int, pp: int, cp: int, framework: str) -> str:
    if zero == 0:
        base = "DDP" if framework not in ("megatron",) else "Megatron DP"
        if framework == "tensorflow":
            base = "MultiWorkerMirrored" if tp == 1 else base
    elif zero == 3:
        base = "FSDP hybrid shard" if hybrid else "FSDP full shard (ZeRO-3)"
    else:
        base = {1: "ZeRO-1", 2: "ZeRO-2"}[zero]
        if framework == "megatron":
            base = "Megatron distributed optimizer (ZeRO-1)"
    parts = [base]
    if tp > 1:
        parts.append(f"TP{tp}")
    if pp > 1:
        parts.append(f"PP{pp}")
    if cp > 1:
        parts.append(f"CP{cp}")
    if offload:
        parts.append("CPU offload")
    return " + ".join(parts)


@tool("Select a distribution strategy")
def select_distribution_strategy(req: SelectDistributionRequest) -> DistributionPlan:
    """Search every valid layout (DDP, FSDP, ZeRO, TP x PP x DP x CP, micro-batch, checkpointing, offload) for a model
    on a cluster; ranked by predicted throughput, with launch command and config.
    """
    return _cached_search(_search_key(req), suggest_fixes=True).model_copy(deep=True)


def best_layout(req: SelectDistributionRequest, at_least: float = -math.inf,
                then: Sequence[tuple[SelectDistributionRequest, float]] = ()) -> RankedLayout | None:
    """The best-ranked layout, or None when nothing fits; for planners that try many clusters (no fix search).
    `at_least` (tokens/s): the caller only needs a layout this fast (a deadline), so the search skips whatever cannot
    reach it; the best layout is the same when it does, and None or a slower layout is all it says when it does not.
    `then`: the (request, at_least) the caller may ask next when this one falls short, for more nodes of the same
    instance type; where the grid search covers them they are searched in the same pass."""
    context = _context(req)
    if at_least > -math.inf and _beyond_reach(context[0], at_least):
        return None
    key = _search_key(req)
    if then and (key, False, at_least) not in _searches:
        _search_together([(req, at_least), *then])
    # (the search key leaves out what the search does not read; so may the context the search is given)
    plan = _cached_search(key, suggest_fixes=False, at_least=at_least, context=context)
    if not (plan.fits and plan.ranked):
        return None
    best = plan.ranked[0]  # a copy: the cached plan must not change with what the caller does to it
    return best.model_copy(update={"layout": best.layout.model_copy(), "reasons": list(best.reasons),
                                   "step_breakdown_s": dict(best.step_breakdown_s)})


def _search_key(req: SelectDistributionRequest) -> str:
    """The request as the search sees it: CPU cores do not enter it, nor does the network between nodes on one node,
    so clusters that differ only there (SageMaker types with the same GPUs) share one search."""
    cluster = req.cluster.model_copy(update={"cpu_cores_per_node": ClusterSpec.model_fields["cpu_cores_per_node"].default})
    if cluster.nodes == 1:
        cluster = cluster.model_copy(update={"inter_node_gbps": ClusterSpec.model_fields["inter_node_gbps"].default})
    return req.model_copy(update={"cluster": cluster}).model_dump_json()


SEARCH_CACHE_SIZE = 512  # searches kept per process: a SageMaker plan runs one per instance shape and count


_searches: OrderedDict[tuple[str, bool, float], DistributionPlan] = OrderedDict()  # least recently used first
_searches_lock = threading.Lock()  # the HTTP server runs tools in worker threads


def _cached_search(request_json: str, suggest_fixes: bool, at_least: float = -math.inf,
                   context: tuple[TrainingContext, int] | None = None) -> DistributionPlan:
    """The search is a pure function of its request: planners that try many clusters with the same GPU shape, and
    re-plans that change only names, buckets or budgets, reuse it. `context`: the request's, already resolved."""
    key = (request_json, suggest_fixes, at_least)
    with _searches_lock:
        plan = _searches.get(key)
        if plan is not None:
            _searches.move_to_end(key)
            return plan
    plan = _search(SelectDistributionRequest.model_validate_json(request_json), suggest_fixes, at_least=at_least,
                   context=context)
    _keep(key, plan)
    return plan


def _keep(key: tuple[str, bool, float], plan: DistributionPlan) -> None:
    with _searches_lock:
        _searches[key] = plan
        while len(_searches) > SEARCH_CACHE_SIZE:
            _searches.popitem(last=False)


TOGETHER_FAMILIES = 32  # families in one grid pass beyond the first two searches: larger arrays cost more than a pass


def _search_together(searches: list[tuple[SelectDistributionRequest, float]]) -> None:
    """best_layout's searches of clusters that differ only in their node count, made in one grid pass
    (grid.search_clusters) and kept for best_layout: the first, the next, and more while the grid stays small. Single
    nodes stay apart (no network between nodes), as does what the grid does not cover or cannot reach its floor;
    best_layout searches those alone, as it would have."""
    if searches[0][0].cluster.nodes == 1:
        return
    members: list[tuple[tuple[str, bool, float], SelectDistributionRequest, TrainingContext, int, _Space]] = []
    shape: tuple[Any, ...] | None = None
    for req, floor in searches:
        if req.cluster.nodes == 1:
            continue
        key = (_search_key(req), False, floor)
        if key in _searches:
            continue
        req = SelectDistributionRequest.model_validate_json(key[0])  # as _cached_search searches it
        try:
            ctx, gb = _context(req)
        except PlanInputError:
            return  # best_layout raises it in its turn
        if floor > -math.inf and _beyond_reach(ctx, floor):
            continue
        space = _space(req, ctx, gb, _Tally())
        if not grid.covers(ctx, space.families):
            return
        this = (ctx.gpu.id, ctx.cluster.gpus_per_node, ctx.intra_gbps, ctx.inter_gbps, space.ckpts, space.fixed_mb,
                space.meg, req.model_dump_json(exclude={"cluster"}))
        if shape is not None and this != shape:
            continue
        if len(members) >= 2 and sum(len(m[4].families) for m in members) + len(space.families) > TOGETHER_FAMILIES:
            break
        shape = this
        members.append((key, req, ctx, gb, space))
    if len(members) < 2:
        return
    first = members[0][4]
    found = grid.search_clusters([(ctx, space.families, key[2]) for key, _, ctx, _, space in members], first.ckpts,
                                 [first.fixed_mb] if first.fixed_mb else list(MICRO_BATCHES), first.meg,
                                 members[0][1].top_k, report=False)
    for (key, req, ctx, gb, _), result in zip(members, found, strict=True):
        _keep(key, _search_plan(req, ctx, gb, result.ranked, _Tally(), suggest_fixes=False))


Candidate = tuple[float, tuple[Any, ...], LayoutResult]
Family = grid.Family


@dataclass
class _Tally:
    """What a search counted besides the layouts that fit: layouts evaluated, and per strategy family the closest
    miss (for the rejection list)."""

    evaluated: int = 0
    rejected: dict[str, tuple[float, str]] = field(default_factory=dict)
    fitting: set[str] = field(default_factory=set)  # strategy families with a layout that fits
    family_best: dict[tuple[Any, ...], float] = field(default_factory=dict)  # best tokens/s per (tp, pp, cp, ZeRO, ...)
    prune: bool = True  # False: time every layout that fits (the reference the tests compare the pruned search with)
    skip_groups: bool = False  # also skip whole (family, checkpointing) groups before their memory: the ranking only
    floor: float = -math.inf  # tokens/s below which the caller has no use for a layout (best_layout's at_least)
    best_first: bool = False  # search the families fastest bound first, so the bar rises early and prunes the rest

    def bar(self, k: int, family: tuple[Any, ...] | None = None) -> float:
        """Tokens/s a layout must beat to matter: the k-th best family so far (the plan ranks k distinct families),
        the best layout of its own family so far (the ranking keeps one per family), or the caller's floor, whichever
        is highest, less a margin below the rounding of the ranking."""
        if not self.prune:
            return -math.inf
        kth = sorted(self.family_best.values(), reverse=True)[k - 1] if len(self.family_best) >= k else -math.inf
        own = self.family_best.get(family, -math.inf) if family is not None else -math.inf
        return max(kth, self.floor, own) - 1e-6

    def found(self, name: str, key: tuple[Any, ...], tokens: float) -> None:
        """A layout that fits and is timed: its family fits, and its best so far may rise."""
        family = _family(key)
        self.family_best[family] = max(self.family_best.get(family, 0.0), tokens)
        self.fitting.add(name)

    def bounding(self) -> bool:
        """Whether there is a bar yet (a fitted family or a floor): before, bounds are not worth computing."""
        return bool(self.family_best) or self.floor > -math.inf


def any_layout_fits(req: SelectDistributionRequest) -> bool:
    """Whether some layout fits: the search stopped at the first one, for planners that only ask that."""
    return _first_fit(_search_key(req))


@lru_cache(maxsize=SEARCH_CACHE_SIZE)
def _first_fit(request_json: str) -> bool:
    req = SelectDistributionRequest.model_validate_json(request_json)
    ctx, gb = _context(req)
    tally = _Tally()
    return next(_fitting_layouts(req, ctx, _space(req, ctx, gb, tally), tally), None) is not None


def _beyond_reach(ctx: TrainingContext, at_least: float) -> bool:
    """Whether even at the matmul rate, with no recompute or communication, these GPUs stay below `at_least`
    tokens/s (then no search is needed; fine-tuning skips GEMMs, so it is not bounded so)."""
    arch = ctx.arch
    if getattr(ctx.training, "finetuning", None) is not None:
        return False
    flops = arch.model_flops_per_token(ctx.training.sequence_length if arch.is_transformer else 1)
    return flops > 0 and ctx.num_gpus * compute_rate(arch, ctx.gpu, ctx.training.precision) / flops * (1 + 1e-9) < at_least


def _context(req: SelectDistributionRequest) -> tuple[TrainingContext, int]:
    """The resolved model, training and cluster, and the global batch (the request's or the default)."""
    ctx = build_context(req.model, req.training, req.cluster, req.framework)
    return ctx, req.training.global_batch_size or default_global_batch(ctx)


def _search(req: SelectDistributionRequest, suggest_fixes: bool, prune: bool = True, at_least: float = -math.inf,
            context: tuple[TrainingContext, int] | None = None) -> DistributionPlan:
    ctx, gb = context or _context(req)
    # a plan without the fix search is read only for its ranking (best_layout): rejections and counts need not be whole
    tally = _Tally(prune=prune, skip_groups=prune and not suggest_fixes, floor=at_least if not suggest_fixes else -math.inf,
                   best_first=prune)
    space = _space(req, ctx, gb, tally)
    if prune and grid.covers(ctx, space.families):
        candidates = _grid_layouts(req, ctx, space, tally)
    else:
        candidates = list(_fitting_layouts(req, ctx, space, tally))
    return _search_plan(req, ctx, gb, candidates, tally, suggest_fixes)


def _search_plan(req: SelectDistributionRequest, ctx: TrainingContext, gb: int, candidates: list[Candidate],
                 tally: _Tally, suggest_fixes: bool) -> DistributionPlan:
    arch = ctx.arch
    best_rejection, evaluated = tally.rejected, tally.evaluated
    # best first; ties broken by fewer accumulation steps (bigger kernels), less memory, then the layout tuple
    candidates.sort(key=lambda c: (-round(c[0], 6), c[1][8], round(c[2].device_gib, 6), c[1]))
    ranked = [_ranked(i + 1, key, res, ctx, req.framework) for i, (_, key, res) in enumerate(_distinct(candidates, req.top_k))]
    # a family is rejected only when none of its micro-batch/checkpointing variants fits; simplest families first
    misses = [(name.count(" + "), score, name, why) for name, (score, why) in best_rejection.items() if name not in tally.fitting]
    rejected = [f"{name}: {why}" for _, _, name, why in sorted(misses)][:12]
    if not suggest_fixes:  # read only for its ranking (best_layout): no launch code, caveats or fixes
        return DistributionPlan(caveats=[], fits=bool(ranked), global_batch_size=gb, layouts_evaluated=evaluated,
                                ranked=ranked, rejected=rejected, to_make_it_fit=[], launch=None)
    fixes = [] if ranked else _what_would_fit(ctx, req)
    launch = launch_plan(ranked[0], ctx, req.framework, gb, req.learning_rate) if ranked else None
    caveats = alias_notes(("cluster.gpu", req.cluster.gpu, ctx.gpu.id), ("model.preset", req.model.preset, arch.name))
    if ctx.gpu.notes:
        caveats.append(f"{ctx.gpu.id}: {ctx.gpu.notes}")
    caveats += model_caveats(arch)
    if ranked:
        caveats += memory_caveats(ctx.training.precision, ranked[0].layout.zero_stage, req.framework)
    return DistributionPlan(caveats=caveats, fits=bool(ranked), global_batch_size=gb, layouts_evaluated=evaluated,
                            ranked=ranked, rejected=rejected, to_make_it_fit=fixes, launch=launch)


@dataclass
class _Space:
    """What a search tries: the strategy families and, within each, the checkpointing and micro-batch choices."""

    families: list[Family]
    ckpts: tuple[str, ...]
    fixed_ckpt: str | None
    fixed_mb: int | None
    meg: bool  # Megatron-style mixed precision (estimate.megatron_style)

    def micro_batches(self, per_rank: int) -> list[int]:
        return [self.fixed_mb] if self.fixed_mb else [m for m in MICRO_BATCHES if per_rank % m == 0]


def _space(req: SelectDistributionRequest, ctx: TrainingContext, gb: int, tally: _Tally) -> _Space:
    """The families the framework can run on this cluster (families the global batch rules out go to `tally`)."""
    n = ctx.num_gpus
    arch = ctx.arch
    seq = req.training.sequence_length
    zeros, tp_ok, pp_ok, cp_ok = _framework_space(req.framework, ctx)
    meg = megatron_style(req.framework)
    if not arch.is_transformer and arch.total_params < 1e9:
        zeros = [0]  # a CNN of this size fits on one GPU: plain DDP; sharding only adds communication
    if req.framework == "pytorch_fsdp" and not (arch.gated and arch.experts <= 1):
        tp_ok = False  # the generated DTensor TP plan names Llama-family modules (q_proj ... down_proj)
    tps = [t for t in tensor_parallel_options(arch, ctx.cluster.gpus_per_node) if tp_ok or t == 1]
    pps = [p for p in divisors(n) if p <= min(arch.layers, 128) and stage_split(arch.layers, p) is not None] \
        if (pp_ok and arch.is_transformer) else [1]
    cps = [c for c in (1, 2, 4, 8, 16) if (c == 1 or (cp_ok and arch.is_transformer and seq >= 8192 and seq % (2 * c) == 0))]
    fixed_ckpt = req.training.activation_checkpointing
    ckpts = (fixed_ckpt,) if fixed_ckpt else (CHECKPOINTING if arch.is_transformer else ("full", "none"))
    families: list[Family] = []
    for tp in tps:
        for pp in pps:
            for cp in cps:
                inner = tp * pp * cp
                if n % inner:
                    continue
                dp = n // inner
                if gb % dp:
                    _reject(tally.rejected, strategy_name(0, False, False, tp, pp, cp, req.framework), 1e9,
                            f"global batch {gb} not divisible by data-parallel degree {dp}")
                    continue
                per_rank = gb // dp
                for zero in zeros:
                    if zero >= 2 and pp > 1:
                        continue  # DeepSpeed's pipeline engine refuses ZeRO-2/3; FSDP cannot shard across stages
                    if zero > 0 and dp == 1:
                        continue
                    if req.framework == "pytorch_fsdp" and tp > 1 and zero == 0:
                        continue  # DDP cannot wrap DTensor TP parameters: TP goes with FSDP2
                    hybrids = (False, True) if (zero == 3 and ctx.cluster.nodes > 1) else (False,)
                    offloads = (False, True) if (req.allow_cpu_offload and zero >= 1 and req.framework in ("deepspeed", "pytorch_fsdp", "accelerate", "lightning")) else (False,)
                    families += [(tp, pp, cp, dp, per_rank, zero, hybrid, offload) for hybrid in hybrids for offload in offloads]
    return _Space(families, ckpts, fixed_ckpt, req.training.micro_batch_size, meg)


def _grid_layouts(req: SelectDistributionRequest, ctx: TrainingContext, space: _Space, tally: _Tally) -> list[Candidate]:
    """The grid search (one NumPy pass, grid.py) where it applies: the ranking, the count and the closest misses the
    scalar search gives without pruning."""
    found = grid.search(ctx, space.families, space.ckpts, [space.fixed_mb] if space.fixed_mb else list(MICRO_BATCHES),
                        space.meg, req.top_k, tally.floor, report=not tally.skip_groups)
    tally.evaluated += found.evaluated
    if tally.skip_groups:  # read only for its ranking
        return found.ranked
    for i, (tp, pp, cp, _dp, per_rank, zero, hybrid, offload) in enumerate(space.families):
        name = strategy_name(zero, hybrid, offload, tp, pp, cp, req.framework)
        if i in found.fitting:
            tally.fitting.add(name)
        else:
            miss = found.misses[i]
            _reject(tally.rejected, name, *((1e9, _size_miss(space.fixed_mb or 0, per_rank)) if miss is None
                                            else (miss, _memory_miss(ctx, miss))))
    return found.ranked


def _memory_miss(ctx: TrainingContext, device_gib: float) -> str:
    return (f"{device_gib:.1f} GiB per GPU > {fit_limit_gib(ctx):.1f} GiB "
            f"({ctx.gpu.usable_memory_gib} usable less {ctx.cluster.memory_headroom:.0%} headroom)")


def _size_miss(micro_batch: int, per_rank: int) -> str:
    return f"micro-batch {micro_batch} does not divide {per_rank} samples per rank"


def _fitting_layouts(req: SelectDistributionRequest, ctx: TrainingContext, space: _Space,
                     tally: _Tally) -> Iterator[Candidate]:
    """Every layout that fits, with its step time, in search order; what did not fit goes to `tally`."""
    arch = ctx.arch
    families, ckpts, fixed_ckpt, meg, micro_batches = (space.families, space.ckpts, space.fixed_ckpt, space.meg,
                                                       space.micro_batches)

    def group_of(tp: int, pp: int, cp: int, dp: int, zero: int, hybrid: bool, offload: bool, ckpt: str) -> dict[str, Any]:
        return dict(dp=dp, tp=tp, pp=pp, cp=cp, zero=zero, hybrid=hybrid, offload=offload,
                    checkpointing=op_level(ckpt, req.framework), megatron_style=meg)

    # a family's bound: its group with the least recompute ("none", or Megatron's full with no layer recomputed)
    # bounds every group of it, since recompute only adds FLOPs and tensor-parallel traffic (test_training_scale)
    least_ckpt = "none" if "none" in ckpts else ckpts[-1]
    least_is_block = least_ckpt == "full" and not fixed_ckpt and req.framework == "megatron" and arch.is_transformer
    bounds: dict[tuple[Any, ...], float] = {}
    if tally.best_first and arch.experts <= 1:
        for fam in families:
            tp, pp, cp, dp, per_rank, zero, hybrid, offload = fam
            bounds[fam] = _reach(ctx, micro_batches(per_rank), per_rank, least_is_block,
                                 group_of(tp, pp, cp, dp, zero, hybrid, offload, least_ckpt))
        families.sort(key=lambda f: -bounds[f])  # stable: ties keep the generation order
    for fam in families:
        tp, pp, cp, dp, per_rank, zero, hybrid, offload = fam
        if bounds and tally.skip_groups and tally.bounding() and bounds[fam] < tally.bar(req.top_k):
            break  # the families left are bounded lower still: none can be ranked
        name = strategy_name(zero, hybrid, offload, tp, pp, cp, req.framework)
        own = (tp, pp, cp, zero, hybrid, offload)  # the family, as _family names it
        full_missed = False
        # full checkpointing skipped by its bound: its smallest size, evaluated only when a later group of the family
        # needs to know whether full checkpointing fits (the ones keeping more memory do not where it does not)
        full_pending: dict[str, Any] | None = None
        mbs = micro_batches(per_rank)
        sp = sequence_parallel(req.framework, tp)
        for ckpt in ckpts:
            if ckpt != "full" and full_missed:
                continue  # keeps more than full checkpointing, which did not fit
            least = ckpt == "full" and not fixed_ckpt and req.framework == "megatron" and arch.is_transformer
            group = group_of(tp, pp, cp, dp, zero, hybrid, offload, ckpt)
            # when no micro-batch or virtual stage of this group can be ranked, the ranking alone needs none of it;
            # the tool's plan still takes the first micro-batch's memory (whether the family fits, its closest miss)
            bound_group = arch.experts <= 1 and tally.bounding()
            # the family's bound is this group's (Megatron's full checkpointing with no layer recomputed is "none")
            reach = bounds[fam] if fam in bounds and (ckpt == least_ckpt or (least and least_ckpt == "none")) else None
            if bound_group and tally.skip_groups and _reach(ctx, mbs, per_rank, least, group, reach) < tally.bar(req.top_k, own):
                if ckpt == "full" and per_rank % mbs[0] == 0:
                    full_pending = dict(group, sp=sp, micro_batch=mbs[0], accumulation=per_rank // mbs[0])
                continue
            if full_pending is not None:
                tally.evaluated += 1
                full_missed = not evaluate(ctx, **full_pending, with_time=False).fits
                full_pending = None
                if full_missed:
                    continue
            if tally.skip_groups and pp == 1 and not least and arch.experts <= 1 and all(per_rank % m == 0 for m in mbs):
                fastest = _fastest_fitting(ctx, dict(group, sp=sp, ep=1), mbs, per_rank, tally)
                full_missed = full_missed or (ckpt == "full" and fastest is None)
                if fastest is None:
                    continue
                mb, res = fastest
                acc = per_rank // mb
                step = step_only(ctx, **group, micro_batch=mb, accumulation=acc)  # what evaluate would time
                if step.tokens_per_s < tally.bar(req.top_k, own):
                    continue
                key: tuple[Any, ...] = (tp, pp, cp, dp, zero, hybrid, offload, mb, acc, ckpt, 1, None)
                tally.found(name, key, step.tokens_per_s)
                yield step.tokens_per_s, key, LayoutResult(res.memory, res.device_gib, res.fits, step)
                continue
            # Megatron block recompute: per virtual stage, the fewest layers a smaller micro-batch had to recompute. While
            # every pipeline rank holds as many micro-batches as it can (accumulation >= stages, and > 1 so gradients
            # are held either way), memory grows with the micro-batch at any recompute, so a larger one recomputes at
            # least as many: its step time with them bounds it
            fewer: dict[int, int] = {}
            for mb in mbs:
                if per_rank % mb:
                    _reject(tally.rejected, name, 1e9, _size_miss(mb, per_rank))
                    break
                acc = per_rank // mb
                if acc < max(pp, 2):
                    fewer = {}
                vs = [v for v in VIRTUAL_STAGES if interleave_ok(arch.layers, pp, v, acc)] \
                    if req.framework == "megatron" else [1]
                kw = dict(group, sp=sp, micro_batch=mb, accumulation=acc,
                          ep=None if arch.experts > 1 and req.framework == "megatron" else 1)  # MoE: EP x ETP searched (Megatron; the FSDP/DeepSpeed code shards experts like any weight)
                res = evaluate(ctx, **kw, with_time=False)
                tally.evaluated += 1
                if not res.fits:
                    full_missed = full_missed or (ckpt == "full" and mb == mbs[0])
                    _reject(tally.rejected, name, res.device_gib, _memory_miss(ctx, res.device_gib))
                    break  # larger micro-batches need more memory
                if mb == mbs[0] and bound_group and not tally.skip_groups and _reach(
                        ctx, mbs, per_rank, least, group, reach) < tally.bar(req.top_k, own):
                    tally.fitting.add(name)
                    break
                # memory evaluations of this layout by (virtual stages, layers recomputed per chunk),
                # reused when it is timed; not for MoE expert layouts, which timing may choose anew
                reuse = kw["ep"] is not None
                memory = {(1, chunk_layers(arch.layers, pp, 1)): res} if reuse else {}
                for v in vs:
                    chunk = chunk_layers(arch.layers, pp, v)
                    if reuse and tally.bounding():
                        # branch and bound: the step time without any recompute (exact when
                        # nothing is recomputed per block) is a bound; a layout below the k-th
                        # best family cannot be ranked, so its memory and recompute are skipped
                        bound = step_only(ctx, **group, micro_batch=mb, accumulation=acc, virtual=v,
                                          recompute_layers=fewer.get(v, 0) if least else None)
                        if bound.tokens_per_s < tally.bar(req.top_k, own):
                            if v == 1:  # v = 1 reuses the memory above: it fits
                                tally.fitting.add(name)
                            continue

                    def memory_at(n: int, kw: dict[str, Any] = kw, v: int = v,
                                  memory: dict[tuple[int, int], LayoutResult] = memory) -> LayoutResult:
                        if (v, n) not in memory:
                            memory[(v, n)] = evaluate(ctx, **kw, virtual=v, with_time=False, recompute_layers=n)
                        return memory[(v, n)]

                    block = None  # Megatron: checkpoint only as many layers per chunk as it takes
                    if least:
                        fewest = block_recompute_floor(ctx, chunk, memory_at)
                        if fewest is not None:
                            fewer[v] = fewest
                        # the layers recomputed only grow from there and the step time with them: a bound again
                        if reuse and fewest is not None and tally.bounding() and step_only(
                                ctx, **group, micro_batch=mb, accumulation=acc, virtual=v,
                                recompute_layers=fewest).tokens_per_s < tally.bar(req.top_k, own):
                            if v == 1:
                                tally.fitting.add(name)
                            continue
                        block = least_block_recompute(ctx, chunk, memory_at)
                        if block is not None:
                            fewer[v] = block
                    timed = evaluate(ctx, **kw, virtual=v, recompute_layers=block,
                                     memory=memory.get((v, chunk if block is None else block)) if reuse else None)
                    if not timed.fits:
                        continue
                    key = (tp, pp, cp, dp, zero, hybrid, offload, mb, acc, ckpt, v, block)
                    tokens = timed.step.tokens_per_s  # type: ignore[union-attr]
                    tally.found(name, key, tokens)
                    yield tokens, key, timed


def _fastest_fitting(ctx: TrainingContext, kw: dict[str, Any], mbs: list[int], per_rank: int,
                     tally: _Tally) -> tuple[int, LayoutResult] | None:
    """A (family, checkpointing) group without pipelining or block recompute, for the ranking alone: the largest
    micro-batch of the upward walk (every size until the first that does not fit) with its memory. It is the
    group's fastest (see _reach), so the smaller sizes need no step time."""
    last = None
    for mb in mbs:
        res = evaluate(ctx, **kw, micro_batch=mb, accumulation=per_rank // mb, with_time=False)
        tally.evaluated += 1
        if not res.fits:
            break
        last = mb, res
    return last


def _reach(ctx: TrainingContext, mbs: list[int], per_rank: int, least: bool, kw: dict[str, Any],
           known: float | None = None) -> float:
    """Tokens/s no micro-batch or virtual stage of a (family, checkpointing) group exceeds (`known`: already
    computed), so a group below the bar needs no memory evaluated. Without pipelining the group's largest micro-batch is its fastest: compute,
    tensor-parallel traffic and the CPU optimizer step are the same for every size, while the exposed sharded and
    data-parallel traffic and the per-micro-batch gathers only shrink as micro-batches grow (step_time.py), so that
    micro-batch's step time (without recompute where recompute is searched) bounds the group. With pipelining the
    bubble grows with the micro-batch: the bound is then what every micro-batch size pays alike, the compute, the
    tensor-parallel traffic (both in proportion to the tokens) and the CPU optimizer step."""
    if known is not None:
        return known
    sizes = [m for m in mbs if per_rank % m == 0]
    if not sizes:
        return math.inf
    recompute = 0 if least else None
    if kw["pp"] == 1:
        mb = sizes[-1]
        return step_only(ctx, **kw, micro_batch=mb, accumulation=per_rank // mb, recompute_layers=recompute).tokens_per_s
    st = step_only(ctx, **kw, micro_batch=sizes[0], accumulation=per_rank // sizes[0], recompute_layers=recompute)
    return st.tokens_per_s * st.step_s / (st.compute_s + st.tensor_parallel_s + st.offload_s)  # after adjust_step


def _reject(store: dict[str, tuple[float, str]], name: str, score: float, why: str) -> None:
    """Keep, per strategy family, the closest miss (least memory), so the reason is the most telling one."""
    if name not in store or score < store[name][0]:
        store[name] = (score, why)


def _family(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """A layout's strategy family, (tp, pp, cp, ZeRO, hybrid, offload): what the ranking keeps distinct."""
    tp, pp, cp, _dp, zero, hybrid, offload, *_ = key
    return (tp, pp, cp, zero, hybrid, offload)


def _distinct(candidates: list[tuple[float, tuple[Any, ...], LayoutResult]], k: int) -> list[tuple[float, tuple[Any, ...], LayoutResult]]:
    """Top k with distinct (strategy, tp, pp, cp) so the alternatives differ in kind, not just micro-batch."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for cand in candidates:
        family = _family(cand[1])
        if family in seen:
            continue
        seen.add(family)
        out.append(cand)
        if len(out) == k:
            break
    return out


def _ranked(rank: int, key: tuple[Any, ...], res: LayoutResult, ctx: TrainingContext, framework: str) -> RankedLayout:
    tp, pp, cp, dp, zero, hybrid, offload, mb, acc, ckpt, v, block = key
    st = res.step
    assert st is not None
    arch = ctx.arch
    unit = "images" if arch.family in ("cnn", "vit") else "samples"
    samples = st.tokens_per_s / (ctx.training.sequence_length if arch.is_transformer else 1)
    rate = f"{samples:,.0f} {unit}/s" if not arch.is_transformer or arch.family == "vit" else f"{st.tokens_per_s:,.0f} tokens/s"
    reasons = [f"predicted {rate} at {st.mfu * 100:.1f}% MFU; "
               f"{res.device_gib:.1f} GiB per GPU of {fit_limit_gib(ctx):.1f} allowed ({ctx.gpu.usable_memory_gib} usable, "
               f"{ctx.cluster.memory_headroom:.0%} headroom kept)"]
    if tp > 1:
        reasons.append(f"TP{tp} stays inside a node ({ctx.cluster.gpus_per_node} GPUs, {ctx.intra_gbps:.0f} GB/s)")
    split = stage_split(arch.layers, pp) if pp > 1 else None
    if pp > 1:
        bubble = f"PP{pp}{f' interleaved x{v}' if v > 1 else ''}: bubble {bubble_fraction(pp, v, acc) * 100:.1f}% with {acc} micro-batches"
        if split is not None and split[0] != split[1]:
            bubble += f"; {split[0]} + {pp - 2} x {split[1]} + {split[2]} layers (first/last stages lighter: embedding, loss)"
        reasons.append(bubble)
    if zero:
        reasons.append(f"ZeRO-{zero} shards {'optimizer states' if zero == 1 else 'states and gradients' if zero == 2 else 'states, gradients and weights'} over {dp if not hybrid else min(dp, ctx.cluster.gpus_per_node)} ranks")
    chunk = chunk_layers(arch.layers, pp, v)
    if block:
        reasons.append(f"block activation checkpointing: {block} of {chunk} layers per {'virtual ' if v > 1 else ''}stage "
                       f"recompute their forward (+{block / chunk * 33:.0f}% FLOPs); the rest keep their activations")
    elif ckpt == "selective" and framework == "pytorch_fsdp":
        reasons.append("selective activation checkpointing (torchtitan's op policy): keeps every other matmul output and "
                       "the attention output, recomputes the rest")
    elif ckpt != "none":
        reasons.append(f"{ckpt} activation checkpointing: {'recomputes one forward (+33% FLOPs)' if ckpt == 'full' else 'recomputes attention scores only'}")
    layout = Layout(data_parallel=dp, tensor_parallel=tp, pipeline_parallel=pp, context_parallel=cp,
                    virtual_pipeline_stages=v, sequence_parallel=sequence_parallel(framework, tp),
                    zero_stage=zero, hybrid_shard=hybrid, cpu_offload=offload,
                    micro_batch_size=mb, gradient_accumulation_steps=acc, activation_checkpointing=ckpt,
                    recompute_layers=block, expert_parallel=res.ep, expert_tensor_parallel=res.etp)
    if arch.experts > 1:
        reasons.append(f"EP{res.ep}{f' x ETP{res.etp}' if res.etp > 1 else ''}: {arch.experts // res.ep} of "
                       f"{arch.experts} experts per GPU; all-to-all {'inside a node' if res.ep * tp * cp <= ctx.cluster.gpus_per_node else 'across nodes'}")
        if framework != "megatron":
            reasons.append(fsdp_expert_note(ExpertLayout(ep=res.ep, etp=res.etp), arch))
    return RankedLayout(
        rank=rank, strategy=strategy_name(zero, hybrid, offload, tp, pp, cp, framework), layout=layout,
        peak_allocated_gib=gib(res.memory.peak_allocated), device_total_gib=round(res.device_gib, 3),
        step_time_s=round(st.step_s, 4), tokens_per_s=round(st.tokens_per_s, 1), samples_per_s=round(samples, 2),
        mfu=round(st.mfu, 4),
        step_breakdown_s={"compute": round(st.compute_s, 4), "tensor_parallel": round(st.tensor_parallel_s, 4),
                          "data_parallel_exposed": round(st.data_parallel_exposed_s, 4),
                          "pipeline_bubble": round(st.pipeline_bubble_s, 4), "other": round(st.other_s, 4)},
        reasons=reasons,
    )


def _what_would_fit(ctx: TrainingContext, req: SelectDistributionRequest) -> list[str]:
    """Changes that do make it fit, each checked by running the same search: more nodes, a bigger GPU,
    checkpointing or micro-batch left to the search. Says so when none of them does."""
    out: list[str] = []

    def fits(update_training: dict[str, Any] | None = None, update_cluster: dict[str, Any] | None = None) -> bool:
        trial = req.model_copy(update={
            "cluster": req.cluster.model_copy(update=update_cluster or {}),
            "training": req.training.model_copy(update=update_training or {}), "top_k": 1})
        try:
            return _first_fit(_search_key(trial))
        except PlanInputError:
            return False

    if req.training.activation_checkpointing not in (None, "full") and fits({"activation_checkpointing": None}):
        out.append("leave activation_checkpointing unset (or 'full') so the search can recompute activations")
    if req.training.micro_batch_size and fits({"micro_batch_size": None}):
        out.append("leave micro_batch_size unset so the search can lower it")
    free = {"global_batch_size": None, "activation_checkpointing": None, "micro_batch_size": None}
    factor = 2
    while ctx.cluster.nodes * factor <= 4096 and factor <= 1024:
        nodes = ctx.cluster.nodes * factor
        if fits(free, {"nodes": nodes}):
            out.append(f"{nodes} nodes ({nodes * ctx.cluster.gpus_per_node} GPUs), global batch and checkpointing left to the search")
            break
        factor *= 4 if factor >= 16 else 2
    for gpu in ("H200-SXM-141GB", "B200"):
        if gpu != ctx.gpu.id and gpu in gpu_catalog() and gpu_catalog()[gpu].usable_memory_gib > ctx.gpu.usable_memory_gib \
                and fits(free, {"gpu": gpu, "gpus_per_node": 8, "nodes": ctx.cluster.nodes, "intra_node_gbps": None}):
            out.append(f"{gpu} x 8 per node on {ctx.cluster.nodes} node(s)")
            break
    if not out:
        out.append("no single change tried fits (up to 4,096 nodes, bigger GPUs): a smaller model, fewer bytes per "
                   "parameter (bf16 or 8-bit optimizer states) or parameter-efficient fine-tuning")
    return out




def clear_search_cache() -> None:
    """For benchmarks that time the search itself."""
    with _searches_lock:
        _searches.clear()
    _first_fit.cache_clear()
    clear_memos()
