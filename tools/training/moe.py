"""Mixture-of-Experts (issue 17): expert parallelism in memory and step time.

Layout (Megatron-Core "MoE parallel folding", Liu et al. 2025, arXiv:2504.14960): attention and dense layers
run on TP x CP x DP; the expert layers re-fold the same GPUs of a pipeline stage into ETP x EP x EDP
(expert tensor, expert, expert-data parallel), so EP x ETP must divide TP x CP x DP and EP must divide the
number of routed experts. Each GPU holds experts / EP routed experts, each sliced ETP ways.

Memory: routed-expert weights, gradients and optimizer states are divided by EP x ETP (and by PP), the rest
by TP x PP; the distributed optimizer shards expert states over EDP, dense states over DP. Routed tokens
are permuted into per-expert buffers: each MoE layer saves the permuted FC1 input (k x hidden per token),
padded by the capacity factor when tokens are dropped (GShard, Lepikhin et al. 2020).

Step time, added to the dense model's (step_time.predict_step_time on the active parameters):
- all-to-all dispatch and combine, forward and backward (4 per MoE layer, 6 with full recompute), each
  moving tokens x k x hidden x 2 bytes x (EP-1)/EP per GPU; the share of peers on other nodes goes over
  the inter-node link, the rest over NVLink, each at A2A_EFFICIENCY of its bandwidth; not overlapped
  (Megatron's EP/A2A overlap is opt-in);
- expert GEMMs at the efficiency of their smallest dimension (tokens per local expert, hidden, expert
  width / ETP) instead of the dense model's; without grouped GEMM each local expert also pays kernel launches;
- permute/unpermute: memory-bound copies of the routed tokens (read + write, forward + backward).
Router load balance: tokens spread evenly over experts (auxiliary-loss or loss-free balancing as in
DeepSeek-V3); an uneven router makes the busiest EP rank the step's pace, not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from ml_expert_mcp.knowledge.schema import GpuSpec
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.training.model_arch import Architecture
from ml_expert_mcp.tools.training.step_time import matmul_efficiency

A2A_EFFICIENCY = 0.6  # NCCL all-to-all reaches ~60 % of link bandwidth at MoE message sizes (NCCL tests, H100)
KERNEL_LAUNCH_S = 10e-6  # one GEMM launch + sync on the host path, per local expert without grouped GEMM


@dataclass(frozen=True, slots=True)
class ExpertLayout:
    ep: int = 1
    etp: int = 1
    capacity_factor: float | None = None  # None: dropless
    grouped_gemm: bool = True
    dispatcher: str = "alltoall"  # alltoall (one copy per token x expert) | flex (DeepEP/HybridEP: one per node)
    a2a_overlap: bool = False  # Megatron overlap_moe_expert_parallel_comm / DeepSeek DualPipe


def check_expert_layout(arch: Architecture, ep: int, etp: int, tp: int, cp: int, dp: int, field: str = "layout") -> None:
    if ep == 1 and etp == 1:
        return
    if arch.experts <= 1:
        raise PlanInputError(f"{field}.expert_parallel", f"{arch.name} has no routed experts; use 1")
    if arch.experts % ep:
        divs = [d for d in range(1, arch.experts + 1) if arch.experts % d == 0]
        raise PlanInputError(f"{field}.expert_parallel",
                             f"{ep} must divide the number of experts ({arch.experts}); accepted: {', '.join(map(str, divs))}")
    if arch.expert_ffn % etp:
        raise PlanInputError(f"{field}.expert_tensor_parallel", f"{etp} must divide the expert width ({arch.expert_ffn})")
    if (tp * cp * dp) % (ep * etp):
        raise PlanInputError(f"{field}.expert_parallel",
                             f"expert_parallel x expert_tensor_parallel = {ep * etp} must divide the GPUs of one pipeline "
                             f"stage (tensor x context x data parallel = {tp * cp * dp})")


def expert_params(arch: Architecture) -> float:
    return arch.expert_params_per_layer * arch.moe_layers


def local_expert_view(arch: Architecture, tp: int, layout: ExpertLayout) -> Architecture:
    """The model as one GPU's memory sees it: the dense estimator divides layer params by TP, so the routed
    experts are counted at TP / (EP x ETP) of their number, leaving experts / (EP x ETP) per GPU."""
    if arch.experts <= 1:
        return arch
    return _sharded(arch, 1.0 if layout.ep * layout.etp == tp else tp / (layout.ep * layout.etp))


@lru_cache(maxsize=512)
def _sharded(arch: Architecture, share: float) -> Architecture:
    """One instance per (model, share), so its derived sizes are computed once per search, not per layout."""
    return replace(arch, expert_shard=share)


def dispatch_activation_bytes(
    arch: Architecture, layout: ExpertLayout, *, tokens: float, pp: int, tp: int, act_bytes: int, checkpointing: str,
    sp: bool = True,
) -> float:
    """Saved permuted FC1 inputs of the MoE layers on one GPU (k x hidden per token, x capacity factor)."""
    if arch.experts <= 1 or checkpointing == "full":
        return 0.0
    cf = layout.capacity_factor or 1.0
    per_tok = arch.experts_per_token * arch.hidden * act_bytes * cf / (tp if sp else 1)
    return tokens * arch.moe_layers / pp * per_tok


RECOMPUTE_MODULES = ("layernorm", "moe_act", "mlp", "mla_up_proj")


def recompute_savings_bytes(
    arch: Architecture, modules: tuple[str, ...], *, tokens: float, pp: int, tp: int, act_bytes: int = 2,
) -> float:
    """Activations Megatron's selective recompute_modules do not keep, on one GPU (per layer per token):
    layernorm: the two norm outputs (2 h); moe_act: the SwiGLU output of each routed expert (k x ffn);
    mlp: every MLP tensor but its input (4 x k x ffn for a gated MLP); mla_up_proj: MLA's up-projected
    q, k, v (Architecture.attention_widths), kept in the compressed latents instead."""
    per_tok = 0.0
    width = arch.mlp_activation_width
    if "layernorm" in modules:
        per_tok += 2 * arch.hidden * act_bytes
    if "mlp" in modules:
        per_tok += (4 if arch.gated else 2) * width * act_bytes
    elif "moe_act" in modules:
        per_tok += width * act_bytes
    if "mla_up_proj" in modules and arch.mla is not None:
        q_w, k_w, v_w, _, _ = arch.attention_widths  # recomputed from the latents in the backward
        per_tok += (q_w + k_w + v_w) * act_bytes
    return tokens * arch.layers / pp * per_tok / tp


@dataclass(frozen=True, slots=True)
class MoeTime:
    all_to_all_s: float
    expert_gemm_penalty_s: float
    permute_s: float
    a2a_inter_node_share: float
    tokens_per_expert: float
    expert_gemm_efficiency: float

    @property
    def per_micro_batch_s(self) -> float:
        return self.all_to_all_s + self.expert_gemm_penalty_s + self.permute_s


def moe_time_per_micro_batch(
    arch: Architecture, gpu: GpuSpec, *, precision: str, seq: int, micro_batch: int, tp: int, pp: int, cp: int,
    layout: ExpertLayout, gpus_per_node: int, intra_gbps: float, inter_gbps: float, checkpointing: str,
    compute_mb_s: float = 0.0,
) -> MoeTime:
    """MoE-only time of one micro-batch on one pipeline stage (seconds), beyond the dense model's."""
    if arch.experts <= 1:
        return MoeTime(0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    ep, etp = layout.ep, layout.etp
    k, h = arch.experts_per_token, arch.hidden
    layers = arch.moe_layers / pp
    tokens = micro_batch * seq / (tp * cp)  # tokens entering this GPU's dispatcher (sequence-parallel shard)
    cf = layout.capacity_factor or 1.0
    # all-to-all: peers of the EP group on this node vs elsewhere (EP ranks follow TP x CP in the rank order)
    local_peers = max(1, min(ep, gpus_per_node // max(tp * cp, 1)))
    inter_share = 0.0 if ep <= local_peers else 1.0 - local_peers / ep
    copies = tokens * k * h * 2 * cf * (ep - 1) / ep
    if layout.dispatcher == "flex" and inter_share > 0:
        # DeepEP / HybridEP send a token once per destination node over the network, then fan out on NVLink
        nodes = ep / local_peers
        remote_nodes = (nodes - 1) * (1 - (1 - 1 / nodes) ** k)
        inter_bytes = tokens * h * 2 * cf * remote_nodes
        intra_bytes = copies
    else:
        inter_bytes, intra_bytes = copies * inter_share, copies * (1 - inter_share)
    one = max(inter_bytes / (inter_gbps * 1e9), intra_bytes / (intra_gbps * 1e9)) / A2A_EFFICIENCY
    count = 6 if checkpointing == "full" else 4
    a2a = count * one * layers if ep > 1 else 0.0
    if layout.a2a_overlap:
        a2a = max(0.0, a2a - compute_mb_s)  # hidden behind the other micro-batch's compute (1F1B overlap)
    # expert GEMMs at the efficiency of their smallest dimension
    peak = gpu.dense_tflops(precision)
    per_expert_tokens = tokens * tp * ep * k * cf / arch.experts / max(etp, 1)
    dims = min(per_expert_tokens, h, arch.expert_ffn / etp)
    e_dense = matmul_efficiency(h, peak)
    e_expert = matmul_efficiency(int(max(dims, 16)), peak)
    expert_flops = 6.0 * k * arch.mlp_params_per_expert * tokens * layers * cf
    if checkpointing == "full":
        expert_flops *= 4.0 / 3.0
    penalty = max(0.0, expert_flops / (peak * 1e12) * (1.0 / e_expert - 1.0 / e_dense))
    if not layout.grouped_gemm:
        local = arch.experts / ep
        penalty += local * 3 * 3 * KERNEL_LAUNCH_S * layers  # 3 GEMMs x (fwd, 2 bwd) per local expert
    # permute + unpermute, forward and backward: read + write of k copies of each token
    permute = 2 * 2 * 2 * tokens * k * h * 2 * cf / (gpu.hbm_bandwidth_tbps * 1e12) * layers
    return MoeTime(a2a, penalty, permute, inter_share, per_expert_tokens, e_expert)


def megatron_moe_args(arch: Architecture, layout: ExpertLayout) -> list[str]:
    """Megatron-LM MoE arguments (checked by Megatron's own argument parser in the tests)."""
    if arch.experts <= 1:
        return []
    args = [f"--num-experts {arch.experts}", f"--moe-router-topk {arch.experts_per_token}",
            f"--expert-model-parallel-size {layout.ep}", f"--expert-tensor-parallel-size {layout.etp}",
            "--moe-token-dispatcher-type alltoall", "--moe-router-load-balancing-type aux_loss",
            "--moe-aux-loss-coeff 1e-3"]
    if layout.grouped_gemm:
        args.append("--moe-grouped-gemm")
    if arch.moe_ffn and arch.moe_ffn != arch.ffn:
        args.append(f"--moe-ffn-hidden-size {arch.moe_ffn}")
    if arch.shared_experts:
        args.append(f"--moe-shared-expert-intermediate-size {arch.shared_experts * arch.expert_ffn}")
    if arch.dense_layers:
        pattern = ",".join("0" if i < arch.layers - arch.moe_layers else "1" for i in range(arch.layers))
        args.append(f"--moe-layer-freq [{pattern}]")
    if layout.capacity_factor:
        args += [f"--moe-expert-capacity-factor {layout.capacity_factor}", "--moe-pad-expert-input-to-capacity",
                 "--moe-token-drop-policy probs"]
    return args


def fsdp_expert_note(layout: ExpertLayout, arch: Architecture) -> str:
    if arch.experts <= 1:
        return ""
    if layout.ep > 1:
        return (f"FSDP2: experts sharded by expert parallelism ({arch.experts // layout.ep} experts per EP rank, "
                f"torchtitan-style DeviceMesh ['dp_shard_mod_ep', 'ep']), each expert's weights then FSDP-sharded "
                f"over the remaining data-parallel ranks; dense layers FSDP-sharded over all data-parallel ranks")
    return ("FSDP2: expert weights are ordinary parameters, sharded with the rest over all data-parallel ranks "
            "(no expert parallelism: every rank gathers every expert it routes to)")
