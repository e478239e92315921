"""PEFT memory accuracy: predicted peak memory vs measured rows of bench/evidence/peft_memory.csv.

    python -m bench.peft_accuracy            # table + summary
    python -m bench.peft_accuracy --summary  # summary only

Each row is compared in the kind of memory its source reports: allocated/active
(torch.cuda.max_memory_allocated), reserved (max_memory_reserved) or device (reserved + CUDA context).
Beside ours: Kubeflow MCP's rule of thumb (weights x bytes + 5% + 30% of weights + 2 GB) and gpu_poor's
training formula (RahulSChand/gpu_poor src/App.js @ad2fc0e, LoRA rank fixed at 8, overhead 650 MB),
both on the same rows. No constant of ours is fitted on these rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from ml_expert_mcp.knowledge import gpu_catalog
from ml_expert_mcp.tools.training.finetuning import finetune_memory
from ml_expert_mcp.tools.training.finetuning_inputs import FinetuningSpec
from ml_expert_mcp.tools.training.inputs import ModelSpec
from ml_expert_mcp.tools.training.memory import (
    CUDA_CONTEXT_GIB,
    FRAGMENTATION,
    NCCL_BUFFERS_GIB,
    deepspeed_bucket_bytes,
)
from ml_expert_mcp.tools.training.model_arch import Architecture, resolve_model

EVIDENCE = Path(__file__).parent / "evidence" / "peft_memory.csv"
GIB = float(1 << 30)
MIB = float(1 << 20)


def load_rows(path: Path = EVIDENCE) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def row_model(row: dict[str, str]) -> ModelSpec:
    if row["model"]:
        return ModelSpec(preset=row["model"])
    fields = dict(kv.split("=") for kv in row["hf_fields"].split(";"))
    return ModelSpec(**{k: int(v) for k, v in fields.items()})


def row_finetuning(row: dict[str, str]) -> FinetuningSpec:
    targets: str | list[str] = row["targets"] or "all_linear"
    if targets not in ("all_linear", "attention"):
        targets = targets.split(",")
    levers = [name for name, col in (("paged_optimizer", "paged"), ("optimizer_in_backward", "opt_in_bwd"),
                                     ("activation_offloading", "act_offload"), ("compile", "compile"),
                                     ("chunked_cross_entropy", "chunked_ce")) if row[col]]
    if row["logits_fp32"] == "0":
        levers.append("loss_16bit")
    return FinetuningSpec(
        method=row["method"], rank=int(row["rank"] or 16), target_modules=targets,
        lora_dropout=float(row["dropout"] or 0), base_quantization=row["base_quant"] or None,
        also_train=["embeddings", "lm_head"] if row["train_emb_head"] else [], stack=row["stack"], levers=levers,
    )


@dataclass(frozen=True)
class Scored:
    row_id: str
    kind: str
    measured_gib: float | None
    ours_gib: float
    ours_device_gib: float
    usable_gib: float
    kubeflow_gib: float
    gpu_poor_gib: float
    oom: bool


def predict(row: dict[str, str]) -> Scored:
    arch = resolve_model(row_model(row))
    ft = row_finetuning(row)
    gpus = int(row["gpus"] or 1)
    precision = {"fp16": "bf16"}.get(row["precision"], row["precision"])
    fm = finetune_memory(
        arch, ft, precision=precision, optimizer=row["optimizer"], seq=int(row["seq"]),
        micro_batch=int(row["micro_batch"]), checkpointing=row["checkpointing"], attention="sdpa", dp=gpus,
        zero_stage=int(row["zero_stage"] or 0), cpu_offload=bool(row["cpu_offload"]),
        num_micro_batches=int(row["grad_accum"] or 1),
        # DeepSpeed ZeRO-1/2 rows: the gradient buckets of the row's own config
        backward_buffers=deepspeed_bucket_bytes(int(row["zero_stage"] or 0), 2.0, float(row["ds_reduce_bucket"]))
        if row["ds_reduce_bucket"] else 0.0,
    )
    alloc = fm.terms.peak_allocated / GIB
    reserved = alloc * FRAGMENTATION
    # DeepSpeed (zero_stage given) initialises NCCL even on one GPU (deepspeed.init_distributed)
    device = reserved + CUDA_CONTEXT_GIB + (NCCL_BUFFERS_GIB if gpus > 1 or int(row["zero_stage"] or 0) else 0.0)
    kind = row["measure"]
    ours = {"allocated": alloc, "active": alloc, "reserved": reserved, "device": device}[kind]
    measured = None
    if row["measured"]:
        measured = float(row["measured"]) * (1e9 / GIB if row["unit"] == "GB" else 1.0)
    return Scored(row["row_id"], kind, measured, ours, device, gpu_catalog()[row["gpu"]].usable_memory_gib,
                  kubeflow_rule(arch, ft, gpus), gpu_poor(arch, ft, int(row["seq"]), int(row["micro_batch"]),
                                                     row["checkpointing"] == "full"), bool(row["oom"]))


def kubeflow_rule(arch: Architecture, ft: FinetuningSpec, gpus: int) -> float:
    """Kubeflow MCP server's sizing rule: weights x bytes + 5% + 30% of weights + 2 GB (GiB per GPU)."""
    q = ft.base_quantization or ("nf4" if ft.method == "qlora" else "none")
    bytes_ = {"none": 2.0, "int8": 1.0}.get(q, 0.5)
    w = arch.total_params * bytes_ / 1e9
    return (w + 0.05 * w + 0.30 * w + 2.0) * 1e9 / GIB / gpus


def gpu_poor(arch: Architecture, ft: FinetuningSpec, seq: int, batch: int, ckpt: bool) -> float:
    """gpu_poor's training total (src/App.js getAllComputedData, 'trn' path), in GiB."""
    h, L, f, V, a = arch.hidden, arch.layers, arch.ffn, arch.vocab, arch.heads
    size = V * h * 2 + L * 4 * h * h + L * 3 * f * h
    model_mb = size * 2 / MIB
    qlora = ft.method == "qlora"
    if qlora:
        model_mb = 0.06 * model_mb + model_mb / 4 - size * 2 / (64 * MIB)
    fb = 2
    attn = seq * h * 3 * fb + seq * h * 2 * fb + seq * seq * a * fb + seq * seq * a * 4 + seq * seq * a * fb + 3 * seq * h * fb
    ffn = 2 * h * seq * fb + fb * 5 * seq * f + f * seq * fb
    norm = seq * 4 * 2 + seq * h * fb * 6
    act_mb = (attn + ffn + norm) * L * batch / MIB * (0.15 if ckpt else 1.0)
    common = (15 * h + 6 * f) * L
    extra = 0.75 * common * 50 * math.sqrt(max(seq / 50, 1.0))
    if ft.method == "full":
        opt = size * 3 * 2
    elif qlora:
        opt = L * 8 * h * 0.5 * 4 * 3 + extra * batch
    else:
        opt = L * 8 * h * 2 * 4 * 3 * 2
    return (model_mb + act_mb + opt / MIB + 650) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--summary", action="store_true")
    args = parser.parse_args()
    scored = [predict(r) for r in load_rows()]
    measured = [s for s in scored if s.measured_gib is not None]
    if not args.summary:
        print(f"{'row':44s} {'kind':9s} {'meas':>6s} {'ours':>6s} {'err%':>6s} {'kubeflow':>8s} {'gpu_poor':>8s}")
        for s in scored:
            m = f"{s.measured_gib:6.1f}" if s.measured_gib is not None else "   OOM"
            e = f"{(s.ours_gib / s.measured_gib - 1) * 100:+6.1f}" if s.measured_gib else f"{'fits' if s.ours_device_gib <= s.usable_gib else 'OOM':>6s}"
            print(f"{s.row_id:44s} {s.kind:9s} {m} {s.ours_gib:6.1f} {e} {s.kubeflow_gib:8.1f} {s.gpu_poor_gib:8.1f}")
    for name, get in (("ours", lambda s: s.ours_gib), ("kubeflow_rule", lambda s: s.kubeflow_gib),
                      ("gpu_poor", lambda s: s.gpu_poor_gib)):
        errs = [abs(get(s) / s.measured_gib - 1) for s in measured]
        within = sum(e <= 0.15 for e in errs) / len(errs)
        print(f"{name:14s} rows {len(errs)}  median |err| {statistics.median(errs) * 100:5.1f}%  "
              f"within 15%: {within * 100:5.1f}%  max {max(errs) * 100:6.1f}%")
    ooms = [s for s in scored if s.oom]
    caught = sum(s.ours_device_gib > s.usable_gib for s in ooms)
    print(f"reported OOM rows: {len(ooms)}, caught by ours: {caught}; "
          f"kubeflow caught {sum(s.kubeflow_gib > s.usable_gib for s in ooms)}, "
          f"gpu_poor caught {sum(s.gpu_poor_gib > s.usable_gib for s in ooms)}")
    own_gpu_rows()


GPU_RUN = Path(__file__).parent / "evidence" / "gpu_training_memory_run2.jsonl"
GPU_LORA_MODELS = {"llama-3.2-1b-shape": ModelSpec(preset="llama-3.2-1b"),
                   "qwen1-1.8b-shape": ModelSpec(hidden_size=2048, num_hidden_layers=24, num_attention_heads=16,
                                                 intermediate_size=5504, vocab_size=151936)}
LLAMA_ALL_LINEAR = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


QLORA_RUN = Path(__file__).parent / "evidence" / "qlora_gpu.jsonl"


def own_gpu_rows(paths: tuple[Path, ...] = (GPU_RUN, QLORA_RUN)) -> None:
    """LoRA and QLoRA steps measured on one H200 with peft + transformers (+ bitsandbytes NF4), beside the published
    rows (scripts/measure_gpu_training_memory.py, scripts/measure_qlora_gpu.py): the Qwen-1.8B shape repeats the Qwen
    README's profiling setup on a current stack."""
    print("Own H200 LoRA/QLoRA measurements (" + ", ".join(f"bench/evidence/{p.name}" for p in paths) + "; peak allocated):")
    errs = []
    for path in paths:
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if not isinstance(r.get("lora"), dict):
                continue
            lora, quant = r["lora"], r.get("quant", "none")
            targets = "all_linear" if set(lora["target_modules"]) == LLAMA_ALL_LINEAR else list(lora["target_modules"])
            ft = FinetuningSpec(method="lora" if quant == "none" else "qlora", rank=lora["r"], target_modules=targets,
                                lora_dropout=lora["lora_dropout"], **({} if quant == "none" else {"base_quantization": quant}))
            fm = finetune_memory(resolve_model(GPU_LORA_MODELS[r["model"]]), ft, precision="bf16", optimizer="adamw",
                                 seq=r["seq"], micro_batch=r["batch"], checkpointing="full" if r["grad_ckpt"] else "none",
                                 attention="sdpa")
            pred, meas = fm.terms.peak_allocated / GIB, r["peak_alloc_gib"]
            errs.append(abs(pred - meas) / meas)
            print(f"  {r['model']:18s} {quant:16s} r{lora['r']:<3d} "
                  f"{'all-linear' if targets == 'all_linear' else ','.join(targets):15s} drop {lora['lora_dropout']:<4g} "
                  f"batch {r['batch']} x {r['seq']:4d} ckpt {int(r['grad_ckpt'])}: measured {meas:6.2f} ours {pred:6.2f} "
                  f"({(pred - meas) / meas * 100:+5.1f}%)")
    print(f"  median |err| {statistics.median(errs) * 100:.1f}%, within 15%: {sum(e <= 0.15 for e in errs)}/{len(errs)}")


if __name__ == "__main__":
    main()
