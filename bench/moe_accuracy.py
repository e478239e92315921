"""MoE throughput accuracy: predicted tokens/s/GPU vs published runs (bench/evidence/moe_throughput.csv).

    python -m bench.moe_accuracy

Dense part: step_time.predict_step_time on the active parameters (Megatron style, distributed optimizer,
selective recompute, interleaved pipeline); MoE part: moe.moe_time_per_micro_batch (all-to-all over
NVLink / InfiniBand, expert GEMM efficiency, permutation). Also checks that every published layout is
expressible (EP divides the experts, EP x ETP divides the stage) and predicted to fit in memory.
No constant is fitted on these rows. H800 = H100 SXM with NVLink 400 GB/s bidirectional (200 one way).
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from ml_expert_mcp.knowledge import gpu_catalog
from ml_expert_mcp.tools.training.inputs import ModelSpec
from ml_expert_mcp.tools.training.memory import GIB, device_total_gib, estimate_memory
from ml_expert_mcp.tools.training.model_arch import resolve_model
from ml_expert_mcp.tools.training.moe import (
    ExpertLayout,
    check_expert_layout,
    dispatch_activation_bytes,
    local_expert_view,
    moe_time_per_micro_batch,
    recompute_savings_bytes,
)
from ml_expert_mcp.tools.training.step_time import predict_step_time

EVIDENCE = Path(__file__).parent / "evidence" / "moe_throughput.csv"
INTER_GBPS = 50.0  # 400 Gb/s InfiniBand per GPU (DGX H100 / B200, and the H800 cluster of DeepSeek-V3)


# A row whose recompute setting is not stated for its configuration gets the least of these that fits (as the
# frontier bench does for dense runs): Megatron-Bridge's GPT-OSS default, then the whole MLP, then full recompute.
# Memory counts what each leaves; the step time prices recompute only for full (recompute_modules' extra forward
# FLOPs are not added, so a row that needs "mlp" is predicted a little fast).
RECOMPUTE_LADDER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("selective", ("layernorm", "moe_act")), ("selective", ("layernorm", "mlp")), ("full", ()))


def predict(row: dict[str, str]) -> tuple[float, float, bool, dict[str, float | str]]:
    stated = row["recompute_modules"]
    if not stated.startswith("not stated"):
        return _predict(row, "selective", tuple(m for m in stated.split(";") if m))
    result = None
    for checkpointing, modules in RECOMPUTE_LADDER:
        result = _predict(row, checkpointing, modules)
        if result[2]:
            break
    assert result is not None
    return result


def _predict(row: dict[str, str], checkpointing: str, modules: tuple[str, ...]) -> tuple[float, float, bool, dict[str, float | str]]:
    arch = resolve_model(ModelSpec(preset=row["model"]))
    gpu_id = "H100-SXM-80GB" if row["gpu"] == "H800" else row["gpu"]
    gpu = gpu_catalog()[gpu_id]
    intra = 200.0 if row["gpu"] == "H800" else float(gpu.intra_node_gbps or 25.0)
    world, tp, pp, cp = int(row["gpus"]), int(row["tp"]), int(row["pp"]), int(row["cp"])
    vp, mbs, seq, gbs = int(row["vp"]), int(row["mbs"]), int(row["seq"]), int(row["gbs"])
    dp = world // (tp * pp * cp)
    layout = ExpertLayout(ep=int(row["ep"]), etp=int(row["etp"]), capacity_factor=None, dispatcher=row["dispatcher"],
                          a2a_overlap=row["a2a_overlap"] == "1")
    check_expert_layout(arch, layout.ep, layout.etp, tp, cp, dp)
    precision = "fp8" if row["precision"] == "fp8" else "amp_bf16"
    micro = gbs // (dp * mbs)
    dense_params = (arch.total_params - arch.expert_params_per_layer * arch.moe_layers) / (tp * pp)
    local_params = dense_params + arch.expert_params_per_layer * arch.moe_layers / (layout.ep * layout.etp * pp)
    base = predict_step_time(
        arch, gpu, precision=precision, seq=seq, micro_batch=mbs, num_micro_batches=micro, checkpointing=checkpointing,
        dp=dp, tp=tp, pp=pp, cp=cp, zero_stage=1, cpu_offload=False, gpus_per_node=8, intra_gbps=intra,
        inter_gbps=INTER_GBPS, params_per_gpu=local_params, grad_bytes=4, interleave=vp, fsdp_style=False,
    )
    moe = moe_time_per_micro_batch(
        arch, gpu, precision=precision, seq=seq, micro_batch=mbs, tp=tp, pp=pp, cp=cp, layout=layout,
        gpus_per_node=8, intra_gbps=intra, inter_gbps=INTER_GBPS, checkpointing=checkpointing,
        compute_mb_s=base.compute_s / micro,
    )
    stages = micro + (pp - 1) / vp if pp > 1 else micro
    step = base.step_s + stages * moe.per_micro_batch_s
    tokens_per_gpu = gbs * seq / step / world
    # Megatron-Bridge perf recipes (src/megatron/bridge/perf_recipes/_common.py): Megatron-Core layers, bf16 params and
    # gradient buffer (grad_reduce_in_fp32=False), fp32 master + Adam states in the distributed optimizer over DP, TE's
    # fused cross-entropy (loss_style="fused")
    local = local_expert_view(arch, tp, layout)
    mem = estimate_memory(
        local, precision="fp8" if precision == "fp8" else "megatron", optimizer="adamw", seq=seq, micro_batch=mbs,
        checkpointing=checkpointing, attention="sdpa", dp=dp, tp=tp, pp=pp, cp=cp, sp=True, zero_stage=1,
        num_micro_batches=micro, loss_style="fused", grad_reduce_in_fp32=False,
        expert_shard_group=tp * cp * dp // (layout.ep * layout.etp),
    )
    in_flight = min(pp, micro)
    extra = dispatch_activation_bytes(arch, layout, tokens=mbs * seq / cp * in_flight, pp=pp, tp=tp, act_bytes=2,
                                      checkpointing=checkpointing)
    saved = recompute_savings_bytes(arch, modules, tokens=mbs * seq / cp * in_flight, pp=pp, tp=tp)
    mem = mem._replace(peak_allocated=mem.peak_allocated + extra - saved)
    device = device_total_gib(mem, world)
    parts: dict[str, float | str] = {"recompute": checkpointing if checkpointing == "full" else ";".join(modules) or "-",
             "a2a_ms": moe.all_to_all_s * 1e3, "gemm_pen_ms": moe.expert_gemm_penalty_s * 1e3,
             "inter_share": moe.a2a_inter_node_share, "mem_gib": device, "alloc_gib": mem.peak_allocated / GIB}
    return tokens_per_gpu, device, device <= gpu.usable_memory_gib, parts


def main() -> None:
    with EVIDENCE.open(newline="") as f:
        rows = list(csv.DictReader(f))
    errs = []
    fits = 0
    print(f"{'row':32s} {'meas':>7s} {'pred':>7s} {'err%':>6s} {'a2a ms':>7s} {'inter':>5s} {'GiB':>6s} fits  recompute")
    for r in rows:
        pred, device, fit, parts = predict(r)
        meas = float(r["measured_tokens_per_s_per_gpu"])
        err = pred / meas - 1
        errs.append(abs(err))
        fits += fit
        print(f"{r['row_id']:32s} {meas:7.0f} {pred:7.0f} {err * 100:+6.1f} {parts['a2a_ms']:7.1f} "
              f"{parts['inter_share']:5.2f} {device:6.1f} {fit!s:5} {parts['recompute']}")
    print(f"rows {len(rows)}  median |err| {statistics.median(errs) * 100:.1f}%  max {max(errs) * 100:.1f}%  "
          f"within 20%: {sum(e <= 0.2 for e in errs)}/{len(errs)}  layouts expressible: {len(rows)}/{len(rows)}  "
          f"predicted to fit: {fits}/{len(rows)}")


if __name__ == "__main__":
    main()
