"""Per-GPU training memory: every term that `torch.cuda.max_memory_allocated()` sees, plus what it doesn't.

Terms and their sources:
- weights, gradients, optimizer states per parameter and their ZeRO sharding: Rajbhandari et al. 2020
  (ZeRO, arXiv:1910.02054), section 3 (K = 12 bytes of fp32 master + Adam states in mixed precision).
- activations per layer per token: the tensor-by-tensor count of Korthikanti et al. 2022 (arXiv:2205.05198,
  section 4: 34·s·b·h + 5·a·s²·b for GPT), redone for the Hugging Face Llama layer (RMSNorm in fp32,
  SwiGLU, SDPA saving only q, k, v, out and the log-sum-exp); tensor and sequence parallelism divide it by t.
- the terms no anchor has (logits and loss buffers, autocast weight copies, allocator fragmentation,
  CUDA context) are calibrated on real H100 steps (shared/data/h100_training_memory.jsonl); the constants
  below say which.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from ml_expert_mcp.tools.training.model_arch import Architecture
from ml_expert_mcp.tools.training.pipeline import first_stage_activation_layers, stage_split

GIB = float(1 << 30)
LossStyle = Literal["framework", "hand_written", "fused"]  # how the training loop meets the loss (estimate_memory)

# Bytes per element: (weights, grads, activation compute dtype, residual stream).
_DTYPE_BYTES = {
    "fp32": (4, 4, 4, 4),
    "amp_bf16": (4, 4, 2, 4),
    "amp_fp16": (4, 4, 2, 4),
    "bf16": (2, 2, 2, 2),
    "fp8": (2, 4, 2, 2),  # Transformer Engine: bf16 params, fp32 main grads (Megatron)
    "megatron": (2, 4, 2, 2),  # Megatron-LM mixed precision: 16-bit params, fp32 main grads + master in optimizer
}
# Norm, residual-stream and autocast-cast tensors per layer per token, in units of hidden_size bytes.
# Counted: RMSNorm saves its input and the fp32 normalised output (2 x (4 + residual bytes)); autocast adds
# bf16 copies of the linear inputs. Fitted on the H100 file (least squares over its rows): amp 24, pure
# bf16 18, fp32 28 (the count alone gives 26, 12, 16 and misses backward transients of the norms).
# Megatron (16-bit residual, fused LayerNorm): 4 (LN inputs) + 2 + 2 (QKV and fc1 inputs) + 2 (dropout masks)
# = 10, Korthikanti et al. section 4.1.
_NON_MATMUL_H = {"fp32": 28.0, "amp_bf16": 24.0, "amp_fp16": 24.0, "bf16": 18.0, "fp8": 10.0, "megatron": 10.0}
# LayerNorm + GELU layers (BERT, ViT, GPT-2/3 in PyTorch): no fp32 RMSNorm upcasts. From the saved-tensor counts of
# knowledge/activation_profiles.json (scripts/measure_saved_activations.py, CPU, saved_tensors_hooks): per token per
# layer ViT-B/16 65.1 h (fp32) / 40.6 h (amp), BERT-large 66.5 h / 36.4 h, less the attention + MLP terms counted
# below (fp32 52 h, amp 26 h): fp32 13.5 h, amp 12.5 h. Derived on ViT-B/16 (batch 1-2) and BERT-large at seq 512;
# BERT at seq 128 and ResNet-50 are held out (bench.planner_accuracy). Pure bf16 scaled as the Llama fit (18/24).
_NON_MATMUL_H_LAYERNORM = {"fp32": 13.5, "amp_bf16": 12.5, "amp_fp16": 12.5, "bf16": 9.4, "fp8": 10.0, "megatron": 10.0}
# Loss buffers per logit at their peak, the backward of log-softmax (PyTorch cross_entropy = log_softmax +
# nll_loss): the fp32 log-softmax output saved by the forward (4) + the gradient nll_loss hands back (4) + the
# gradient log-softmax returns (4) = 12. The logits themselves are freed after the forward when the loop keeps
# only the loss (HF Trainer's compute_loss and the loops we generate: `model(**batch).loss`); a loop that holds
# the model output through backward adds the logits' own 2 (4 in fp32) bytes. Counted, then checked on H200 steps
# of five architectures (bench/evidence/gpu_training_memory_run*.jsonl); Megatron's fused vocab-parallel loss keeps
# the earlier calibrated 14.5. At the end of the forward: 16-bit logits + fp32 upcast + log-softmax output = 10
# (fp32: logits + log-softmax output = 8).
_LOGITS_V = {"fp32": 12.0, "amp_bf16": 12.0, "amp_fp16": 12.0, "bf16": 12.0, "fp8": 14.5, "megatron": 14.5}
_FUSED_LOSS_V = 4.0  # fused cross-entropy: 16-bit logits + one fp32 work buffer (Megatron-Bridge perf recipes)
_LOGITS_FORWARD_V = {"fp32": 8.0, "amp_bf16": 10.0, "amp_fp16": 10.0, "bf16": 10.0, "fp8": 10.0, "megatron": 10.0}
# HF "gelu_new" (GPT-2) is tanh-GELU in Python ops: tanh output, 0.5*x and 1+tanh are saved besides the fused
# GELU's input and output. CUDA autocast runs pow in fp32, so the chain after it is fp32: 4 + 2 + 4 = 10 bytes per
# FFN unit under amp, three tensors of the compute dtype otherwise (saved-tensor count, scripts/count_saved_layers.py).
_UNFUSED_GELU_F = {"amp_bf16": 10.0, "amp_fp16": 10.0}
# Hugging Face MoE blocks (transformers 5 Mixtral/Qwen-MoE expert loop) run the routed experts in fp32 under
# autocast: no 16-bit expert weight copies, 4-byte expert activations, and per routed copy the gathered input and
# the weighted output (2 x hidden). Saved-tensor counts on CPU (top-k 1/2/4, two widths) and H200 peaks agree.
_MOE_AMP_EXPERT_BYTES = 4
# Reserved / allocated: median of peak_reserved_gib / peak_alloc_gib over the H100 rows (1.036 to 1.17).
FRAGMENTATION = 1.08
CUDA_CONTEXT_GIB = 0.5  # CUDA context + cuBLAS workspace outside the caching allocator (H100 README: ~0.5 GiB)
NCCL_BUFFERS_GIB = 0.5  # NCCL communicator buffers per process when world size > 1 (NCCL_BUFFSIZE 4 MiB x channels)


# DeepSpeed ZeRO-1/2 (runtime/zero/stage_1_and_2.py, backward): with contiguous_gradients, every backward allocates a
# gradient bucket of reduce_bucket_size elements in the 16-bit dtype, and a second one with overlap_comm (both on in
# the configs this planner writes; reduce_bucket_size stays at DeepSpeed's default, 5e8 elements).
DS_REDUCE_BUCKET_ELEMENTS = 5e8


def deepspeed_bucket_bytes(zero_stage: int, dtype_bytes: float, bucket: float = DS_REDUCE_BUCKET_ELEMENTS,
                           overlap_comm: bool = True) -> float:
    """Bytes of DeepSpeed's ZeRO-1/2 gradient buckets, held through the backward."""
    return (2 if overlap_comm else 1) * bucket * dtype_bytes if zero_stage in (1, 2) else 0.0


def memory_caveats(precision: str, zero_stage: int, framework: str = "pytorch_fsdp") -> list[str]:
    """What the memory model is known to miss for this precision and sharding, with the evidence, and what it assumes
    of the framework's gradient buffer, to state in plans."""
    out = []
    if precision == "fp8" and zero_stage >= 3:
        out.append("fp8 under FSDP/ZeRO-3: only the gathered layers' fp8 copies are counted; torchao Float8's own "
                   "buffers are not, and torchtitan's Llama 3.1 70B float8 run (FSDP32 TP8) reported 71.9 GiB where this "
                   "model gives 59.3 (-17%): keep more headroom than the default")
    if framework == "megatron" and precision != "fp32":
        out.append("Megatron: gradients accumulate and reduce in 16 bits (--grad-reduce-in-bf16 with bf16, the default "
                   "with fp16), as NVIDIA's Megatron-Bridge and NeMo recipes run them; the optimizer keeps its fp32 master "
                   "weights and Adam states. Megatron-LM's bf16 default (an fp32 gradient buffer) costs "
                   "2 more bytes per parameter per GPU")
    return out


def megatron_loss(precision: str) -> bool:
    """Megatron's fused vocab-parallel loss (calibrated constant, logits never returned to the loop)."""
    return precision in ("fp8", "megatron")


def optimizer_bytes_per_param(optimizer: str, precision: str, arch: Architecture) -> float:
    """Optimizer state bytes per parameter, with fp32 master weights where the params are 16-bit."""
    state_dtype = 2 if precision == "bf16" else 4
    if optimizer == "adamw":
        states: float = 2 * state_dtype
    elif optimizer == "sgd_momentum":
        states = state_dtype
    elif optimizer == "adam_8bit":
        states = 2.0 + 0.02  # two 1-byte states + block-wise quantisation scales (bitsandbytes, blocks of 2048)
    else:  # adafactor: factored second moment, rows + cols per matrix, no first moment (HF default beta1=None)
        states = state_dtype * 2.0 / max(arch.hidden, 64)
    master = 4 if precision in ("fp8", "megatron") else 0
    return states + master


class MemoryTerms(NamedTuple):
    """Bytes per GPU of the most loaded pipeline stage (a named tuple: immutable and cheap to build, the search
    builds thousands)."""

    weights: float
    gradients: float
    optimizer_states: float
    activations: float
    logits_and_loss: float
    autocast_weight_copies: float
    sharding_buffers: float
    pipeline_in_flight: int
    peak_allocated: float
    peak_phase: str

    @property
    def peak_reserved(self) -> float:
        return self.peak_allocated * FRAGMENTATION


def activation_bytes_per_token_layer(
    arch: Architecture, precision: str, tp: int, sp: bool, attention: str, seq: int, recompute_attention: bool
) -> float:
    """Saved activations of one transformer layer for one token (Korthikanti et al. 2022, section 4)."""
    _, _, act, _ = _DTYPE_BYTES[precision]
    h = arch.hidden
    table = _NON_MATMUL_H if arch.gated else _NON_MATMUL_H_LAYERNORM
    non_matmul = table[precision] * h / (tp if sp else 1)
    # the QKV input (h), q and the attention output (heads x head_dim: wider than h in Gemma, Qwen3 and gpt-oss), k and
    # v; MLA: its widths (Architecture.attention_widths) and per latent its RMSNorm's fp32 input and output and the
    # up-projection's input
    q_w, k_w, v_w, out_w, latent = arch.attention_widths
    attn = (act * (h + q_w + k_w + v_w + out_w) + (4 + 2 * act) * latent) / tp
    per_unit = 4 if arch.gated else 2  # saved FFN-wide tensors: gate, up, act(gate), product | input, GELU output
    mlp = per_unit * act * arch.mlp_activation_width / tp  # routed top-k + shared experts
    if precision in ("megatron", "fp8") and arch.gated:
        # Megatron-Core Llama-family layers (TransformerConfig: hidden/attention dropout 0, bias_swiglu_fusion): no
        # dropout masks; the fused SwiGLU saves only the fc1 output; Transformer Engine keeps the inputs of the
        # weight-gradient GEMMs (QKV, proj, fc1, fc2) in FP8 under fp8, 1 byte each
        lin_in = 1 if precision == "fp8" else act
        non_matmul = (4 + 2 * lin_in) * h / (tp if sp else 1)  # two norm inputs (16-bit residual) + QKV/fc1 inputs
        attn = (act * (q_w + k_w + v_w + out_w) + lin_in * out_w + (act + lin_in) * latent) / tp  # q, k, v, out; proj input
        mlp = (2 * act + lin_in) * arch.mlp_activation_width / tp  # fc1 output (gate | up); fc2 input
    if arch.experts > 1 and precision.startswith("amp"):  # the HF expert loop (Megatron's dispatch: moe.py)
        routed = max(arch.experts_per_token, 1) * arch.moe_layers / arch.layers
        e = _MOE_AMP_EXPERT_BYTES
        mlp += routed * (per_unit * (e - act) * arch.expert_ffn + 2 * e * h) / tp
    if arch.unfused_gelu:
        mlp += _UNFUSED_GELU_F.get(precision, 3.0 * act) * arch.mlp_activation_width / tp
    if arch.qk_norm and precision not in ("megatron", "fp8"):
        # Qwen3's q_norm/k_norm (HF RMSNorm over each head) keep their fp32 input and the normalised output for the
        # weight's gradient: 4 + act bytes per q and k element (CPU saved-tensor count, scripts/count_saved_layers.py,
        # qwen3 vs llama_wide_q). Megatron-Core's fused qk-layernorm is not counted.
        attn += (4 + act) * (arch.q_dim + arch.kv_dim) / tp
    scores = 0.0
    if attention == "eager" and not recompute_attention:
        # softmax output kept in fp32 plus its cast back to the compute dtype: 4 + 2 bytes per score
        scores = arch.heads * seq * (4 + (act if act < 4 else 0)) / tp
    return non_matmul + attn + mlp + scores


def layer_activation_bytes(arch: Architecture, precision: str, tp: int, sp: bool, attention: str, seq: int,
                           recompute_attention: bool) -> float:
    """activation_bytes_per_token_layer, kept with the model (Architecture.memo)."""
    key = ("activation bytes", precision, tp, sp, attention, seq, recompute_attention)
    known = arch.memo.get(key)
    if known is None:
        known = arch.memo[key] = activation_bytes_per_token_layer(arch, precision, tp, sp, attention, seq,
                                                                  recompute_attention)
    return float(known)


def saved_bytes_per_token(arch: Architecture, checkpointing: str, per_layer: float, act: float, res: float, tp: int,
                          sp: bool, recompute_share: float, act_layers: float) -> tuple[float, float]:
    """A stage's activation bytes per token kept through the forward (`act_layers` layers' worth), and those of the
    one layer recomputed at a time in the backward (checkpointing `full` keeps each layer's input to recompute from;
    `recompute_share`: of its layers, the share checkpointed)."""
    if checkpointing == "full":
        checkpoint = res * arch.hidden / (tp if sp else 1)  # the layer input, kept to recompute from
        return act_layers * (recompute_share * checkpoint + (1.0 - recompute_share) * per_layer), per_layer
    if checkpointing == "selective_op":
        return act_layers * op_sac_bytes_per_token_layer(arch, act, res, tp, sp), per_layer
    return act_layers * per_layer, 0.0


def op_sac_bytes_per_token_layer(arch: Architecture, act: float, res: float, tp: int, sp: bool) -> float:
    """PyTorch selective activation checkpointing with torchtitan's op policy (`selective_ac_option = "op"`): a layer
    keeps its input, the attention output and every other matmul output (wq, wv, w1, w2 in Llama order; wk, wo, w3
    are recomputed with the pointwise ops). torchtitan/distributed/activation_checkpoint.py, `_op_sac_save_list`."""
    h = arch.hidden
    saved_mm = arch.q_dim + arch.kv_dim + arch.mlp_activation_width + (h if arch.gated else 0)
    return res * h / (tp if sp else 1) + act * (saved_mm + arch.q_dim) / tp


def estimate_memory(
    arch: Architecture,
    *,
    precision: str,
    optimizer: str,
    seq: int,
    micro_batch: int,
    checkpointing: str,
    attention: str,
    dp: int = 1,
    tp: int = 1,
    pp: int = 1,
    cp: int = 1,
    sp: bool = True,
    zero_stage: int = 0,
    shard_group: int | None = None,
    cpu_offload: bool = False,
    num_micro_batches: int = 1,
    megatron_style: bool = False,
    virtual_stages: int = 1,
    loss_style: LossStyle = "framework",
    recompute_share: float = 1.0,
    grad_reduce_in_fp32: bool = True,
    expert_shard_group: int | None = None,
    backward_buffers: float = 0.0,
) -> MemoryTerms:
    """Peak memory of the most loaded stage: max over start of backward, end of backward and optimizer step.

    `megatron_style`: mixed precision as Megatron-LM/DeepSpeed do it (16-bit params and residual stream,
    fp32 main grads, fp32 master in the optimizer) instead of PyTorch autocast over fp32 params.
    `loss_style`: "framework": HF Trainer, accelerate, Lightning and the code we generate keep only the loss and leave
    autocast when the forward returns. "hand_written": `with autocast(): out = model(...); out.loss.backward()` holds
    the model output (the logits) through the backward inside autocast, so the weight-cast cache lives on (the H100
    decoder file's rows imply this loop). "fused": a fused cross-entropy (Megatron-Bridge, Liger): 16-bit logits + one
    fp32 work buffer, 4 bytes per logit, no logits gradient left at the end of the backward.
    `grad_reduce_in_fp32`: Megatron's main-gradient buffer in fp32 (Megatron-LM's default with bf16); Megatron-Bridge's
    performance recipes set it False (16-bit gradient buffer).
    `recompute_share`: with full checkpointing, the share of each stage's layers checkpointed (Megatron
    `--recompute-method block --recompute-num-layers N`); the others keep their activations.
    `expert_shard_group`: ranks the routed experts' ZeRO shards spread over; Megatron's distributed optimizer uses
    the expert-data-parallel group, (TP x CP x DP) / (EP x ETP), not the data-parallel one. None: as dense weights.
    `backward_buffers`: bytes a framework allocates for the backward only (DeepSpeed's gradient buckets).
    """
    if megatron_style and precision.startswith("amp"):
        precision = "megatron"
    wb, gb, act, res = _DTYPE_BYTES[precision]
    if not grad_reduce_in_fp32 and megatron_loss(precision):
        gb = 2
    ob = optimizer_bytes_per_param(optimizer, precision, arch)
    shard = max(1, shard_group if shard_group is not None else dp)
    expert_group = max(1, expert_shard_group) if expert_shard_group is not None else shard
    amp = precision.startswith("amp")
    tokens = micro_batch * seq / cp
    # one layer's saved activations per token: the same on every stage
    per_layer = layer_activation_bytes(arch, precision, tp, sp, attention, seq, checkpointing == "selective") \
        if arch.is_transformer else 0.0

    if not arch.is_transformer or pp <= 1:
        return _stage_memory(arch, precision, optimizer, seq, micro_batch, checkpointing, attention, tp, cp, sp,
                             zero_stage, shard, cpu_offload, num_micro_batches, amp, wb, gb, act, res, ob, tokens, loss_style, recompute_share,
                             layers=arch.layers, act_layers=float(arch.layers), embedding=True, head=True, in_flight=1,
                             expert_group=expert_group, backward_buffers=backward_buffers, per_layer=per_layer)
    split = stage_split(arch.layers, pp)
    first, middle, last = split if split is not None else (arch.layers / pp,) * 3
    first_act = first_stage_activation_layers(arch.layers, pp, virtual_stages, num_micro_batches, int(first))
    stages = [  # (layers, activation layer-equivalents held, embedding, head + loss, micro-batches in flight)
        (first, first_act, True, False, min(pp, max(num_micro_batches, 1))),
        (last, float(last), False, True, 1),
    ]
    middle_act = middle * min(pp - 1, max(num_micro_batches, 1))
    # a middle stage no larger than the first, holding no more activations, needs no more memory in any phase (the
    # first adds the embedding's states): only an uneven split (lighter first stage) makes it the peak
    if pp > 2 and (first < middle or first_act < middle_act):
        stages.append((middle, middle_act, False, False, min(pp - 1, max(num_micro_batches, 1))))
    results = [
        _stage_memory(arch, precision, optimizer, seq, micro_batch, checkpointing, attention, tp, cp, sp, zero_stage, shard,
                      cpu_offload, num_micro_batches, amp, wb, gb, act, res, ob, tokens, loss_style, recompute_share, layers=n_layers,
                      act_layers=act_layers, embedding=emb, head=head, in_flight=flight, expert_group=expert_group,
                      backward_buffers=backward_buffers, per_layer=per_layer)
        for n_layers, act_layers, emb, head, flight in stages
    ]
    return max(results, key=lambda r: r.peak_allocated)


def _stage_memory(arch: Architecture, precision: str, optimizer: str, seq: int, micro_batch: int, checkpointing: str,
                  attention: str, tp: int, cp: int, sp: bool, zero_stage: int, shard: int, cpu_offload: bool,
                  num_micro_batches: int, amp: bool, wb: float, gb: float, act: float, res: float, ob: float,
                  tokens: float, loss_style: LossStyle, recompute_share: float, *, layers: float, act_layers: float, embedding: bool, head: bool,
                  in_flight: int, expert_group: int, per_layer: float, backward_buffers: float = 0.0) -> MemoryTerms:
    """One pipeline stage (the whole model when pp == 1): `layers` decoder layers, `act_layers` layer-activations
    of one micro-batch held at the start of the backward, the embedding and/or head + loss when it holds them."""
    params_local, layer_params, weights, grads, opt, cast_copies, sharding = stage_state(
        arch, precision, tp, zero_stage, shard, cpu_offload, amp, wb, gb, ob, act, layers, embedding, head, expert_group)

    if arch.is_transformer:
        stored, working = saved_bytes_per_token(arch, checkpointing, per_layer, act, res, tp, sp, recompute_share,
                                                act_layers)
        activations = tokens * stored
        per_out = tokens if arch.family != "vit" else micro_batch
        held = act if loss_style == "hand_written" and not megatron_loss(precision) else 0.0
        per_logit = _FUSED_LOSS_V if loss_style == "fused" else _LOGITS_V[precision] + held
        logits_peak = per_logit * arch.vocab / tp * per_out if head else 0.0
        logits_kept = 2.0 * arch.vocab / tp * per_out if head and loss_style != "fused" else 0.0
        recompute_working = tokens * working
    else:
        scale = act / 4.0
        full = arch.opaque_activation_bytes * micro_batch * scale
        activations = full * (0.35 if checkpointing == "full" else 1.0)
        logits_peak = logits_kept = recompute_working = 0.0

    # Gradients persist through the forward of later micro-batches under accumulation or pipelining,
    # and sharded (ZeRO-2/3) gradient partitions persist always.
    persistent_grads = grads if (num_micro_batches > 1 or zero_stage >= 2) else 0.0
    base = weights + opt + cast_copies + sharding
    phase, peak = "", -math.inf
    if checkpointing == "full" and recompute_share >= 1.0 and amp and cast_copies and arch.is_transformer \
            and loss_style != "hand_written":
        # autocast's weight-cast cache dies with the forward; checkpointed layers saved none of the copies, so the
        # backward holds the head's copy and one recomputed layer's (torch.utils.checkpoint, non-reentrant)
        head_copy = 2.0 * (arch.head_params or arch.embedding_params) / tp if head else 0.0
        phase, peak = "end_of_forward", base + persistent_grads + activations + (
            _LOGITS_FORWARD_V[precision] * arch.vocab / tp * per_out if head else 0.0)
        base = base - cast_copies + head_copy
        recompute_working += 2.0 * layer_params
    # the peak is the largest phase (the first of equals, in this order)
    for name, value in (
            ("start_of_backward", base + persistent_grads + activations + max(logits_peak, logits_kept + recompute_working)
             + backward_buffers),
            ("end_of_backward", weights + opt + grads + sharding + logits_kept + backward_buffers),
            ("optimizer_step", weights + opt + grads + (4.0 * params_local / shard if optimizer == "adam_8bit" else 0.0))):
        if value > peak:
            phase, peak = name, value
    # weights, gradients, optimizer_states, activations, logits_and_loss, autocast_weight_copies, sharding_buffers,
    # pipeline_in_flight, peak_allocated, peak_phase (positional: the search builds thousands)
    return MemoryTerms(weights, grads, opt, activations + recompute_working, logits_peak, cast_copies,
                       sharding + backward_buffers, in_flight, peak, phase)


class StageState(NamedTuple):
    """A stage's bytes that do not depend on the micro-batch or checkpointing."""

    params_local: float
    layer_params: float
    weights: float
    grads: float
    opt: float
    cast_copies: float
    sharding: float


def stage_state(arch: Architecture, precision: str, tp: int, zero_stage: int, shard: int, cpu_offload: bool, amp: bool,
                wb: float, gb: float, ob: float, act: float, layers: float, embedding: bool, head: bool,
                expert_group: int) -> StageState:
    """Weights, gradients, optimizer states, autocast copies and sharding buffers of one stage, kept with the model
    (Architecture.memo): every layout of a family shares them."""
    key = (precision, tp, zero_stage, shard, cpu_offload, wb, gb, ob, act, layers, embedding, head, expert_group)
    known = arch.memo.get(key)
    if known is None:
        known = arch.memo[key] = _stage_state(arch, precision, tp, zero_stage, shard, cpu_offload, amp, wb, gb, ob, act,
                                              layers, embedding, head, expert_group)
    return known


def _stage_state(arch: Architecture, precision: str, tp: int, zero_stage: int, shard: int, cpu_offload: bool, amp: bool,
                 wb: float, gb: float, ob: float, act: float, layers: float, embedding: bool, head: bool,
                 expert_group: int) -> StageState:
    if arch.is_transformer:
        layer_params = arch.layer_params / tp
        whole = embedding and head
        params_local = layers * layer_params + (arch.embedding_params / tp if embedding else 0.0)
        if head:
            params_local += (arch.head_params or (0 if whole else arch.embedding_params)) / tp + arch.hidden
        matmul_params = layers * layer_params + ((arch.head_params or arch.embedding_params) / tp if head else 0.0)
    else:
        params_local = arch.opaque_params
        layer_params = params_local / 50.0
        matmul_params = params_local

    # routed experts shard over their own group (expert data parallel), the rest over the data-parallel one
    experts_local = layers * arch.expert_params_per_layer * arch.moe_layers / arch.layers * arch.expert_shard / tp \
        if arch.is_transformer and arch.experts > 1 else 0.0

    def sharded(per_param: float, stage: int) -> float:
        """Bytes of one kind of state that ZeRO `stage` and above shards."""
        if stage > zero_stage:
            return per_param * params_local
        dense = per_param * (params_local - experts_local) / shard
        return dense + per_param * experts_local / expert_group if experts_local else dense

    weights = sharded(wb, 3)
    grads = sharded(gb, 2)
    opt = 0.0 if cpu_offload else sharded(ob, 1)

    # Autocast caches a 16-bit copy of each weight for the whole forward+backward (non-sharded weights);
    # with ZeRO-3/FSDP the gathered 16-bit layer is the copy: current + prefetched layer, plus one layer's
    # unsharded gradient waiting for reduce-scatter.
    cast_copies = 0.0
    if amp and zero_stage < 3:
        cast_copies = 2.0 * (matmul_params - experts_local)  # the routed experts run in fp32 (_MOE_AMP_EXPERT_BYTES)
    elif precision == "fp8":
        # fp8 weight copies kept for the backward; under ZeRO-3/FSDP only the gathered layers have them (FSDP2 frees
        # the unsharded weights after each layer's forward and gathers them again for its backward)
        cast_copies = 1.0 * (matmul_params if zero_stage < 3 else 2 * layer_params)

    sharding = 0.0
    if zero_stage >= 3:
        sharding += 2 * layer_params * act
    if zero_stage >= 2:
        sharding += layer_params * gb
    return StageState(params_local, layer_params, weights, grads, opt, cast_copies, sharding)


def device_total_gib(terms: MemoryTerms, world_size: int) -> float:
    """What nvidia-smi would show: reserved + CUDA context (+ NCCL buffers when distributed)."""
    extra = CUDA_CONTEXT_GIB + (NCCL_BUFFERS_GIB if world_size > 1 else 0.0)
    return terms.peak_reserved / GIB + extra
