"""plan_tf_training: the seed's optimize_tensorflow_training made real (tf.distribute, Keras 3 mixed precision, tf.data)."""

from __future__ import annotations

import json

from pydantic import Field

from ml_expert_mcp.tools.common.aliases import alias_notes
from ml_expert_mcp.tools.common.hardware import resolve_gpu
from ml_expert_mcp.tools.common.models import Plan, StrictModel
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.training.artifacts import KERAS_MWMS_ISSUE, tf_training_code
from ml_expert_mcp.tools.training.context import build_context
from ml_expert_mcp.tools.training.inputs import ClusterSpec, ModelSpec, TrainingSpec
from ml_expert_mcp.tools.training.strategy import SelectDistributionRequest, select_distribution_strategy

SHUFFLE_BUFFER_MAX_BYTES = 2 * 1024**3  # keep the shuffle buffer under ~2 GiB of host memory
LARGE_EMBEDDING_PARAMS = 1e9  # above this, embeddings go to parameter servers (Keras ParameterServerStrategy guide)


class PlanTFTrainingRequest(StrictModel):
    model: ModelSpec = Field(description="Preset or HF config fields.")
    training: TrainingSpec = Field(default_factory=TrainingSpec, description="Precision, sequence, global batch.")
    cluster: ClusterSpec = Field(default_factory=ClusterSpec, description="GPU or TPU type and count (TPU-v4, TPU-v5e for TPUStrategy).")
    dataset_examples: int = Field(default=1_000_000, ge=1, le=10**12, description="Training examples in the dataset.")
    example_bytes: int = Field(default=4096, ge=1, le=10**9, description="Average serialized example size, bytes.")
    host_memory_gib: float = Field(default=256, gt=0, le=65536, description="Host RAM per worker, GiB (decides tf.data cache).")
    sparse_embedding_params: float = Field(default=0, ge=0, le=1e13, description="Parameters in large sparse embedding tables (recommenders).")
    base_learning_rate: float = Field(default=1e-3, gt=0, le=10, description="LR tuned at reference_batch_size.")
    reference_batch_size: int = Field(default=256, ge=1, le=16_777_216, description="Global batch the base LR was tuned at.")
    epochs: int = Field(default=10, ge=1, le=100_000, description="Epochs to train.")


class TFTrainingPlan(Plan):
    def headline(self) -> str:
        return (f"{self.strategy} with {self.mixed_precision_policy}: {self.per_replica_batch_size} per replica, global "
                f"batch {self.global_batch_size}, {self.steps_per_epoch} steps per epoch, peak LR "
                f"{self.peak_learning_rate:g}; XLA {'on' if self.jit_compile else 'off'}; "
                f"{'fits' if self.fits else 'does NOT fit'}: {self.fit_note}.")

    fits: bool = Field(default=True, description="A replica per GPU fits.")
    fit_note: str = Field(default="", description="Memory, or why nothing fits.")
    strategy: str = Field(description="tf.distribute strategy class.")
    strategy_reason: str = Field(description="Why this strategy.")
    mixed_precision_policy: str = Field(description="keras.mixed_precision policy name.")
    loss_scaling: str = Field(description="Loss scaling (only for float16).")
    per_replica_batch_size: int = Field(description="Samples per replica per step.")
    global_batch_size: int = Field(description="Samples per step.")
    steps_per_epoch: int = Field(description="Steps per epoch.")
    shuffle_buffer: int = Field(description="tf.data shuffle buffer (examples).")
    cache_in_memory: bool = Field(description="Whether the dataset fits in host RAM for .cache().")
    jit_compile: bool = Field(description="XLA jit_compile.")
    peak_learning_rate: float = Field(description="Peak LR after linear scaling and warm-up.")
    tf_config: list[str] = Field(description="TF_CONFIG JSON per worker (up to 8 workers; beyond, the code builds it).")
    code: str = Field(description="Strategy, policy, tf.data and compile code.")


@tool("Plan a TensorFlow training run")
def plan_tf_training(req: PlanTFTrainingRequest) -> TFTrainingPlan:
    """tf.distribute strategy, Keras mixed precision, tf.data pipeline, XLA, batch and LR schedule, TF_CONFIG per
    worker.
    """
    gpu = resolve_gpu(req.cluster.gpu)
    training = req.training
    if training.precision in ("amp_bf16", "bf16", "fp8") and not gpu.supports_bf16:
        training = training.model_copy(update={"precision": "amp_fp16"})
    elif training.precision == "fp8":
        training = training.model_copy(update={"precision": "amp_bf16"})
    req = req.model_copy(update={"training": training})
    ctx = build_context(req.model, training, req.cluster, "tensorflow")
    c = ctx.cluster
    is_tpu = ctx.gpu.generation == "tpu"
    if req.sparse_embedding_params >= LARGE_EMBEDDING_PARAMS and not is_tpu:
        strategy, why = "ParameterServerStrategy", (f"{req.sparse_embedding_params:.3g} embedding parameters: shard them on "
                                                    "parameter servers, workers train asynchronously")
    elif is_tpu:
        strategy, why = "TPUStrategy", f"{ctx.gpu.id}: synchronous data parallel over the TPU slice"
    elif c.nodes > 1:
        strategy, why = "MultiWorkerMirroredStrategy", f"{c.nodes} workers x {c.gpus_per_node} GPUs: synchronous all-reduce"
    elif c.gpus_per_node > 1:
        strategy, why = "MirroredStrategy", f"{c.gpus_per_node} GPUs in one machine: synchronous all-reduce over NVLink/PCIe"
    else:
        strategy, why = "OneDeviceStrategy", "a single device"
    prec = req.training.precision
    if is_tpu or (prec in ("amp_bf16", "bf16") and ctx.gpu.supports_bf16):
        policy, scaling = "mixed_bfloat16", "none (bfloat16 has the float32 exponent range)"
    elif prec == "fp32":
        policy, scaling = "float32", "none"
    else:
        policy, scaling = "mixed_float16", "automatic: Keras wraps the optimizer in LossScaleOptimizer under mixed_float16"
    search = select_distribution_strategy(SelectDistributionRequest(
        model=req.model, training=training,
        cluster=req.cluster, framework="tensorflow", top_k=1))
    replicas = ctx.num_gpus
    gb = search.global_batch_size
    per_replica = max(1, gb // replicas)
    steps = max(1, req.dataset_examples // gb)
    dataset_gib = req.dataset_examples * req.example_bytes / 1024**3
    cache = dataset_gib <= 0.5 * req.host_memory_gib
    shuffle = int(min(req.dataset_examples, max(1024, SHUFFLE_BUFFER_MAX_BYTES // req.example_bytes)))
    peak_lr = req.base_learning_rate * gb / req.reference_batch_size
    # TF_CONFIG written out per worker up to 8 workers; beyond, one line of code builds it from the worker's index
    # (4,096 workers listed in 8 copies made a 2 MB answer to a 99-byte request).
    multi = strategy == "MultiWorkerMirroredStrategy"
    workers = [f"worker{i}.example:12345" for i in range(c.nodes)] if multi and c.nodes <= 8 else []
    tf_config = [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}, sort_keys=True)
                 for i in range(len(workers))]
    tf_config_code = ("import json, os\nos.environ[\"TF_CONFIG\"] = json.dumps({\"cluster\": {\"worker\": "
                      f"[f\"worker{{i}}.example:12345\" for i in range({c.nodes})]}}, \"task\": {{\"type\": \"worker\", "
                      "\"index\": int(os.environ[\"WORKER_INDEX\"])}})  # WORKER_INDEX: this worker's index")
    warmup = max(1, steps // 2)
    best = search.ranked[0] if search.ranked else None
    micro = best.layout.micro_batch_size if best else per_replica
    accum = best.layout.gradient_accumulation_steps if best else 1
    if best:
        fit_note = (f"{best.device_total_gib:.1f} GiB per GPU with {micro} per replica x {accum} accumulation "
                    f"step(s) x {replicas} replicas = global batch {gb}")
    else:
        fit_note = "nothing fits: " + "; ".join(search.rejected[:2] + search.to_make_it_fit[:2])
    lr_expr = (f"keras.optimizers.schedules.CosineDecay(0.0, decay_steps={steps * req.epochs}, "
               f"warmup_target={peak_lr:.6g}, warmup_steps={warmup})")
    code = tf_training_code(strategy, micro, accum, gb, lr_expr, policy, req.training.optimizer, cache, shuffle)
    if multi and not tf_config:
        code = tf_config_code + "\n" + code
    caveats = alias_notes(("cluster.gpu", req.cluster.gpu, gpu.id), ("model.preset", req.model.preset, ctx.arch.name))
    if gpu.generation in ("cdna3", "cdna4"):
        caveats.append(f"{gpu.id}: TensorFlow needs AMD's ROCm build (rocm/tensorflow images), not the CUDA wheel; "
                       "check one exists for your TensorFlow version")
    if multi:
        caveats.append(KERAS_MWMS_ISSUE)
    if not best:
        caveats.append("no data-parallel layout fits: tf.distribute has no ZeRO/FSDP sharding; use PyTorch "
                       "(plan_pytorch_training) or Keras model parallelism (keras.distribution.ModelParallel on JAX)")
    return TFTrainingPlan(
        fits=best is not None, fit_note=fit_note, caveats=caveats,
        strategy=strategy, strategy_reason=why, mixed_precision_policy=policy, loss_scaling=scaling,
        per_replica_batch_size=micro, global_batch_size=gb, steps_per_epoch=steps, shuffle_buffer=shuffle,
        cache_in_memory=cache, jit_compile=False, peak_learning_rate=float(f"{peak_lr:.6g}"), tf_config=tf_config, code=code,
    )
