"""Launch commands and configuration files for the chosen layout, per framework, as those tools read them.

Each artifact is checked by the library itself in tests/test_training_artifacts.py: DeepSpeed's DeepSpeedConfig,
accelerate's config loader + launcher environment + FullyShardedDataParallelPlugin, torch's torchrun parser,
Lightning's Trainer, the flag table of a pinned Megatron-LM release (knowledge/megatron_args.json), and the FSDP2 /
DDP script run for one step on CPU (gloo, world size 1) with a tiny model of the same class.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ml_expert_mcp.tools.training.moe import megatron_moe_args
from ml_expert_mcp.tools.training.pipeline import accounts_for_ends, stage_split
from ml_expert_mcp.tools.training.specialisations import expert_layout

if TYPE_CHECKING:
    from ml_expert_mcp.tools.training.context import TrainingContext
    from ml_expert_mcp.tools.training.plans import RankedLayout

RDZV_PORT = 29500
DEFAULT_LR = 3e-4
# RoPE base (rope_theta) per preset family, from each family's Hugging Face config.json (as of 2026-11-27):
# Llama 2 10000; Llama 3/3.1/3.2/3.3/4 500000 (3.1+ add "llama3" rope scaling); Mistral 7B v0.1 10000;
# Mixtral 1e6; Qwen2.5/Qwen3 1e6; Gemma 10000. Longest prefix wins; unknown/custom models: Megatron's 10000.
ROPE_BASE = {"llama-2": 10000, "llama-3": 500000, "llama-4": 500000, "mistral": 10000, "mixtral": 1000000,
             "qwen": 1000000, "gemma": 10000}
LLAMA3_ROPE_SCALING = ("llama-3.1", "llama-3.2", "llama-3.3")
TORCH_DTYPE = {"bfloat16": "torch.bfloat16", "float16": "torch.float16", "float32": "torch.float32"}


class LaunchPlan(BaseModel):
    framework: str = Field(description="Framework the artifacts are for.")
    command: str = Field(description="Launch command, run on every node (NODE_RANK/MASTER_ADDR from the scheduler).")
    config_filename: str = Field(description="File name the config is saved as ('' when the config is code).")
    config: str = Field(description="Config file text or code snippet.")
    code_filename: str = Field(default="", description="Script file name.")
    code: str = Field(default="", description="Training script.")
    per_worker_env: list[str] = Field(default_factory=list, description="TensorFlow: TF_CONFIG JSON per worker (first 4).")


def _precision_flags(precision: str) -> tuple[str, str]:
    """(torch dtype name, Megatron flag)."""
    if precision in ("amp_fp16",):
        return "float16", "--fp16"
    if precision == "fp32":
        return "float32", ""
    return "bfloat16", "--bf16"


def torchrun(ctx: TrainingContext, script: str) -> str:
    c = ctx.cluster
    args = ["torchrun", f"--nnodes={c.nodes}", f"--nproc-per-node={c.gpus_per_node}"]
    if c.nodes > 1:
        args += ["--node-rank=$NODE_RANK", "--rdzv-id=job", "--rdzv-backend=c10d", f"--rdzv-endpoint=$MASTER_ADDR:{RDZV_PORT}"]
    return " ".join(args + [script])


def launch_plan(best: RankedLayout, ctx: TrainingContext, framework: str, global_batch: int,
                learning_rate: float | None = None) -> LaunchPlan:
    dtype, meg_flag = _precision_flags(ctx.training.precision)
    lr = learning_rate or DEFAULT_LR
    if framework == "deepspeed":
        return _deepspeed(best, ctx, global_batch, dtype, lr)
    if framework == "megatron":
        return _megatron(best, ctx, global_batch, meg_flag, lr)
    if framework == "tensorflow":
        return _tensorflow(best, ctx, global_batch, lr)
    if framework == "lightning":
        return _lightning(best, ctx, dtype, lr)
    if framework == "accelerate":
        return _accelerate(best, ctx, dtype, lr)
    return _fsdp2(best, ctx, dtype, lr)


# ----------------------------------------------------------------------------------------------- PyTorch code


def optimizer_code(optimizer: str, params: str = "model.parameters()", lr: str = "LR", fused: str = "") -> str:
    """The optimizer the plan was sized for (memory: adamw 8 B/param, sgd_momentum 4, adafactor factored, 8-bit 2)."""
    if optimizer == "sgd_momentum":
        return f"torch.optim.SGD({params}, lr={lr}, momentum=0.9, weight_decay=1e-4)"
    if optimizer == "adafactor":
        return f"torch.optim.Adafactor({params}, lr={lr})"
    if optimizer == "adam_8bit":
        return f"__import__('bitsandbytes').optim.AdamW8bit({params}, lr={lr}, betas=(0.9, 0.95), weight_decay=0.1)"
    extra = f", fused={fused}" if fused else ""
    return f"torch.optim.AdamW({params}, lr={lr}, betas=(0.9, 0.95), weight_decay=0.1{extra})"


def loss_code(ctx: TrainingContext) -> str:
    if not ctx.arch.is_transformer:
        return "torch.nn.functional.cross_entropy(model(batch[\"pixel_values\"]), batch[\"labels\"])"
    return "model(**batch).loss"


_CLIP = '''
def clip_grad_norm(parameters, max_norm):
    """Global gradient norm over plain and DTensor gradients, whatever mesh each lives on (TP blocks vs FSDP-only
    embeddings and norms), then scale in place."""
    grads = [p.grad for p in parameters if p.grad is not None]
    norms = [torch.linalg.vector_norm(g, 2.0) for g in grads]
    norms = [n.full_tensor() if isinstance(n, DTensor) else n for n in norms]
    total = torch.linalg.vector_norm(torch.stack(norms), 2.0)
    scale = min(1.0, max_norm / (float(total) + 1e-6))
    for g in grads:
        g.mul_(scale)
    return total
'''


def _fsdp2(best: RankedLayout, ctx: TrainingContext, dtype: str, lr: float) -> LaunchPlan:
    lay = best.layout
    a = ctx.arch
    prec = ctx.training.precision
    replicate = 1
    if lay.zero_stage >= 2 and lay.hybrid_shard:
        per_node = max(1, min(lay.data_parallel, ctx.cluster.gpus_per_node // lay.tensor_parallel))
        replicate = lay.data_parallel // per_node
    ckpt = lay.activation_checkpointing or "none"
    head = [
        f"# train.py: {best.strategy}; launch with: {torchrun(ctx, 'train.py')}",
        "# model_def.py (yours) provides build_model() -> the model (same class as planned, on the meta or CPU device)",
        "# and make_batch(micro_batch, device) -> dict of tensors for one micro-batch.",
        "import os",
        "",
        "import torch",
        "import torch.distributed as dist",
        "from torch.distributed.device_mesh import init_device_mesh",
        "from torch.distributed.tensor import DTensor",
        "",
        "from model_def import build_model, make_batch",
        "",
        f"TP = {lay.tensor_parallel}  # tensor-parallel degree",
        f"REPLICATE = {replicate}  # hybrid shard: replica groups (one per node); 1 = full shard / plain DP",
        f"LR = {lr:g}  # planned peak learning rate",
        f"MICRO_BATCH = {lay.micro_batch_size}",
        f"ACCUM = {lay.gradient_accumulation_steps}  # micro-batches per optimizer step",
        "STEPS = int(os.environ.get(\"TRAIN_STEPS\", \"1000\"))",
        _CLIP,
        "",
        "def main():",
        "    cuda = torch.cuda.is_available()",
        "    dist.init_process_group(backend=\"nccl\" if cuda else \"gloo\")",
        "    device_type = \"cuda\" if cuda else \"cpu\"",
        "    if cuda:",
        "        torch.cuda.set_device(int(os.environ[\"LOCAL_RANK\"]))",
        "    device = torch.device(device_type, torch.cuda.current_device()) if cuda else torch.device(\"cpu\")",
        "    torch.backends.cuda.matmul.allow_tf32 = True",
        "    world = dist.get_world_size()",
        "    shard = world // (REPLICATE * TP)",
        "    mesh = init_device_mesh(device_type, (REPLICATE, shard, TP), mesh_dim_names=(\"replicate\", \"shard\", \"tp\"))",
        "    model = build_model()",
        "    if hasattr(model, \"config\"):  # no KV cache while training (recompute must see the forward's state)",
        "        model.config.use_cache = False",
        "    layer_classes = set(getattr(model, \"_no_split_modules\", None) or [])",
        "    blocks = [m for m in model.modules() if type(m).__name__ in layer_classes]",
        "    if not blocks:  # not a Hugging Face model: shard its top-level children",
        "        blocks = [m for m in model.children() if any(True for _ in m.parameters())]",
        "    embed = model.get_input_embeddings() if hasattr(model, \"get_input_embeddings\") else None",
        "    tied = getattr(embed, \"weight\", None)",
        "    if tied is not None:  # a (tied) input embedding stays in the root group with the output head",
        "        blocks = [b for b in blocks if all(p is not tied for p in b.parameters())]",
    ]
    body: list[str] = []
    if lay.tensor_parallel > 1:
        body += [
            "    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module",
            "    for block in blocks:  # Megatron-style TP on the Llama-family linears: column-parallel in, row-parallel out",
            "        parallelize_module(block, mesh[\"tp\"], {",
            "            \"self_attn.q_proj\": ColwiseParallel(), \"self_attn.k_proj\": ColwiseParallel(),",
            "            \"self_attn.v_proj\": ColwiseParallel(), \"self_attn.o_proj\": RowwiseParallel(),",
            "            \"mlp.gate_proj\": ColwiseParallel(), \"mlp.up_proj\": ColwiseParallel(), \"mlp.down_proj\": RowwiseParallel()})",
            "    # no sequence parallelism: norms and residuals stay replicated over TP (the memory plan assumes the same)",
        ]
    if ckpt == "full":
        body += [
            "    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import apply_activation_checkpointing",
            "    block_ids = {id(b) for b in blocks}",
            "    apply_activation_checkpointing(model, check_fn=lambda m: id(m) in block_ids)  # full recompute per block",
            "    blocks = [m for m in model.modules() if type(m).__name__ == \"CheckpointWrapper\"]",
        ]
    elif ckpt == "selective" and a.is_transformer:
        body += [  # PyTorch op-level selective checkpointing with torchtitan's policy (the memory plan counts the same)
            "    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper",
            "    from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts",
            "    matmuls = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default}  # Linear without / with bias",
            "    keep = matmuls | {torch.ops.aten._scaled_dot_product_flash_attention.default,",
            "                      torch.ops.aten._scaled_dot_product_efficient_attention.default}",
            "",
            "    def sac_context():  # save attention and every other matmul output; recompute the rest in backward",
            "        counts = {\"forward\": 0, \"recompute\": 0}",
            "",
            "        def policy(ctx, func, *args, **kwargs):",
            "            mode = \"recompute\" if ctx.is_recompute else \"forward\"",
            "            if func in matmuls:",
            "                counts[mode] += 1",
            "            save = func in keep and not (func in matmuls and counts[mode] % 2 == 0)",
            "            return CheckpointPolicy.MUST_SAVE if save else CheckpointPolicy.PREFER_RECOMPUTE",
            "        return create_selective_checkpoint_contexts(policy)",
            "",
            "    for parent in list(model.modules()):",
            "        for name, child in list(parent.named_children()):",
            "            if any(child is b for b in blocks):",
            "                setattr(parent, name, checkpoint_wrapper(child, context_fn=sac_context))",
            "    blocks = [m for m in model.modules() if type(m).__name__ == \"CheckpointWrapper\"]",
        ]
    if prec == "bf16":
        body.append("    model = model.to(torch.bfloat16)  # pure bf16: weights, gradients and optimizer states")
    if lay.zero_stage == 0:
        body += [
            "    from torch.nn.parallel import DistributedDataParallel as DDP",
            "    model = model.to(device)",
            "    model = DDP(model, device_ids=[device.index] if cuda else None, gradient_as_bucket_view=True)",
        ]
    else:
        body.append("    from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, OffloadPolicy, fully_shard")
        dp_mesh = "mesh[\"replicate\", \"shard\"]" if replicate > 1 else "mesh[\"shard\"]"
        opts = [f"mesh={dp_mesh}"]
        if prec.startswith("amp") or prec == "fp8":
            opts.append(f"mp_policy=MixedPrecisionPolicy(param_dtype={TORCH_DTYPE[dtype]}, reduce_dtype=torch.float32)")
        if lay.cpu_offload:  # optimizer states, gradients and fp32 params in host memory (nothing to offload on CPU-only hosts)
            opts.append("offload_policy=CPUOffloadPolicy() if cuda else OffloadPolicy()")
        reshard = "True" if lay.zero_stage == 3 else "False"  # False = SHARD_GRAD_OP (ZeRO-2): keep params after forward
        body += [
            "    for block in blocks:",
            f"        fully_shard(block, {', '.join(opts)}, reshard_after_forward={reshard})",
            f"    fully_shard(model, {', '.join(opts)}, reshard_after_forward={reshard})",
        ]
        if not lay.cpu_offload:
            body.append("    model.to_empty(device=device) if any(p.is_meta for p in model.parameters()) else model.to(device)")
    fused = "cuda" if ctx.training.optimizer == "adamw" and lay.tensor_parallel == 1 and not lay.cpu_offload else ""
    body += [
        f"    optimizer = {optimizer_code(ctx.training.optimizer, fused=fused)}",
        "    for step in range(STEPS):",
        "        for i in range(ACCUM):",
        "            batch = make_batch(MICRO_BATCH, device)",
    ]
    autocast = lay.zero_stage == 0 and prec.startswith("amp")
    sync = "model.no_sync() if i < ACCUM - 1 else __import__(\"contextlib\").nullcontext()" if lay.zero_stage == 0 else \
        "__import__(\"contextlib\").nullcontext()"
    body.append(f"            with {sync}:")
    if autocast:
        body.append(f"                with torch.autocast(device_type, dtype={TORCH_DTYPE[dtype]}):")
        body.append(f"                    loss = {loss_code(ctx)} / ACCUM")
    else:
        body.append(f"                loss = {loss_code(ctx)} / ACCUM")
    body += [
        "                loss.backward()",
        "        clip_grad_norm(list(model.parameters()), 1.0)",
        "        optimizer.step()",
        "        optimizer.zero_grad(set_to_none=True)",
        "    dist.destroy_process_group()",
        "",
        "",
        "if __name__ == \"__main__\":",
        "    main()",
    ]
    code = "\n".join(head + body) + "\n"
    return LaunchPlan(framework="pytorch_fsdp", command=torchrun(ctx, "train.py"), config_filename="",
                      config="", code_filename="train.py", code=code)


# ------------------------------------------------------------------------------------------------- DeepSpeed


def deepspeed_config(best: RankedLayout, ctx: TrainingContext, global_batch: int, dtype: str, lr: float) -> dict[str, Any]:
    lay = best.layout
    opt = ctx.training.optimizer
    cfg: dict[str, Any] = {
        "train_batch_size": global_batch,
        "train_micro_batch_size_per_gpu": lay.micro_batch_size,
        "gradient_accumulation_steps": lay.gradient_accumulation_steps,
        "gradient_clipping": 1.0,
        "zero_optimization": {"stage": lay.zero_stage, "overlap_comm": True, "contiguous_gradients": True},
        "steps_per_print": 100,
    }
    if opt != "adam_8bit":  # bitsandbytes' optimizer is passed as a client optimizer instead
        name, params = {"adamw": ("AdamW", {"lr": lr, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1}),
                        "sgd_momentum": ("SGD", {"lr": lr, "momentum": 0.9, "weight_decay": 1e-4}),
                        "adafactor": ("Adafactor", {"lr": lr})}[opt]
        cfg["optimizer"] = {"type": name, "params": params}
    if dtype == "bfloat16":
        cfg["bf16"] = {"enabled": True}
    elif dtype == "float16":
        cfg["fp16"] = {"enabled": True, "loss_scale": 0, "initial_scale_power": 16}
    if lay.cpu_offload:
        cfg["zero_optimization"]["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        if opt != "adamw":
            cfg["zero_force_ds_cpu_optimizer"] = False  # DeepSpeedCPUAdam only replaces Adam-family optimizers
    if lay.zero_stage == 3:
        cfg["zero_optimization"].update({"stage3_prefetch_bucket_size": "auto", "stage3_param_persistence_threshold": "auto"})
        if lay.hybrid_shard:
            cfg["zero_optimization"]["zero_hpz_partition_size"] = ctx.cluster.gpus_per_node
    ckpt = lay.activation_checkpointing or "none"
    if ckpt != "none":
        cfg["activation_checkpointing"] = {"partition_activations": False, "contiguous_memory_optimization": False}
    if lay.pipeline_parallel > 1:
        cfg["pipeline"] = {"stages": lay.pipeline_parallel, "partition": "uniform", "activation_checkpoint_interval":
                           1 if ckpt == "full" else 0}
    return cfg


def _deepspeed(best: RankedLayout, ctx: TrainingContext, global_batch: int, dtype: str, lr: float) -> LaunchPlan:
    lay = best.layout
    cfg = deepspeed_config(best, ctx, global_batch, dtype, lr)
    pp = lay.pipeline_parallel
    if pp > 1:
        code = "\n".join([
            "import deepspeed",
            "from deepspeed.pipe import PipelineModule",
            "",
            "deepspeed.init_distributed()",
            "# the model as a flat list of layers: embedding, the decoder layers, final norm + head; the loss on the last stage",
            f"net = PipelineModule(layers=build_layers(), num_stages={pp}, loss_fn=loss_fn, partition_method=\"uniform\",",
            f"                     activation_checkpoint_interval={cfg['pipeline']['activation_checkpoint_interval']})",
            "engine, _, _, _ = deepspeed.initialize(model=net, model_parameters=[p for p in net.parameters() if p.requires_grad],",
            "                                       config=\"ds_config.json\")",
            f"# {lay.gradient_accumulation_steps} micro-batches of {lay.micro_batch_size} per train_batch() call",
            "for step in range(total_steps):",
            "    loss = engine.train_batch(data_iter=train_iter)",
        ])
    else:
        client = f"optimizer=__import__('bitsandbytes').optim.AdamW8bit(model.parameters(), lr={lr:g}), " \
            if ctx.training.optimizer == "adam_8bit" else ""
        code = "\n".join([
            "import deepspeed",
            "",
            "deepspeed.init_distributed()",
            f"engine, optimizer, _, _ = deepspeed.initialize(model=model, {client}model_parameters=model.parameters(),",
            "                                               config=\"ds_config.json\")",
            "for step, batch in enumerate(loader):  # loader yields micro-batches of train_micro_batch_size_per_gpu",
            f"    loss = {loss_code(ctx).replace('model(', 'engine(')}",
            "    engine.backward(loss)",
            "    engine.step()  # steps the optimizer every gradient_accumulation_steps micro-batches",
        ])
    # torchrun on every node (DeepSpeed reads its environment); DeepSpeed's own launcher would fan out over ssh
    cmd = torchrun(ctx, "train.py") + " --deepspeed_config ds_config.json"
    return LaunchPlan(framework="deepspeed", command=cmd, config_filename="ds_config.json",
                      config=json.dumps(cfg, indent=2, sort_keys=True), code_filename="train.py", code=code)


# ------------------------------------------------------------------------------------------------- Megatron


def rope_base(name: str) -> int:
    matches = [k for k in ROPE_BASE if name.startswith(k)]
    return ROPE_BASE[max(matches, key=len)] if matches else 10000


def megatron_args(best: RankedLayout, ctx: TrainingContext, global_batch: int, flag: str, lr: float,
                  total_steps: int = 100_000) -> list[str]:
    lay = best.layout
    a = ctx.arch
    seq = ctx.training.sequence_length
    args = [
        f"--tensor-model-parallel-size {lay.tensor_parallel}", f"--pipeline-model-parallel-size {lay.pipeline_parallel}",
        f"--micro-batch-size {lay.micro_batch_size}", f"--global-batch-size {global_batch}", f"--seq-length {seq}",
        f"--max-position-embeddings {seq}", f"--num-layers {a.layers}", f"--hidden-size {a.hidden}",
        f"--num-attention-heads {a.heads}", f"--ffn-hidden-size {a.ffn}",
    ]
    if lay.context_parallel > 1:
        args.append(f"--context-parallel-size {lay.context_parallel}")
    pp = lay.pipeline_parallel
    split = stage_split(a.layers, pp)
    ends = accounts_for_ends(a.layers, pp)
    if ends:  # first/last stage one layer lighter: the embedding and the loss count as a layer each
        args += ["--account-for-embedding-in-pipeline-split", "--account-for-loss-in-pipeline-split"]
    elif pp > 1 and split is not None and a.layers % pp:
        args += [f"--decoder-first-pipeline-num-layers {split[0]}", f"--decoder-last-pipeline-num-layers {split[2]}"]
    if lay.virtual_pipeline_stages > 1:
        units = a.layers + (2 if ends else 0)
        args.append(f"--num-layers-per-virtual-pipeline-stage {units // (pp * lay.virtual_pipeline_stages)}")
    if a.hd * a.heads != a.hidden:
        args.append(f"--kv-channels {a.hd}")
    if a.kv_heads != a.heads:
        args += ["--group-query-attention", f"--num-query-groups {a.kv_heads}"]
    if a.gated:  # Llama family: SwiGLU, RMSNorm, no biases, RoPE
        args += ["--swiglu", "--normalization RMSNorm", "--norm-epsilon 1e-5", "--disable-bias-linear",
                 "--position-embedding-type rope", f"--rotary-base {rope_base(a.name)}"]
        if a.name.startswith(LLAMA3_ROPE_SCALING):
            args.append("--use-rope-scaling")
    else:  # GPT-2/3 style: LayerNorm, GELU, learned absolute positions (Megatron defaults)
        args.append("--position-embedding-type learned_absolute")
    if not a.tied:
        args.append("--untie-embeddings-and-output-weights")
    if a.experts > 1:  # MoE: routed experts, top-k routing, expert (tensor) parallelism, grouped GEMM (moe.py)
        args += megatron_moe_args(a, expert_layout(ctx, lay.expert_parallel, lay.expert_tensor_parallel))
    if lay.tensor_parallel > 1 and lay.sequence_parallel:
        args.append("--sequence-parallel")
    if lay.zero_stage >= 1:
        args += ["--use-distributed-optimizer", "--overlap-grad-reduce", "--overlap-param-gather"]
    elif lay.data_parallel > 1:
        args.append("--overlap-grad-reduce")
    ckpt = lay.activation_checkpointing or "none"
    if ckpt == "selective":
        args.append("--recompute-granularity selective")
    elif ckpt == "full" and lay.recompute_layers:
        args += ["--recompute-granularity full", "--recompute-method block", f"--recompute-num-layers {lay.recompute_layers}"]
    elif ckpt == "full":
        args += ["--recompute-granularity full", "--recompute-method uniform", "--recompute-num-layers 1"]
    if flag:
        args.append(flag)
    if flag == "--bf16":  # 16-bit gradient buffer and reduce-scatter, as the memory model counts (memory_caveats)
        args.append("--grad-reduce-in-bf16")
    if ctx.training.precision == "fp8":
        args += ["--fp8-format hybrid", "--transformer-impl transformer_engine"]
    warmup = max(1, min(2000, total_steps // 20))
    if ctx.training.optimizer == "sgd_momentum":
        args += ["--optimizer sgd", "--sgd-momentum 0.9"]
    else:
        args += ["--optimizer adam", "--adam-beta1 0.9", "--adam-beta2 0.95", "--weight-decay 0.1"]
    args += [f"--lr {lr:g}", f"--min-lr {lr / 10:g}", "--lr-decay-style cosine", f"--lr-warmup-iters {warmup}",
             f"--train-iters {total_steps}", "--clip-grad 1.0",
             "--tokenizer-type HuggingFaceTokenizer", "--tokenizer-model $TOKENIZER",
             "--data-path $DATA_PREFIX", "--split 99,1,0",
             "--save $CHECKPOINTS", "--load $CHECKPOINTS", "--save-interval 1000",
             "--eval-interval 1000", "--eval-iters 10", "--log-interval 10"]
    return args


def _megatron(best: RankedLayout, ctx: TrainingContext, global_batch: int, flag: str, lr: float) -> LaunchPlan:
    args = megatron_args(best, ctx, global_batch, flag, lr)
    # Megatron asserts CUDA_DEVICE_MAX_CONNECTIONS=1 with TP/SP (kernel order for comm overlap) before Blackwell
    env = "CUDA_DEVICE_MAX_CONNECTIONS=1 " if best.layout.tensor_parallel > 1 or best.layout.context_parallel > 1 else ""
    cmd = env + torchrun(ctx, "pretrain_gpt.py") + " \\\n  " + " \\\n  ".join(args)
    return LaunchPlan(framework="megatron", command=cmd, config_filename="", config="\n".join(args))


# ------------------------------------------------------------------------------------------------ accelerate


def _accelerate(best: RankedLayout, ctx: TrainingContext, dtype: str, lr: float) -> LaunchPlan:
    lay = best.layout
    mixed = {"bfloat16": "bf16", "float16": "fp16", "float32": "no"}[dtype]
    c = ctx.cluster
    lines = [
        "compute_environment: LOCAL_MACHINE",
        f"distributed_type: {'FSDP' if lay.zero_stage else 'MULTI_GPU'}",
        f"mixed_precision: {mixed}",
        f"num_machines: {c.nodes}",
        f"num_processes: {c.num_gpus}",
        "machine_rank: 0",
        f"main_process_port: {RDZV_PORT}",
        "rdzv_backend: static",
        "same_network: true",
        "use_cpu: false",
    ]
    if lay.zero_stage:
        lines += [
            "fsdp_config:",
            "  fsdp_version: 2",
            f"  fsdp_reshard_after_forward: {'true' if lay.zero_stage == 3 else 'false'}",  # false = SHARD_GRAD_OP
            "  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP",
            f"  fsdp_offload_params: {str(lay.cpu_offload).lower()}",
            f"  fsdp_activation_checkpointing: {str((lay.activation_checkpointing or 'none') == 'full').lower()}",
            "  fsdp_state_dict_type: SHARDED_STATE_DICT",
            "  fsdp_cpu_ram_efficient_loading: true",
        ]
        if lay.hybrid_shard:
            shard = max(1, min(lay.data_parallel, c.gpus_per_node))
            lines += [
                "parallelism_config:",
                f"  parallelism_config_dp_replicate_size: {lay.data_parallel // shard}",
                f"  parallelism_config_dp_shard_size: {shard}",
                "  parallelism_config_tp_size: 1",
                "  parallelism_config_cp_size: 1",
            ]
    cmd = "accelerate launch --config_file accelerate_config.yaml"
    if c.nodes > 1:
        cmd += " --machine_rank $NODE_RANK --main_process_ip $MASTER_ADDR"
    cmd += " train.py"
    code = "\n".join([
        "import torch",
        "from accelerate import Accelerator",
        "",
        f"accelerator = Accelerator(gradient_accumulation_steps={lay.gradient_accumulation_steps})",
        f"optimizer = {optimizer_code(ctx.training.optimizer, lr=f'{lr:g}')}",
        f"model, optimizer, loader = accelerator.prepare(model, optimizer, loader)  # loader batch_size={lay.micro_batch_size}",
        "for batch in loader:",
        "    with accelerator.accumulate(model):",
        f"        loss = {loss_code(ctx)}",
        "        accelerator.backward(loss)",
        "        accelerator.clip_grad_norm_(model.parameters(), 1.0)",
        "        optimizer.step()",
        "        optimizer.zero_grad()",
    ])
    return LaunchPlan(framework="accelerate", command=cmd, config_filename="accelerate_config.yaml",
                      config="\n".join(lines) + "\n", code_filename="train.py", code=code)


# ------------------------------------------------------------------------------------------------- Lightning


def lightning_trainer_kwargs(best: RankedLayout, ctx: TrainingContext, dtype: str) -> tuple[str, dict[str, str]]:
    """(strategy constructor source, Trainer keyword arguments as source) for Lightning 2.x."""
    lay = best.layout
    prec = {"bfloat16": "bf16-mixed", "float16": "16-mixed", "float32": "32-true"}[dtype]
    if ctx.training.precision == "bf16":
        prec = "bf16-true"
    if lay.zero_stage == 0:
        strat = "DDPStrategy(gradient_as_bucket_view=True)"
    else:
        sharding = "HYBRID_SHARD" if lay.hybrid_shard else ("SHARD_GRAD_OP" if lay.zero_stage == 2 else "FULL_SHARD")
        parts = [f"sharding_strategy=\"{sharding}\"", "auto_wrap_policy=layer_classes"]
        if (lay.activation_checkpointing or "none") == "full":
            parts.append("activation_checkpointing_policy=layer_classes")
        if lay.cpu_offload:
            parts.append("cpu_offload=True")
        if lay.hybrid_shard:
            shard = max(1, min(lay.data_parallel, ctx.cluster.gpus_per_node))
            parts.append(f"device_mesh=({lay.data_parallel // shard}, {shard})")  # (replicas, shard group)
        parts.append("state_dict_type=\"sharded\"")
        strat = "FSDPStrategy(" + ", ".join(parts) + ")"
    kwargs = {"accelerator": "\"gpu\"", "devices": str(ctx.cluster.gpus_per_node), "num_nodes": str(ctx.cluster.nodes),
              "strategy": strat, "precision": f"\"{prec}\"", "accumulate_grad_batches": str(lay.gradient_accumulation_steps),
              "gradient_clip_val": "1.0"}
    return strat, kwargs


def _lightning(best: RankedLayout, ctx: TrainingContext, dtype: str, lr: float) -> LaunchPlan:
    lay = best.layout
    _, kwargs = lightning_trainer_kwargs(best, ctx, dtype)
    code = "\n".join([
        "import lightning as L",
        "import torch",
        "from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy",
        "",
        *([
            "# the transformer block classes to wrap (and checkpoint), e.g. {LlamaDecoderLayer}; from a Hugging Face model:",
            "layer_classes = {type(m) for m in model.modules() if type(m).__name__ in set(getattr(model, \"_no_split_modules\", None) or [])}",
        ] if lay.zero_stage else []),
        "",
        "class Module(L.LightningModule):",
        "    def __init__(self, model):",
        "        super().__init__()",
        "        self.model = model",
        "",
        "    def training_step(self, batch, batch_idx):",
        f"        return {loss_code(ctx).replace('model(', 'self.model(')}",
        "",
        "    def configure_optimizers(self):",
        f"        return {optimizer_code(ctx.training.optimizer, params='self.parameters()', lr=f'{lr:g}')}",
        "",
        "trainer = L.Trainer(",
        *[f"    {k}={v}," for k, v in kwargs.items()],
        ")",
        f"trainer.fit(Module(model), train_dataloaders=loader)  # loader batch_size={lay.micro_batch_size} per GPU",
    ])
    return LaunchPlan(framework="lightning", command=torchrun(ctx, "train.py"), config_filename="", config="",
                      code_filename="train.py", code=code)


# ------------------------------------------------------------------------------------------------ TensorFlow


KERAS_MWMS_ISSUE = ("Keras 3 model.fit under MultiWorkerMirroredStrategy fails (keras-team/keras#20585, open as of "
                    "2026-11-27): on several workers use a custom training loop (strategy.run + "
                    "strategy.experimental_distribute_dataset), as below, or tf-keras (Keras 2, TF_USE_LEGACY_KERAS=1)")


def tf_training_code(strategy: str, per_replica: int, accumulation: int, global_batch: int, lr_expr: str,
                     policy: str, optimizer: str, cache: bool, shuffle: int) -> str:
    """A custom training loop that does the gradient accumulation it states (works on one and several workers)."""
    opt = {"sgd_momentum": "keras.optimizers.SGD(lr, momentum=0.9)", "adafactor": "keras.optimizers.Adafactor(lr)"}.get(
        optimizer, "keras.optimizers.AdamW(lr, weight_decay=0.1)")
    if strategy == "TPUStrategy":
        make = ("resolver = tf.distribute.cluster_resolver.TPUClusterResolver()\n"
                "tf.config.experimental_connect_to_cluster(resolver)\n"
                "tf.tpu.experimental.initialize_tpu_system(resolver)\n"
                "strategy = tf.distribute.TPUStrategy(resolver)")
    elif strategy == "ParameterServerStrategy":
        make = ("resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()\n"
                "strategy = tf.distribute.ParameterServerStrategy(resolver)")
    else:
        make = f"strategy = tf.distribute.{strategy}()"
    lines = [
        "import tensorflow as tf",
        "import keras",
        "",
        f"keras.mixed_precision.set_global_policy(\"{policy}\")",
        make,
        f"PER_REPLICA = {per_replica}  # samples per replica per micro-step",
        f"ACCUM = {accumulation}  # micro-steps per optimizer step: global batch {global_batch}",
        "GLOBAL_MICRO = PER_REPLICA * strategy.num_replicas_in_sync",
        "",
        "def make_dataset(files, parse):",
        "    ds = tf.data.TFRecordDataset(files, num_parallel_reads=tf.data.AUTOTUNE).map(parse, num_parallel_calls=tf.data.AUTOTUNE)",
        "    ds = ds.cache()" if cache else "    # dataset larger than half the host RAM: no .cache()",
        f"    return ds.shuffle({shuffle}).repeat().batch(GLOBAL_MICRO, drop_remainder=True).prefetch(tf.data.AUTOTUNE)",
        "",
        "def train(build_model, loss_fn, files, parse, steps):",
        "    with strategy.scope():",
        "        model = build_model()",
        f"        lr = {lr_expr}",
        f"        optimizer = {opt}",
        "        # per-replica gradient sums (ON_READ: each replica keeps its own; apply_gradients all-reduces them)",
        "        accum = [tf.Variable(tf.zeros_like(v), trainable=False, synchronization=tf.VariableSynchronization.ON_READ,",
        "                             aggregation=tf.VariableAggregation.SUM) for v in model.trainable_variables]",
        "    dist_ds = iter(strategy.experimental_distribute_dataset(make_dataset(files, parse)))",
        "",
        "    def micro_step(x, y):",
        "        with tf.GradientTape() as tape:",
        "            per_example = loss_fn(y, model(x, training=True))",
        "            loss = tf.nn.compute_average_loss(per_example, global_batch_size=GLOBAL_MICRO * ACCUM)",
        "        grads = tape.gradient(loss, model.trainable_variables)",
        "        for a, g in zip(accum, grads):",
        "            a.assign_add(tf.cast(g, a.dtype))",
        "        return loss",
        "",
        "    def apply():",
        "        optimizer.apply_gradients(zip([tf.identity(a) for a in accum], model.trainable_variables))",
        "        for a in accum:",
        "            a.assign(tf.zeros_like(a))",
        "",
        "    @tf.function",
        "    def train_step(iterator):",
        "        total = 0.0",
        "        for _ in tf.range(ACCUM):",
        "            x, y = next(iterator)",
        "            total += strategy.reduce(\"SUM\", strategy.run(micro_step, args=(x, y)), axis=None)",
        "        strategy.run(apply)",
        "        return total",
        "",
        "    for step in range(steps):",
        "        loss = train_step(dist_ds)",
        "    return model",
    ]
    return "\n".join(lines) + "\n"


def _tensorflow(best: RankedLayout, ctx: TrainingContext, global_batch: int, lr: float) -> LaunchPlan:
    c = ctx.cluster
    lay = best.layout
    workers = [f"worker{i}:12345" for i in range(c.nodes)]
    envs = [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}, sort_keys=True)
            for i in range(min(c.nodes, 4))]
    strategy = "MultiWorkerMirroredStrategy" if c.nodes > 1 else ("MirroredStrategy" if c.gpus_per_node > 1 else "OneDeviceStrategy")
    if strategy == "OneDeviceStrategy":
        strategy = "MirroredStrategy"  # one replica; same code path
    policy = "mixed_bfloat16" if ctx.training.precision in ("amp_bf16", "bf16", "fp8") else (
        "mixed_float16" if ctx.training.precision == "amp_fp16" else "float32")
    code = tf_training_code(strategy, lay.micro_batch_size, lay.gradient_accumulation_steps, global_batch, f"{lr:g}",
                            policy, ctx.training.optimizer, cache=False, shuffle=10_000)
    cmd = "TF_CONFIG=" + shlex.quote(envs[0]) + " python train.py  # one process per node, TF_CONFIG index = node rank"
    return LaunchPlan(framework="tensorflow", command=cmd, config_filename="", config="", code_filename="train.py",
                      code=code, per_worker_env=envs)
