"""Every launch artifact of every framework option, for an 8B and a 70B decoder and a CNN (plus GPT-3, BERT, ViT
and Mixtral shapes), checked by the real libraries; prints how many each library accepted.

Run: python -m bench.training_artifacts [--json bench/results/training_artifacts.json]

Megatron-LM commands are checked here against the flag table of the pinned release (knowledge/megatron_args.json,
made by scripts/extract_megatron_flags.py from Megatron-LM's own argument parser); everything else runs in
.venv-training (torch, DeepSpeed, accelerate, Lightning, transformers) and .venv-tf (TensorFlow) through
tests/training_artifacts_check.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from ml_expert_mcp.tools.training.artifacts import launch_plan
from ml_expert_mcp.tools.training.context import build_context
from ml_expert_mcp.tools.training.inputs import ClusterSpec, ModelSpec, TrainingSpec
from ml_expert_mcp.tools.training.strategy import SelectDistributionRequest, select_distribution_strategy

ROOT = Path(__file__).resolve().parent.parent
FLAGS_FILE = ROOT / "knowledge" / "megatron_args.json"
CHECKER = ROOT / "tests" / "training_artifacts_check.py"
FRAMEWORKS = ("pytorch_fsdp", "deepspeed", "accelerate", "lightning", "megatron", "tensorflow")
# (preset, training, cluster, learning rate): the floor's three models first, then other architectures
SCENARIOS = [
    ("llama-3.1-8b", {"sequence_length": 8192}, {"nodes": 1}, 1e-5),
    ("llama-3.1-8b", {"sequence_length": 8192, "activation_checkpointing": "full"}, {"nodes": 8}, 3e-4),
    ("llama-3.1-70b", {"sequence_length": 4096}, {"nodes": 2}, 1.5e-4),
    ("llama-3.1-70b", {"sequence_length": 8192}, {"nodes": 8}, 1.5e-4),
    ("resnet-50", {"optimizer": "sgd_momentum", "global_batch_size": 1024}, {"gpu": "A100-SXM-80GB", "nodes": 1}, 0.4),
    ("resnet-50", {"optimizer": "sgd_momentum", "global_batch_size": 2048}, {"gpu": "A100-SXM-80GB", "nodes": 2}, 0.8),
    # op-level selective checkpointing in the FSDP2 code (torchtitan's policy), block recompute in Megatron's flags
    ("llama-3.1-8b", {"sequence_length": 8192, "activation_checkpointing": "selective"}, {"nodes": 2}, 3e-4),
    ("llama-3.1-70b", {"sequence_length": 4096, "global_batch_size": 96}, {"nodes": 3}, 1.5e-4),
]
EXTRA = [
    ("gpt3-175b", {"sequence_length": 2048, "global_batch_size": 1536}, {"gpu": "A100-SXM-80GB", "nodes": 128}, 6e-5),
    ("bert-large", {"sequence_length": 512, "global_batch_size": 256}, {"nodes": 1}, 1e-4),
    ("vit-b-16", {"sequence_length": 197, "global_batch_size": 4096}, {"nodes": 1}, 3e-3),
    ("mixtral-8x7b", {"sequence_length": 4096}, {"nodes": 4}, 1e-4),
]


def model_class(arch) -> str:  # noqa: ANN001
    if not arch.is_transformer:
        return "cnn"
    if arch.family == "vit":
        return "vit"
    if arch.family == "encoder":
        return "bert"
    return "llama" if arch.gated else "gpt"


def collect_items(scenarios: list) -> list[dict]:
    items = []
    for preset, training, cluster, lr in scenarios:
        for fw in FRAMEWORKS:
            req = SelectDistributionRequest(model=ModelSpec(preset=preset), training=TrainingSpec(**training),
                                            cluster=ClusterSpec(**cluster), framework=fw, top_k=3, learning_rate=lr)
            plan = select_distribution_strategy(req)
            ctx = build_context(req.model, req.training, req.cluster)
            for ranked in plan.ranked:
                launch = launch_plan(ranked, ctx, fw, plan.global_batch_size, lr)
                lay = ranked.layout
                items.append({
                    "id": f"{preset}|{cluster.get('nodes', 1)}n|{fw}|#{ranked.rank} {ranked.strategy}",
                    "framework": fw, "command": launch.command, "config": launch.config, "code": launch.code,
                    "meta": {"dp": lay.data_parallel, "tp": lay.tensor_parallel, "pp": lay.pipeline_parallel,
                             "cp": lay.context_parallel, "v": lay.virtual_pipeline_stages, "zero": lay.zero_stage,
                             "hybrid": lay.hybrid_shard, "offload": lay.cpu_offload, "micro": lay.micro_batch_size,
                             "accum": lay.gradient_accumulation_steps, "global_batch": plan.global_batch_size,
                             "nodes": ctx.cluster.nodes, "gpus_per_node": ctx.cluster.gpus_per_node,
                             "optimizer": ctx.training.optimizer, "lr": lr, "ckpt": lay.activation_checkpointing,
                             "model_class": model_class(ctx.arch), "layers": ctx.arch.layers,
                             "experts": ctx.arch.experts, "tied": ctx.arch.tied, "gated": ctx.arch.gated},
                })
    return items


def check_megatron(item: dict, table: dict) -> None:
    """Every flag known to the pinned Megatron-LM parser, values of the right type and choice, and the rules
    Megatron's validate_args / TransformerConfig assert for what the plan uses."""
    flags = table["flags"]
    meta = item["meta"]
    command = item["command"]
    words = shlex.split(item["config"].replace("\n", " "))
    seen: dict[str, str | None] = {}
    i = 0
    while i < len(words):
        flag = words[i]
        assert flag.startswith("--") and flag in flags, f"unknown Megatron flag {flag}"
        spec = flags[flag]
        value = None
        if spec["takes_value"]:
            value = words[i + 1]
            assert not value.startswith("--"), f"{flag} needs a value"
            if not value.startswith("$"):
                if spec["type"] == "int":
                    int(value)
                elif spec["type"] == "float":
                    float(value)
                if spec["choices"]:
                    assert value in spec["choices"], f"{flag} {value} not in {spec['choices']}"
            i += 2
        else:
            i += 1
        assert flag not in seen, f"{flag} given twice"
        seen[flag] = value
    assert "--use-flash-attn" not in seen
    assert int(seen["--tensor-model-parallel-size"]) == meta["tp"]
    assert int(seen["--pipeline-model-parallel-size"]) == meta["pp"]
    assert int(seen["--global-batch-size"]) == meta["global_batch"]
    if meta["tp"] > 1:
        assert command.startswith("CUDA_DEVICE_MAX_CONNECTIONS=1 "), "TP > 1 needs CUDA_DEVICE_MAX_CONNECTIONS=1"
        assert "--sequence-parallel" in seen
    if meta["experts"] > 1:
        assert {"--num-experts", "--moe-router-topk", "--expert-model-parallel-size"} <= set(seen)
    if not meta["tied"]:
        assert "--untie-embeddings-and-output-weights" in seen
    if meta["gated"]:
        assert {"--swiglu", "--rotary-base", "--normalization"} <= set(seen)
    assert {"--tokenizer-type", "--data-path", "--lr", "--train-iters"} <= set(seen)
    assert float(seen["--lr"]) == meta["lr"]
    if "--overlap-param-gather" in seen:
        assert "--use-distributed-optimizer" in seen and "--overlap-grad-reduce" in seen
    layers, pp = meta["layers"], meta["pp"]
    first, last = seen.get("--decoder-first-pipeline-num-layers"), seen.get("--decoder-last-pipeline-num-layers")
    units = layers + ("--account-for-embedding-in-pipeline-split" in seen) + ("--account-for-loss-in-pipeline-split" in seen)
    if first or last:  # megatron/core/transformer/transformer_config.py, uneven PP
        assert units == layers, "first/last stage sizes with account-for flags"
        middle = layers - int(first or 0) - int(last or 0)
        stages = pp - (first is not None) - (last is not None)
        assert bool(middle) == bool(stages) and (not stages or middle % stages == 0)
    else:  # megatron/training/arguments.py: (layers + accounted embedding/loss) % pp == 0
        assert units % pp == 0, "layers not divisible by PP without first/last stage sizes"
    if meta["v"] > 1:  # arguments.py: layers per stage divisible by layers per virtual stage; pp > 2
        per = int(seen["--num-layers-per-virtual-pipeline-stage"])
        assert (units // pp) % per == 0 and pp > 2 and meta["accum"] % pp == 0


def venv_python(name: str) -> Path | None:
    path = ROOT / name / "bin" / "python"
    return path if path.exists() else None


def run_checks(items: list[dict]) -> list[dict]:
    results = []
    table = json.loads(FLAGS_FILE.read_text())
    meg = [it for it in items if it["framework"] == "megatron"]
    for item in meg:
        try:
            check_megatron(item, table)
            results.append({"id": item["id"], "check": "megatron", "ok": True, "error": ""})
        except Exception as exc:  # noqa: BLE001
            results.append({"id": item["id"], "check": "megatron", "ok": False, "error": f"{type(exc).__name__}: {exc}"})
    groups = [(".venv-training", [dict(it, framework="torchrun") if it["framework"] == "megatron" else it
                                  for it in items if it["framework"] != "tensorflow"]),
              (".venv-tf", [it for it in items if it["framework"] == "tensorflow"])]
    for venv, group in groups:
        if not group:
            continue
        python = venv_python(venv)
        if python is None:
            results += [{"id": it["id"], "check": it["framework"], "ok": False, "error": f"{venv} missing"} for it in group]
            continue
        with tempfile.TemporaryDirectory() as tmp:
            src, out = Path(tmp, "items.json"), Path(tmp, "results.json")
            src.write_text(json.dumps(group))
            env = {**os.environ, "PYTHONWARNINGS": "ignore", "TF_CPP_MIN_LOG_LEVEL": "3"}
            proc = subprocess.run([str(python), str(CHECKER), str(src), str(out)], capture_output=True, text=True,
                                  timeout=3000, env=env)
            if not out.exists():
                raise RuntimeError(f"checker failed in {venv}: {proc.stderr[-3000:]}")
            for r in json.loads(out.read_text()):
                if r["check"] == "torchrun" and "|megatron|" in r["id"]:
                    r["check"] = "torchrun"
                results.append(r)
    return results


def summarise(items: list[dict], results: list[dict]) -> dict:
    by_item: dict[str, list[dict]] = {}
    for r in results:
        by_item.setdefault(r["id"], []).append(r)
    per_fw: Counter = Counter()
    ok_fw: Counter = Counter()
    for it in items:
        rs = by_item.get(it["id"], [])
        per_fw[it["framework"]] += 1
        if rs and all(r["ok"] for r in rs):
            ok_fw[it["framework"]] += 1
    return {"artifacts": len(items), "accepted": sum(ok_fw.values()), "checks": len(results),
            "checks_passed": sum(r["ok"] for r in results),
            "per_framework": {fw: f"{ok_fw[fw]}/{per_fw[fw]}" for fw in FRAMEWORKS},
            "failures": [r for r in results if not r["ok"]]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default="bench/results/training_artifacts.json")
    parser.add_argument("--floor-only", action="store_true", help="only the 8B, 70B and CNN scenarios")
    args = parser.parse_args()
    items = collect_items(SCENARIOS if args.floor_only else SCENARIOS + EXTRA)
    results = run_checks(items)
    summary = summarise(items, results)
    models = Counter(it["id"].split("|")[0] for it in items)
    print(f"Training artifacts checked by their libraries ({', '.join(f'{m}: {n}' for m, n in models.items())}):")
    for fw, frac in summary["per_framework"].items():
        print(f"  {fw:13} {frac} accepted")
    print(f"  total: {summary['accepted']}/{summary['artifacts']} artifacts accepted "
          f"({summary['checks_passed']}/{summary['checks']} library checks passed)")
    for f in summary["failures"][:20]:
        print(f"  REJECTED {f['id']} [{f['check']}]: {f['error'].splitlines()[0][:300]}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
