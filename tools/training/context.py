"""Validation and derived numbers shared by the training tools: one place checks layouts against the model."""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_expert_mcp.knowledge.schema import GpuSpec
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.hardware import resolve_gpu
from ml_expert_mcp.tools.common.memo import Memo
from ml_expert_mcp.tools.training.inputs import ClusterSpec, Layout, ModelSpec, TrainingSpec
from ml_expert_mcp.tools.training.model_arch import Architecture, clear_model_memos, resolve_model_json
from ml_expert_mcp.tools.training.pipeline import interleave_ok, stage_split
from ml_expert_mcp.tools.training.step_time import PCIE_GBPS

DEFAULT_BATCH_TOKENS = 4 * 1024 * 1024  # 4M tokens per step: Llama 2 pre-training batch (Touvron et al. 2023)
# Memory evaluations by layout, one table per (model, training, framework): the memory of a layout does not depend on
# the GPU or network, so the searches a planner runs over instance types and counts share them (issue 16)
_memos = Memo(limit=64)  # one table per (model JSON, training JSON, framework)


@dataclass(frozen=True, slots=True)
class TrainingContext:
    arch: Architecture
    gpu: GpuSpec
    training: TrainingSpec
    cluster: ClusterSpec
    intra_gbps: float
    inter_gbps: float
    framework: str = "pytorch_fsdp"  # the code that runs it: its buffers enter the memory (DeepSpeed's gradient buckets)
    memory_memo: Memo = field(default_factory=Memo, compare=False, repr=False)
    step_memo: Memo = field(default_factory=Memo, compare=False, repr=False)  # this cluster's

    @property
    def num_gpus(self) -> int:
        return self.cluster.num_gpus


def build_context(model: ModelSpec, training: TrainingSpec, cluster: ClusterSpec,
                  framework: str = "pytorch_fsdp") -> TrainingContext:
    model_json = model.model_dump_json()
    arch = resolve_model_json(model_json)
    gpu = resolve_gpu(cluster.gpu)
    if training.precision in ("amp_bf16", "bf16") and not gpu.supports_bf16:
        raise PlanInputError("training.precision", f"{gpu.id} has no bf16; use amp_fp16 or fp32")
    if training.precision == "fp8" and not gpu.fp8_tflops:
        raise PlanInputError("training.precision", f"{gpu.id} has no fp8 tensor cores (Ada, Hopper, Blackwell do)")
    pcie = PCIE_GBPS.get(gpu.pcie_gen or 4, 25.0)
    intra = cluster.intra_node_gbps or gpu.intra_node_gbps or pcie
    return TrainingContext(arch, gpu, training, cluster, intra, cluster.inter_node_gbps, framework,
                           _memo_table(model_json, training, framework))


def _memo_table(model_json: str, training: TrainingSpec, framework: str) -> Memo:
    key = (model_json, training.model_dump_json(), framework)
    table = _memos.get(key)
    if table is None:
        table = _memos[key] = Memo()
    return table


def clear_memos() -> None:
    """For benchmarks that time a plan from nothing."""
    _memos.clear()
    clear_model_memos()


def default_global_batch(ctx: TrainingContext) -> int:
    """Global batch when none is given: ~4M tokens for LLMs, rounded to a multiple of the GPU count."""
    n = ctx.num_gpus
    if not ctx.arch.is_transformer:
        return 256 if 256 % n == 0 else n * max(1, 256 // n)
    samples = max(1, DEFAULT_BATCH_TOKENS // ctx.training.sequence_length)
    return max(n, (samples // n) * n)


def check_layout(ctx: TrainingContext, layout: Layout, field: str = "layout") -> None:
    """Every rule a layout must meet for this model and cluster; the error names the field and the rule."""
    a = ctx.arch
    world = layout.data_parallel * layout.tensor_parallel * layout.pipeline_parallel * layout.context_parallel
    if world != ctx.num_gpus:
        raise PlanInputError(
            field, f"data x tensor x pipeline x context parallel = {world}, but the cluster has {ctx.num_gpus} GPUs "
            f"({ctx.cluster.nodes} nodes x {ctx.cluster.gpus_per_node})")
    if not a.is_transformer and (layout.tensor_parallel > 1 or layout.pipeline_parallel > 1 or layout.context_parallel > 1):
        raise PlanInputError(f"{field}.tensor_parallel", "a model given by size alone supports data parallelism only (1)")
    if a.is_transformer:
        if a.heads % layout.tensor_parallel or a.kv_heads % layout.tensor_parallel:
            raise PlanInputError(
                f"{field}.tensor_parallel",
                f"{layout.tensor_parallel} must divide num_attention_heads ({a.heads}) and num_key_value_heads "
                f"({a.kv_heads}); accepted: {', '.join(str(t) for t in tensor_parallel_options(a, 64))}")
        if stage_split(a.layers, layout.pipeline_parallel) is None:
            raise PlanInputError(f"{field}.pipeline_parallel",
                                 f"{layout.pipeline_parallel} stages cannot each hold a layer of {a.layers} "
                                 f"(first/last stages may hold fewer; accepted: 1 to {a.layers})")
        v = layout.virtual_pipeline_stages
        if v > 1 and not interleave_ok(a.layers, layout.pipeline_parallel, v, layout.gradient_accumulation_steps):
            raise PlanInputError(f"{field}.virtual_pipeline_stages",
                                 f"interleaving {v} chunks needs pipeline_parallel > 1, pipeline_parallel x {v} dividing "
                                 f"num_hidden_layers ({a.layers}) and gradient_accumulation_steps a multiple of "
                                 f"pipeline_parallel ({layout.pipeline_parallel})")
        if ctx.training.sequence_length % layout.context_parallel:
            raise PlanInputError(f"{field}.context_parallel",
                                 f"{layout.context_parallel} must divide sequence_length ({ctx.training.sequence_length})")
    gb = ctx.training.global_batch_size
    if gb is not None:
        per_step = layout.data_parallel * layout.micro_batch_size
        if gb % per_step:
            raise PlanInputError("training.global_batch_size",
                                 f"{gb} must be a multiple of data_parallel x micro_batch_size = {per_step}")


def tensor_parallel_options(arch: Architecture, limit: int) -> list[int]:
    if not arch.is_transformer:
        return [1]
    return [t for t in range(1, limit + 1) if arch.heads % t == 0 and arch.kv_heads % t == 0 and (t & (t - 1)) == 0]


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]
