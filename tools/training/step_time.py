"""Step time, throughput and MFU of a layout: compute at a stated efficiency plus the communication left exposed.

- FLOPs per token: `Architecture.model_flops_per_token` (Narayanan et al. 2021, eq. 3); full recompute adds
  one forward (x4/3, the "hardware FLOPs" of SC21), selective recompute adds the attention-score matmuls.
- Matmul efficiency rises with the hidden size: eff = E_MAX * h / (h + H_HALF), H_HALF growing with the GPU's
  peak (bigger GPUs need bigger matmuls). Calibrated on the H100 file (h 1024/2048/4096 reached 22/32/42 % MFU)
  and on Megatron's A100 runs (SC21 Table 1: 44 % at h 2304, 52 % at h 25600 with communication).
- Communication is ring all-reduce / all-gather / reduce-scatter time, 2(n-1)/n * bytes / bandwidth: tensor
  parallel exposed, data-parallel gradient reduction overlapped with the last backward, ZeRO-3 gathers
  overlapped with compute, pipeline bubble (p-1)/m (Narayanan et al. 2021).
"""

from __future__ import annotations

from typing import NamedTuple

from ml_expert_mcp.knowledge.schema import GpuSpec
from ml_expert_mcp.tools.training.model_arch import Architecture

E_MAX = 0.62
H_HALF_A100 = 900.0
# Convolutional nets run as if their GEMMs were this wide: solved from NVIDIA's ResNet-50 v1.5 PyTorch training on one
# A100 80GB, AMP, 2,470 images/s (DeepLearningExamples README, 19.5% of dense peak); held out: V100 AMP +16%, H200
# measured here -0.3%, H100 measured here +18% (bench/evidence/cnn_training_throughput.csv). Bandwidth-bound BN/ReLU
# make CNNs fall further behind each newer GPU's peak, which the peak^0.6 growth of the half-efficiency width carries
# only in part: at the same compute the H200 (4.8 TB/s) trains 18% faster than the H100 (3.35 TB/s); not modelled.
CNN_EFFECTIVE_WIDTH = 413
DP_OVERLAP = 0.8  # share of the last micro-batch's backward that hides the gradient reduction
ZERO3_OVERLAP = 0.9  # share of a micro-batch's compute that hides ZeRO-3 gathers (prefetch)
CPU_ADAM_PARAMS_PER_S = 1.0e9  # DeepSpeed CPUAdam, per GPU process (order of magnitude from its paper)
PCIE_GBPS = {3: 12.0, 4: 25.0, 5: 50.0}


def model_caveats(arch: Architecture) -> list[str]:
    """What the memory and step-time models do not carry for this model, to state beside what they predict."""
    out = [f"{arch.name}: {arch.notes}"] if arch.notes else []
    if not arch.is_transformer:
        out.append("CNN throughput: compute at an efficiency solved from one published A100 ResNet-50 row, with no "
                   "memory-bandwidth term; held out it was -0.3% on an H200, +18% on an H100 and +16% on a V100, so "
                   "expect it high on GPUs with less bandwidth per FLOP")
    return out


def matmul_efficiency(hidden: int, peak: float) -> float:
    h_half = H_HALF_A100 * float((peak / 312.0) ** 0.6)
    h = max(hidden, 64)
    return E_MAX * h / (h + h_half)


def compute_rate(arch: Architecture, gpu: GpuSpec, precision: str) -> float:
    """FLOP/s one GPU sustains on this model's matmuls: the dense peak at the model's width efficiency. No layout of n
    GPUs runs faster than n x this over the model FLOPs per token (recompute, pipeline imbalance and communication
    only add time), which is what lets a deadline search skip a cluster that cannot reach it."""
    peak = gpu.dense_tflops(precision)
    rate = arch.memo.get(("compute rate", peak))
    if rate is None:
        rate = arch.memo["compute rate", peak] = peak * 1e12 * matmul_efficiency(
            arch.hidden if arch.is_transformer else CNN_EFFECTIVE_WIDTH, peak)
    return float(rate)


def hardware_flops_per_token(arch: Architecture, seq: int, checkpointing: str, recompute_share: float = 1.0) -> float:
    """`recompute_share`: of full checkpointing, the share of layers recomputed (Megatron's block method)."""
    model = arch.model_flops_per_token(seq)
    if checkpointing == "full":
        return model * (1.0 + recompute_share / 3.0)
    if checkpointing == "selective_op" and arch.is_transformer:
        # torchtitan's op policy recomputes every other matmul: wk, wo, w3 (Llama order), 2 FLOPs per weight per token
        h = arch.hidden
        return model + 2.0 * arch.layers * (h * arch.kv_dim + arch.q_dim * h + h * arch.mlp_activation_width)
    if checkpointing == "selective" and arch.is_transformer:
        return model + 4.0 * arch.layers * arch.hidden * seq  # recomputed QK^T and AV (Korthikanti et al., 5)
    return model


def ring_seconds(bytes_: float, n: int, gbps: float) -> float:
    return 0.0 if n <= 1 else 2.0 * (n - 1) / n * bytes_ / (gbps * 1e9)


class StepTime(NamedTuple):
    """Seconds per optimizer step and what they are made of (a named tuple: immutable and cheap to build)."""

    step_s: float
    compute_s: float
    tensor_parallel_s: float
    data_parallel_exposed_s: float
    pipeline_bubble_s: float
    other_s: float
    tokens_per_s: float
    mfu: float
    hfu: float
    offload_s: float = 0.0  # CPU optimizer step and the PCIe copies (part of other_s)


def predict_step_time(
    arch: Architecture,
    gpu: GpuSpec,
    *,
    precision: str,
    seq: int,
    micro_batch: int,
    num_micro_batches: int,
    checkpointing: str,
    dp: int,
    tp: int,
    pp: int,
    cp: int,
    zero_stage: int,
    cpu_offload: bool,
    gpus_per_node: int,
    intra_gbps: float,
    inter_gbps: float,
    params_per_gpu: float,
    grad_bytes: int,
    interleave: int = 1,
    shard_group: int | None = None,
    fsdp_style: bool = True,
    pipeline_imbalance: float = 1.0,
    recompute_share: float = 1.0,
) -> StepTime:
    peak = gpu.dense_tflops(precision) * 1e12
    tokens_mb = micro_batch * seq
    hw_flops = hardware_flops_per_token(arch, seq, checkpointing, recompute_share)
    compute_mb = hw_flops * tokens_mb / (tp * pp * cp) / compute_rate(arch, gpu, precision) * pipeline_imbalance

    act_bytes = 4 if precision == "fp32" else 2
    tp_mb = 0.0
    if tp > 1 and arch.is_transformer:
        collectives = 4 + (2 * recompute_share if checkpointing == "full" else 0)  # 2 fwd, 2 bwd, 2 in the recompute
        per = ring_seconds(tokens_mb / cp * arch.hidden * act_bytes, tp, intra_gbps)
        tp_mb = collectives * per * arch.layers / pp
    # bandwidth of a group: inside a node while it fits there
    inner = tp * cp
    dp_gbps = intra_gbps if inner * dp <= gpus_per_node else inter_gbps
    cp_gbps = intra_gbps if tp * cp <= gpus_per_node else inter_gbps
    other_mb = 0.0
    if cp > 1 and arch.is_transformer:
        kv_bytes = 2 * tokens_mb / cp * arch.kv_dim * act_bytes * arch.layers / pp / tp
        other_mb += 0.1 * ring_seconds(kv_bytes, cp, cp_gbps)  # ring attention overlaps all but ~10 %
    # Sharded data parallel (FSDP2 / ZeRO-3, FSDP SHARD_GRAD_OP): per micro-batch, each layer's parameters are
    # all-gathered before its forward (and again before its backward when resharded after forward) and its
    # gradients reduce-scattered after its backward; with prefetch these overlap the neighbouring layers' compute,
    # so only what exceeds ZERO3_OVERLAP of the compute, plus the first layer's gather, is exposed. Each collective
    # moves (g-1)/g of the local (TP/PP-sliced) parameters once, over the shard group g (one node under hybrid).
    group = max(1, shard_group or dp)
    sharded_mb = zero_stage >= 3 or (zero_stage == 2 and fsdp_style)
    if sharded_mb and group > 1:
        g_gbps = intra_gbps if inner * group <= gpus_per_node else inter_gbps
        gather = (group - 1) / group * params_per_gpu * act_bytes / (g_gbps * 1e9)
        scatter = (group - 1) / group * params_per_gpu * grad_bytes / (g_gbps * 1e9)
        gathers = 2 if zero_stage >= 3 else 1  # reshard_after_forward=True gathers again for the backward
        layers = max(arch.layers / pp, 1) if arch.is_transformer else 50.0
        other_mb += max(0.0, gathers * gather + scatter - ZERO3_OVERLAP * compute_mb) + gather / layers
    if pp > 1:
        p2p_bytes = 2 * tokens_mb / cp * arch.hidden * act_bytes / tp * interleave
        pp_gbps = intra_gbps if inner * dp * pp <= gpus_per_node else inter_gbps  # the whole pipeline in one node
        other_mb += p2p_bytes / (pp_gbps * 1e9)

    stage_mb = compute_mb + tp_mb + other_mb
    bubble = (pp - 1) / interleave * stage_mb if pp > 1 else 0.0
    pipeline = num_micro_batches * stage_mb + bubble

    dp_exposed = 0.0
    if dp > 1 and not sharded_mb:
        # DDP / ZeRO-1 / DeepSpeed ZeRO-2 / Megatron distributed optimizer: one gradient all-reduce (or its
        # reduce-scatter + all-gather halves) per step, overlapped with the last micro-batch's backward
        reduce = ring_seconds(params_per_gpu * grad_bytes, dp, dp_gbps)
        dp_exposed = max(0.0, reduce - DP_OVERLAP * compute_mb * 2.0 / 3.0)
    elif sharded_mb and dp > group:
        # hybrid shard: the shard-group-sized gradient shard is all-reduced across node replicas once per step
        replicas = dp // group
        reduce = ring_seconds(params_per_gpu / group * grad_bytes, replicas, inter_gbps)
        dp_exposed = max(0.0, reduce - DP_OVERLAP * compute_mb * 2.0 / 3.0)
    offload = 0.0
    if cpu_offload:
        pcie = PCIE_GBPS.get(gpu.pcie_gen or 4, 25.0)
        offload = params_per_gpu / CPU_ADAM_PARAMS_PER_S + 2 * params_per_gpu * 4 / (pcie * 1e9)
    step = pipeline + dp_exposed + offload
    tokens = num_micro_batches * tokens_mb * dp
    n_gpus = dp * tp * pp * cp
    tokens_per_s = tokens / step
    model_flops = arch.model_flops_per_token(seq)
    return StepTime(
        step_s=step, compute_s=num_micro_batches * compute_mb, tensor_parallel_s=num_micro_batches * tp_mb,
        data_parallel_exposed_s=dp_exposed, pipeline_bubble_s=bubble,
        other_s=num_micro_batches * other_mb + offload, tokens_per_s=tokens_per_s,
        mfu=model_flops * tokens_per_s / (n_gpus * peak), hfu=hw_flops * tokens_per_s / (n_gpus * peak),
        offload_s=offload,
    )
