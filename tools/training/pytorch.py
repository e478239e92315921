"""plan_pytorch_training: the seed's optimize_pytorch_training made real, on top of the layout search."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ml_expert_mcp.tools.common.aliases import alias_notes
from ml_expert_mcp.tools.common.hardware import resolve_gpu
from ml_expert_mcp.tools.common.models import Plan, StrictModel
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.training.artifacts import loss_code, optimizer_code
from ml_expert_mcp.tools.training.context import build_context, default_global_batch
from ml_expert_mcp.tools.training.inputs import ClusterSpec, ModelSpec, TrainingSpec
from ml_expert_mcp.tools.training.peft_artifacts import FinetuningArtifacts, plan_artifacts
from ml_expert_mcp.tools.training.strategy import (
    DistributionPlan,
    SelectDistributionRequest,
    select_distribution_strategy,
)

GENERATIONS_WITH_BF16 = ("ampere", "ada", "hopper", "blackwell", "cdna3", "cdna4", "tpu")


class PlanPyTorchTrainingRequest(StrictModel):
    model: ModelSpec = Field(description="Preset or HF config fields.")
    training: TrainingSpec = Field(default_factory=TrainingSpec, description="Precision (auto-corrected to the GPU), sequence, global batch.")
    cluster: ClusterSpec = Field(default_factory=ClusterSpec, description="GPU type and count, CPU cores per node.")
    base_learning_rate: float = Field(default=3e-4, gt=0, le=10, description="Learning rate tuned at reference_batch_size.")
    reference_batch_size: int = Field(default=256, ge=1, le=16_777_216, description="Global batch the base LR was tuned at (samples).")
    total_steps: int = Field(default=100_000, ge=10, le=100_000_000, description="Optimizer steps of the run.")


class LearningRateSchedule(BaseModel):
    peak_learning_rate: float = Field(description="Peak LR after warm-up.")
    scaling_rule: str = Field(description="How the peak was scaled from the base LR.")
    warmup_steps: int = Field(description="Linear warm-up steps.")
    decay: str = Field(description="Decay after warm-up.")
    min_learning_rate: float = Field(description="Floor of the cosine decay.")


class PyTorchTrainingPlan(Plan):
    def headline(self) -> str:
        return (f"PyTorch plan: {self.precision}, micro-batch {self.micro_batch_size} x {self.gradient_accumulation_steps} "
                f"accumulation = global batch {self.global_batch_size}; {self.distribution.summary or 'see distribution'}")

    precision: str = Field(description="Precision used (bf16 from Ampere on, fp16 + GradScaler before).")
    precision_note: str = Field(description="Why this precision.")
    micro_batch_size: int = Field(description="Largest micro-batch that fits in the chosen layout (samples per GPU).")
    gradient_accumulation_steps: int = Field(description="Micro-batches per optimizer step per rank.")
    global_batch_size: int = Field(description="Samples per optimizer step.")
    dataloader: dict[str, int | bool] = Field(description="torch.utils.data.DataLoader keyword arguments.")
    settings: list[str] = Field(description="TF32, torch.compile, fused optimizer, channels_last, ... each with why.")
    learning_rate: LearningRateSchedule
    distribution: DistributionPlan = Field(description="Layout search result, with launch command and config.")
    code: str = Field(description="Training-loop skeleton with these settings.")
    finetuning: FinetuningArtifacts | None = Field(default=None, description="Fine-tuning only: PEFT+TRL script, torchtune config, Unsloth option.")


@tool("Plan a PyTorch training run")
def plan_pytorch_training(req: PlanPyTorchTrainingRequest) -> PyTorchTrainingPlan:
    """Micro-batch, accumulation, AMP dtype, DataLoader, torch.compile/TF32/fused AdamW, LR warm-up + cosine and the
    distribution plan for PyTorch (FSDP2/DDP).
    """
    gpu = resolve_gpu(req.cluster.gpu)
    gen = gpu.generation
    precision = req.training.precision
    note = f"{precision} as asked"
    if precision in ("amp_bf16", "bf16") and gen not in GENERATIONS_WITH_BF16:
        precision, note = "amp_fp16", f"{gpu.id} ({gen}) lacks bf16: fp16 autocast with torch.amp.GradScaler"
    elif precision == "fp32" and gen in GENERATIONS_WITH_BF16:
        precision, note = "amp_bf16", f"{gpu.id} has bf16 tensor cores: autocast bf16 needs no loss scaling"
    training = req.training.model_copy(update={"precision": precision})
    ctx = build_context(req.model, training, req.cluster)
    # the peak LR goes into the generated code, so it is set (from the global batch the search will use) first
    gb = training.global_batch_size or default_global_batch(ctx)
    ratio = gb / req.reference_batch_size
    if req.training.optimizer == "sgd_momentum":
        peak, rule = req.base_learning_rate * ratio, f"linear scaling (Goyal et al. 2017): base x {gb}/{req.reference_batch_size}"
    else:
        peak, rule = req.base_learning_rate * ratio ** 0.5, f"square-root scaling for Adam (Malladi et al. 2022): base x sqrt({gb}/{req.reference_batch_size})"
    search = select_distribution_strategy(SelectDistributionRequest(
        model=req.model, training=training, cluster=req.cluster, framework="pytorch_fsdp", top_k=3,
        learning_rate=float(f"{peak:.6g}")))
    gb = search.global_batch_size
    mb = search.ranked[0].layout.micro_batch_size if search.ranked else 1
    acc = search.ranked[0].layout.gradient_accumulation_steps if search.ranked else max(1, gb // ctx.num_gpus)
    workers = max(1, min(8, ctx.cluster.cpu_cores_per_node // ctx.cluster.gpus_per_node - 1))
    loader = {"batch_size": mb, "num_workers": workers, "pin_memory": True, "persistent_workers": True,
              "prefetch_factor": 2, "drop_last": True}
    is_cnn = ctx.arch.family == "cnn"
    settings = [
        "torch.backends.cuda.matmul.allow_tf32 = True; torch.backends.cudnn.allow_tf32 = True (fp32 matmuls on tensor cores, Ampere+)",
        "model = torch.compile(model) (fuses elementwise ops; compile once before the loop)",
        (f"{optimizer_code(req.training.optimizer, params='params', lr=f'{peak:.6g}', fused='True')} (the optimizer the "
         "memory plan is sized for" + ("; fused: one kernel per step, no step temporaries)" if req.training.optimizer == "adamw" else ")")),
        "optimizer.zero_grad(set_to_none=True) (frees gradients between steps; the memory estimate assumes it)",
    ]
    if is_cnn:
        settings.append("model = model.to(memory_format=torch.channels_last); inputs too (NHWC convolutions on tensor cores)")
    if precision == "amp_fp16":
        settings.append("scaler = torch.amp.GradScaler('cuda'); scaler.scale(loss).backward(); scaler.step(optimizer)")
    # Linear scaling (Goyal et al. 2017) for SGD; square-root scaling for Adam-family (Malladi et al. 2022): above.
    warmup = max(1, min(2000, req.total_steps // 20))
    lr = LearningRateSchedule(peak_learning_rate=float(f"{peak:.6g}"), scaling_rule=rule, warmup_steps=warmup,
                              decay=f"cosine to 10% of peak over {req.total_steps - warmup} steps",
                              min_learning_rate=float(f"{peak * 0.1:.6g}"))
    dtype = "bfloat16" if precision in ("amp_bf16", "bf16") else "float16"
    code = "\n".join([
        "sched = torch.optim.lr_scheduler.SequentialLR(optimizer, [",
        f"    torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1e-3, total_iters={warmup}),",
        f"    torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max={req.total_steps - warmup}, eta_min={lr.min_learning_rate})],",
        f"    milestones=[{warmup}])",
        "for step, batch in enumerate(loader):",
        f"    with torch.autocast('cuda', dtype=torch.{dtype}):",
        f"        loss = {loss_code(ctx)} / {acc}",
        "    loss.backward()",
        f"    if (step + 1) % {acc} == 0:",
        "        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)",
        "        optimizer.step(); sched.step(); optimizer.zero_grad(set_to_none=True)",
    ])
    caveats = alias_notes(("cluster.gpu", req.cluster.gpu, gpu.id), ("model.preset", req.model.preset, ctx.arch.name))
    if gpu.notes:
        caveats.append(f"{gpu.id}: {gpu.notes}")
    return PyTorchTrainingPlan(
        caveats=caveats, precision=precision, precision_note=note, micro_batch_size=mb, gradient_accumulation_steps=acc,
        global_batch_size=gb, dataloader=loader, settings=settings, learning_rate=lr, distribution=search, code=code,
        finetuning=plan_artifacts(ctx, training, checkpointing=search.ranked[0].layout.activation_checkpointing
                                  if search.ranked else None, micro_batch=mb, accumulation=acc, precision=precision,
                                  lr=lr.peak_learning_rate),
    )


__all__ = ["PlanPyTorchTrainingRequest", "PyTorchTrainingPlan", "plan_pytorch_training", "default_global_batch"]
