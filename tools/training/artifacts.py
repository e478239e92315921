"""Launch commands and configuration files for the chosen layout, per framework, as those tools read them."""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from ml_expert_mcp.tools.training.context import TrainingContext
    from ml_expert_mcp.tools.training.plans import RankedLayout

RDZV_PORT = 29500


class LaunchPlan(BaseModel):
    framework: str = Field(description="Framework the artifacts are for.")
    command: str = Field(description="Launch command, run on every node (NODE_RANK/MASTER_ADDR from the scheduler).")
    config_filename: str = Field(description="File name the config is saved as ('' when the config is code).")
    config: str = Field(description="Config file text or code snippet.")
    per_worker_env: list[str] = Field(default_factory=list, description="TensorFlow: TF_CONFIG JSON per worker (first 4).")


def _precision_flags(precision: str) -> tuple[str, str]:
    """(torch dtype name, Megatron flag)."""
    if precision in ("amp_fp16",):
        return "float16", "--fp16"
    if precision == "fp32":
        return "float32", ""
    return "bfloat16", "--bf16"


def _torchrun(ctx: TrainingContext, script: str) -> str:
    c = ctx.cluster
    args = ["torchrun", f"--nnodes={c.nodes}", f"--nproc-per-node={c.gpus_per_node}"]
    if c.nodes > 1:
        args += ["--rdzv-id=job", "--rdzv-backend=c10d", f"--rdzv-endpoint=$MASTER_ADDR:{RDZV_PORT}"]
    return " ".join(args + [script])


def launch_plan(best: RankedLayout, ctx: TrainingContext, framework: str, global_batch: int) -> LaunchPlan:
    lay = best.layout
    dtype, meg_flag = _precision_flags(ctx.training.precision)
    if framework == "deepspeed":
        return _deepspeed(best, ctx, global_batch, dtype)
    if framework == "megatron":
        return _megatron(best, ctx, global_batch, meg_flag)
    if framework == "tensorflow":
        return _tensorflow(ctx, global_batch)
    if framework == "lightning":
        strategy = "ddp" if lay.zero_stage == 0 else ("fsdp" if lay.tensor_parallel == 1 else "ModelParallelStrategy")
        sharding = "HYBRID_SHARD" if lay.hybrid_shard else ("SHARD_GRAD_OP" if lay.zero_stage == 2 else "FULL_SHARD")
        prec = {"bfloat16": "bf16-mixed", "float16": "16-mixed", "float32": "32-true"}[dtype]
        if ctx.training.precision == "bf16":
            prec = "bf16-true"
        if strategy == "fsdp":
            strat = f'FSDPStrategy(sharding_strategy="{sharding}", activation_checkpointing_policy={{DecoderLayer}} if {lay.activation_checkpointing == "full"} else None, cpu_offload={lay.cpu_offload})'
        elif strategy == "ModelParallelStrategy":
            strat = f"ModelParallelStrategy(data_parallel_size={lay.data_parallel}, tensor_parallel_size={lay.tensor_parallel})"
        else:
            strat = '"ddp"'
        code = (
            "import lightning as L\nfrom lightning.pytorch.strategies import FSDPStrategy, ModelParallelStrategy\n\n"
            f"trainer = L.Trainer(\n    accelerator=\"gpu\",\n    devices={ctx.cluster.gpus_per_node},\n    num_nodes={ctx.cluster.nodes},\n"
            f"    strategy={strat},\n    precision=\"{prec}\",\n    accumulate_grad_batches={lay.gradient_accumulation_steps},\n"
            "    gradient_clip_val=1.0,\n)\n"
            f"# DataLoader batch_size={lay.micro_batch_size} per GPU\n"
        )
        return LaunchPlan(framework=framework, command=_torchrun(ctx, "train.py"), config_filename="", config=code)
    if framework == "accelerate":
        return _accelerate(best, ctx, dtype)
    return _fsdp2(best, ctx, dtype)


def _fsdp2(best: RankedLayout, ctx: TrainingContext, dtype: str) -> LaunchPlan:
    lay = best.layout
    lines = [
        "import torch",
        "from torch.distributed.device_mesh import init_device_mesh",
        "from torch.distributed.fsdp import fully_shard, MixedPrecisionPolicy, CPUOffloadPolicy",
        "from torch.nn.parallel import DistributedDataParallel as DDP",
        "",
        "torch.backends.cuda.matmul.allow_tf32 = True",
    ]
    dims, names = [], []
    if lay.zero_stage == 3 and lay.hybrid_shard:
        replicate = lay.data_parallel // max(1, min(lay.data_parallel, ctx.cluster.gpus_per_node // lay.tensor_parallel))
        dims += [replicate, lay.data_parallel // replicate]
        names += ["replicate", "shard"]
    else:
        dims.append(lay.data_parallel)
        names.append("dp")
    if lay.tensor_parallel > 1:
        dims.append(lay.tensor_parallel)
        names.append("tp")
    lines.append(f"mesh = init_device_mesh(\"cuda\", {tuple(dims)}, mesh_dim_names={tuple(names)})")
    if lay.tensor_parallel > 1:
        lines += [
            "from torch.distributed.tensor.parallel import parallelize_module, ColwiseParallel, RowwiseParallel",
            "for block in model.model.layers:  # Megatron-style: column-parallel in, row-parallel out",
            "    parallelize_module(block, mesh[\"tp\"], {\"self_attn.q_proj\": ColwiseParallel(), \"self_attn.k_proj\": ColwiseParallel(),",
            "        \"self_attn.v_proj\": ColwiseParallel(), \"self_attn.o_proj\": RowwiseParallel(),",
            "        \"mlp.gate_proj\": ColwiseParallel(), \"mlp.up_proj\": ColwiseParallel(), \"mlp.down_proj\": RowwiseParallel()})",
        ]
    if lay.activation_checkpointing == "full":
        lines += [
            "from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import apply_activation_checkpointing",
            "apply_activation_checkpointing(model, check_fn=lambda m: m in set(model.model.layers))",
        ]
    if lay.zero_stage == 0:
        lines.append("model = DDP(model.cuda(), gradient_as_bucket_view=True, static_graph=True)")
    else:
        dp_mesh = "mesh[(\"replicate\", \"shard\")]" if lay.hybrid_shard else "mesh[\"dp\"]"
        mp = "" if dtype == "float32" else f"mp_policy=MixedPrecisionPolicy(param_dtype=torch.{dtype}, reduce_dtype=torch.float32), "
        off = "offload_policy=CPUOffloadPolicy(), " if lay.cpu_offload else ""
        reshard = "True" if lay.zero_stage == 3 else "False"  # False = SHARD_GRAD_OP (ZeRO-2)
        lines += [
            "for block in model.model.layers:",
            f"    fully_shard(block, mesh={dp_mesh}, {mp}{off}reshard_after_forward={reshard})",
            f"fully_shard(model, mesh={dp_mesh}, {mp}{off})",
        ]
    lines += [
        "optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=True)",
        f"# micro-batch {lay.micro_batch_size} per GPU, {lay.gradient_accumulation_steps} accumulation step(s)",
    ]
    if ctx.training.precision.startswith("amp") and lay.zero_stage == 0:
        lines.append(f"# forward under torch.autocast(\"cuda\", dtype=torch.{dtype})")
    return LaunchPlan(framework="pytorch_fsdp", command=_torchrun(ctx, "train.py"), config_filename="", config="\n".join(lines))


def _deepspeed(best: RankedLayout, ctx: TrainingContext, global_batch: int, dtype: str) -> LaunchPlan:
    lay = best.layout
    cfg: dict = {
        "train_batch_size": global_batch,
        "train_micro_batch_size_per_gpu": lay.micro_batch_size,
        "gradient_accumulation_steps": lay.gradient_accumulation_steps,
        "gradient_clipping": 1.0,
        "zero_optimization": {"stage": lay.zero_stage, "overlap_comm": True, "contiguous_gradients": True},
    }
    if dtype == "bfloat16":
        cfg["bf16"] = {"enabled": True}
    elif dtype == "float16":
        cfg["fp16"] = {"enabled": True, "loss_scale": 0, "initial_scale_power": 16}
    if lay.cpu_offload:
        cfg["zero_optimization"]["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    if lay.zero_stage == 3:
        cfg["zero_optimization"].update({"stage3_prefetch_bucket_size": "auto", "stage3_param_persistence_threshold": "auto"})
        if lay.hybrid_shard:
            cfg["zero_optimization"]["zero_hpz_partition_size"] = ctx.cluster.gpus_per_node
    if lay.activation_checkpointing != "none":
        cfg["activation_checkpointing"] = {"partition_activations": False, "contiguous_memory_optimization": False}
    c = ctx.cluster
    cmd = f"deepspeed --num_nodes {c.nodes} --num_gpus {c.gpus_per_node}"
    if c.nodes > 1:
        cmd += " --hostfile hostfile --master_addr $MASTER_ADDR"
    cmd += " train.py --deepspeed --deepspeed_config ds_config.json"
    return LaunchPlan(framework="deepspeed", command=cmd, config_filename="ds_config.json",
                      config=json.dumps(cfg, indent=2, sort_keys=True))


def _megatron(best: RankedLayout, ctx: TrainingContext, global_batch: int, flag: str) -> LaunchPlan:
    lay = best.layout
    a = ctx.arch
    args = [
        f"--tensor-model-parallel-size {lay.tensor_parallel}", f"--pipeline-model-parallel-size {lay.pipeline_parallel}",
        f"--context-parallel-size {lay.context_parallel}", f"--micro-batch-size {lay.micro_batch_size}",
        f"--global-batch-size {global_batch}", f"--seq-length {ctx.training.sequence_length}",
        f"--max-position-embeddings {ctx.training.sequence_length}", f"--num-layers {a.layers}",
        f"--hidden-size {a.hidden}", f"--num-attention-heads {a.heads}", f"--ffn-hidden-size {a.ffn}",
    ]
    if a.kv_heads != a.heads:
        args += ["--group-query-attention", f"--num-query-groups {a.kv_heads}"]
    if a.gated:
        args += ["--swiglu", "--normalization RMSNorm", "--disable-bias-linear", "--position-embedding-type rope"]
    if lay.tensor_parallel > 1:
        args.append("--sequence-parallel")
    if lay.zero_stage >= 1:
        args.append("--use-distributed-optimizer")
    if lay.activation_checkpointing == "selective":
        args.append("--recompute-granularity selective")
    elif lay.activation_checkpointing == "full":
        args += ["--recompute-granularity full", "--recompute-method uniform", "--recompute-num-layers 1"]
    if flag:
        args.append(flag)
    args += ["--use-flash-attn", "--overlap-grad-reduce"]
    cmd = _torchrun(ctx, "pretrain_gpt.py") + " \\\n  " + " \\\n  ".join(args)
    return LaunchPlan(framework="megatron", command=cmd, config_filename="", config="\n".join(args))


def _accelerate(best: RankedLayout, ctx: TrainingContext, dtype: str) -> LaunchPlan:
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
    ]
    if lay.zero_stage:
        strategy = "HYBRID_SHARD" if lay.hybrid_shard else ("SHARD_GRAD_OP" if lay.zero_stage == 2 else "FULL_SHARD")
        lines += [
            "fsdp_config:",
            "  fsdp_version: 2",
            f"  fsdp_sharding_strategy: {strategy}",
            "  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP",
            f"  fsdp_offload_params: {str(lay.cpu_offload).lower()}",
            f"  fsdp_activation_checkpointing: {str(lay.activation_checkpointing == 'full').lower()}",
            "  fsdp_state_dict_type: SHARDED_STATE_DICT",
        ]
    cmd = "accelerate launch --config_file accelerate_config.yaml --machine_rank $NODE_RANK --main_process_ip $MASTER_ADDR train.py"
    return LaunchPlan(framework="accelerate", command=cmd, config_filename="accelerate_config.yaml", config="\n".join(lines) + "\n")


def _tensorflow(ctx: TrainingContext, global_batch: int) -> LaunchPlan:
    c = ctx.cluster
    workers = [f"worker{i}:{12345}" for i in range(c.nodes)]
    envs = [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}, sort_keys=True)
            for i in range(min(c.nodes, 4))]
    strategy = "tf.distribute.MultiWorkerMirroredStrategy()" if c.nodes > 1 else "tf.distribute.MirroredStrategy()"
    code = (f"strategy = {strategy}\nwith strategy.scope():\n    model = build_model()\n"
            f"# global batch {global_batch}; per replica {global_batch // c.num_gpus}\n")
    cmd = "TF_CONFIG=" + shlex.quote(envs[0]) + " python train.py  # one process per node, TF_CONFIG index = node rank"
    return LaunchPlan(framework="tensorflow", command=cmd, config_filename="", config=code, per_worker_env=envs)
