"""Measure peak GPU memory and step time of real training steps for the architectures the decoder file does not
cover (ResNet-50, ViT-B/16, BERT-large, a small Mixtral-style MoE, a tied-embedding 128k-vocabulary decoder) and a
few LoRA fine-tuning steps, with the protocol of ../shared/data/README.md (h100_training_memory.jsonl):

- the model is built directly on the GPU in fp32 (`pure_bf16` then casts it to bf16); random weights, no download;
- `weights_gib`: allocated memory after the model is built; peak statistics reset, then 4 steps: forward, loss,
  `backward()`, `opt.step()`, `opt.zero_grad(set_to_none=True)`; `amp_bf16` = fp32 weights under
  `torch.autocast(bfloat16)`; AdamW is `torch.optim.AdamW(fused=True)`, SGD has momentum 0.9;
- `peak_alloc_gib` = `torch.cuda.max_memory_allocated()` over the 4 steps (weights included, CUDA context
  excluded); `peak_reserved_gib` = `max_memory_reserved()`; step time = median of steps 2-4.
- LoRA rows: `peft.LoraConfig` on a frozen base in bf16 (the base's 16-bit weights, adapters in fp32, AdamW on the
  adapters only), as `peft.get_peft_model` sets them up.

Run on the GPU machine:  python scripts/measure_gpu_training_memory.py --out "$OUT"
Smoke test on a CPU:    python scripts/measure_gpu_training_memory.py --smoke --out /tmp/m
Results are kept as bench/evidence/gpu_training_memory.jsonl with the device and versions in its first row.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure_saved_activations import ResNet50  # noqa: E402 - one definition of the graph for CPU and GPU

GIB = float(1 << 30)


def models(smoke: bool) -> dict[str, Callable[[], tuple[torch.nn.Module, Callable[..., torch.Tensor], dict]]]:
    import transformers as tr

    def resnet() -> tuple:
        return ResNet50(), lambda m, b, s: torch.nn.functional.cross_entropy(
            m(torch.randn(b, 3, 224, 224, device=DEV)), torch.randint(0, 1000, (b,), device=DEV)), {"family": "cnn"}

    def vit() -> tuple:
        cfg = tr.ViTConfig(attention_probs_dropout_prob=0.0, attn_implementation="sdpa")
        if smoke:
            cfg.num_hidden_layers = 2
        return tr.ViTForImageClassification(cfg), lambda m, b, s: m(
            pixel_values=torch.randn(b, 3, 224, 224, device=DEV), labels=torch.randint(0, 2, (b,), device=DEV)).loss, {
            "family": "vit"}

    def bert() -> tuple:
        cfg = tr.BertConfig(hidden_size=1024, num_hidden_layers=2 if smoke else 24, num_attention_heads=16,
                            intermediate_size=4096, attention_probs_dropout_prob=0.0, attn_implementation="sdpa")
        return tr.BertForMaskedLM(cfg), _lm_step(30522), {"family": "encoder", "hidden": 1024, "layers": cfg.num_hidden_layers,
                                                           "heads": 16, "ffn": 4096, "vocab": 30522}

    def moe() -> tuple:
        cfg = tr.MixtralConfig(hidden_size=1024, intermediate_size=3584, num_hidden_layers=2 if smoke else 8,
                               num_attention_heads=16, num_key_value_heads=8, num_local_experts=8, num_experts_per_tok=2,
                               vocab_size=32000, use_cache=False, attn_implementation="sdpa")
        return tr.MixtralForCausalLM(cfg), _lm_step(32000), {
            "family": "decoder", "hidden": 1024, "layers": cfg.num_hidden_layers, "heads": 16, "kv_heads": 8, "ffn": 3584,
            "vocab": 32000, "experts": 8, "top_k": 2}

    def tied() -> tuple:  # Llama 3.2 1B's shape (config.json of meta-llama/Llama-3.2-1B)
        cfg = tr.LlamaConfig(hidden_size=2048, intermediate_size=8192, num_hidden_layers=2 if smoke else 16,
                             num_attention_heads=32, num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True,
                             use_cache=False, attn_implementation="sdpa")
        return tr.LlamaForCausalLM(cfg), _lm_step(128256), {
            "family": "decoder", "hidden": 2048, "layers": cfg.num_hidden_layers, "heads": 32, "kv_heads": 8, "ffn": 8192,
            "vocab": 128256, "tied": True}

    def qwen1() -> tuple:  # Qwen-1.8B's shape (Qwen1 config.json) as a Qwen2 model: q/k/v with bias, untied head
        cfg = tr.Qwen2Config(hidden_size=2048, intermediate_size=5504, num_hidden_layers=2 if smoke else 24,
                             num_attention_heads=16, num_key_value_heads=16, vocab_size=151936, tie_word_embeddings=False,
                             use_cache=False, attn_implementation="sdpa")
        return tr.Qwen2ForCausalLM(cfg), _lm_step(151936), {
            "family": "decoder", "hidden": 2048, "layers": cfg.num_hidden_layers, "heads": 16, "kv_heads": 16, "ffn": 5504,
            "vocab": 151936}

    def gpt2() -> tuple:  # GPT-2 medium's shape: LayerNorm, GELU MLP, tied 50257-token head
        cfg = tr.GPT2Config(n_embd=1024, n_layer=2 if smoke else 24, n_head=16, vocab_size=50257, n_positions=1024,
                            attn_pdrop=0.0, use_cache=False, attn_implementation="sdpa")
        return tr.GPT2LMHeadModel(cfg), _lm_step(50257), {
            "family": "decoder", "hidden": 1024, "layers": cfg.n_layer, "heads": 16, "ffn": 4096, "vocab": 50257,
            "tied": True, "gated": False}

    def vit_large() -> tuple:
        cfg = tr.ViTConfig(hidden_size=1024, num_hidden_layers=2 if smoke else 24, num_attention_heads=16,
                           intermediate_size=4096, attention_probs_dropout_prob=0.0, attn_implementation="sdpa")
        return tr.ViTForImageClassification(cfg), lambda m, b, s: m(
            pixel_values=torch.randn(b, 3, 224, 224, device=DEV), labels=torch.randint(0, 2, (b,), device=DEV)).loss, {
            "family": "vit", "hidden": 1024, "layers": cfg.num_hidden_layers}

    def bert_base() -> tuple:
        cfg = tr.BertConfig(num_hidden_layers=2 if smoke else 12, attention_probs_dropout_prob=0.0, attn_implementation="sdpa")
        return tr.BertForMaskedLM(cfg), _lm_step(30522), {"family": "encoder", "hidden": 768, "layers": cfg.num_hidden_layers,
                                                           "heads": 12, "ffn": 3072, "vocab": 30522}

    return {"gpt2-medium-shape": gpt2, "vit-l-16": vit_large, "bert-base": bert_base, "qwen1-1.8b-shape": qwen1, "resnet-50": resnet, "vit-b-16": vit, "bert-large": bert, "moe-8x-h1024": moe, "llama-3.2-1b-shape": tied}


def _lm_step(vocab: int) -> Callable[..., torch.Tensor]:
    def step(m: torch.nn.Module, b: int, s: int) -> torch.Tensor:
        ids = torch.randint(0, vocab, (b, s), device=DEV)
        return m(input_ids=ids, labels=ids).loss
    return step


DEV = "cuda"


def run_one(build: Callable[[], tuple], name: str, precision: str, optimizer: str, batch: int, seq: int,
            grad_ckpt: bool = False, lora: dict | str | None = None) -> dict:
    torch.manual_seed(0)
    attn = "sdpa"
    if lora == "eager":
        attn, lora = "eager", None
    with torch.device(DEV):
        model, step, info = build()
    if attn == "eager":
        model.set_attn_implementation("eager")
    model.train()
    if precision == "pure_bf16" or lora:
        model.to(torch.bfloat16)
    if grad_ckpt:
        model.gradient_checkpointing_enable()
        if lora:
            model.enable_input_require_grads()
    if lora:
        import peft

        model = peft.get_peft_model(model, peft.LoraConfig(**lora))
        for p in model.parameters():
            if p.requires_grad:
                p.data = p.data.float()  # peft/TRL keep trainable adapter weights in fp32
    params = sum(p.numel() for p in model.parameters())
    trainable = [p for p in model.parameters() if p.requires_grad]
    sync()
    if DEV == "cuda":
        torch.cuda.empty_cache()  # drop the fp32 blocks a bf16 cast freed, or they stay in max_memory_reserved
    weights = alloc()
    if optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(trainable, lr=1e-4, fused=DEV == "cuda")
    else:
        opt = torch.optim.SGD(trainable, lr=1e-3, momentum=0.9)
    reset()
    times, after_first = [], 0.0
    amp = precision == "amp_bf16" or bool(lora)
    for i in range(4):
        t0 = time.perf_counter()
        with torch.autocast(DEV, dtype=torch.bfloat16, enabled=amp):
            loss = step(model, batch, seq)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        times.append(time.perf_counter() - t0)
        if i == 0:
            after_first = alloc()
    med = statistics.median(times[1:])
    row = {"model": name, **info, "precision": "lora_bf16_amp" if lora else precision, "optimizer": optimizer,
           "batch": batch, "seq": seq, "grad_ckpt": grad_ckpt, "attn": attn, "lora": lora, "params": params,
           "trainable_params": sum(p.numel() for p in trainable), "weights_gib": round(weights, 4),
           "after_first_step_gib": round(after_first, 4), "peak_alloc_gib": round(peak_alloc(), 4),
           "peak_reserved_gib": round(peak_reserved(), 4), "step_s_median": round(med, 5),
           "samples_per_s": round(batch / med, 1)}
    del model, opt, loss
    gc.collect()
    if DEV == "cuda":
        torch.cuda.empty_cache()
    return row


def sync() -> None:
    if DEV == "cuda":
        torch.cuda.synchronize()


def alloc() -> float:
    return torch.cuda.memory_allocated() / GIB if DEV == "cuda" else 0.0


def reset() -> None:
    if DEV == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_alloc() -> float:
    return torch.cuda.max_memory_allocated() / GIB if DEV == "cuda" else 0.0


def peak_reserved() -> float:
    return torch.cuda.max_memory_reserved() / GIB if DEV == "cuda" else 0.0


LORA_ALL = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "bias": "none", "task_type": "CAUSAL_LM",
            "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}
LORA_QWEN = {**LORA_ALL, "r": 64, "lora_alpha": 16}  # Qwen1 README profiling: r 64, alpha 16, dropout 0.05, all Linear
LORA_ATTN = {**LORA_ALL, "r": 64, "lora_dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}


def plan(smoke: bool, which: str = "main") -> list[tuple]:
    """(model, precision, optimizer, batch, seq, grad_ckpt, lora); ordered so the cheapest run first.
    `second`: the rows added in the second run (other shapes, checkpointing, eager attention) and the bf16/LoRA rows
    again, measured after `empty_cache()` so `peak_reserved_gib` no longer holds the freed fp32 build."""
    if which == "second" and not smoke:
        rows = [("gpt2-medium-shape", p, "adamw", 8, 1024, False, None) for p in ("amp_bf16", "fp32")]
        rows += [("gpt2-medium-shape", "amp_bf16", "adamw", 16, 1024, True, None)]
        rows += [("vit-l-16", "amp_bf16", "adamw", b, 197, False, None) for b in (32, 96)]
        rows += [("bert-base", p, "adamw", 32, 512, False, None) for p in ("amp_bf16", "fp32")]
        rows += [("bert-large", "amp_bf16", "adamw", 32, 512, True, None), ("resnet-50", "amp_bf16", "sgd", 128, 1, False, None),
                 ("resnet-50", "amp_bf16", "sgd", 512, 1, False, None), ("moe-8x-h1024", "amp_bf16", "adamw", 8, 2048, True, None),
                 ("moe-8x-h1024", "pure_bf16", "adamw", 8, 2048, False, None),
                 ("llama-3.2-1b-shape", "pure_bf16", "adamw", 4, 2048, False, None),
                 ("llama-3.2-1b-shape", "amp_bf16", "adamw", 2, 2048, False, "eager")]
        rows += [("llama-3.2-1b-shape", "lora", "adamw", b, 2048, ck, LORA_ALL) for b, ck in ((1, False), (4, True), (8, True))]
        rows += [("llama-3.2-1b-shape", "lora", "adamw", 4, 2048, False, LORA_ATTN)]
        rows += [("qwen1-1.8b-shape", "lora", "adamw", 1, s, True, LORA_QWEN) for s in (256, 512, 1024, 2048, 4096, 8192)]
        return rows
    if smoke:
        return [("resnet-50", "amp_bf16", "sgd", 2, 1, False, None), ("vit-b-16", "fp32", "adamw", 1, 197, False, None),
                ("bert-large", "amp_bf16", "adamw", 1, 64, False, None), ("moe-8x-h1024", "amp_bf16", "adamw", 1, 64, False, None),
                ("llama-3.2-1b-shape", "pure_bf16", "adamw", 1, 64, True, None),
                ("llama-3.2-1b-shape", "lora", "adamw", 1, 64, True, LORA_ALL),
                ("qwen1-1.8b-shape", "lora", "adamw", 1, 64, True, LORA_QWEN)]
    rows = []
    for prec in ("amp_bf16", "fp32"):
        for opt in ("sgd", "adamw"):
            for b in ((64, 256) if opt == "sgd" else (128,)):
                rows.append(("resnet-50", prec, opt, b, 1, False, None))
    rows += [("vit-b-16", p, "adamw", b, 197, False, None) for p in ("amp_bf16", "fp32") for b in (32, 128)]
    rows += [("bert-large", p, "adamw", b, s, False, None) for p in ("amp_bf16", "fp32") for b, s in ((32, 128), (8, 512))]
    rows += [("bert-large", "amp_bf16", "adamw", 32, 512, False, None)]
    rows += [("moe-8x-h1024", "amp_bf16", "adamw", b, 2048, False, None) for b in (1, 4, 8)]
    rows += [("moe-8x-h1024", "pure_bf16", "adamw", 8, 2048, False, None)]
    rows += [("llama-3.2-1b-shape", "amp_bf16", "adamw", b, 2048, False, None) for b in (1, 4)]
    rows += [("llama-3.2-1b-shape", "amp_bf16", "adamw", 8, 2048, True, None),
             ("llama-3.2-1b-shape", "pure_bf16", "adamw", 4, 2048, False, None)]
    rows += [("llama-3.2-1b-shape", "lora", "adamw", b, 2048, ck, LORA_ALL) for b, ck in ((1, False), (4, True), (8, True))]
    rows += [("llama-3.2-1b-shape", "lora", "adamw", 4, 2048, False, LORA_ATTN)]
    rows += [("qwen1-1.8b-shape", "lora", "adamw", 1, s, True, LORA_QWEN) for s in (256, 2048, 8192)]
    return rows


def main() -> None:
    global DEV
    cli = argparse.ArgumentParser()
    cli.add_argument("--out", required=True)
    cli.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU, to check the script runs")
    cli.add_argument("--plan", choices=("main", "second"), default="main", help="which set of configurations")
    cli.add_argument("--budget-s", type=float, default=300.0, help="start no new configuration after this many seconds")
    args = cli.parse_args()
    DEV = "cpu" if args.smoke else "cuda"
    import transformers

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "transformers": transformers.__version__,
            "device": torch.cuda.get_device_name(0) if DEV == "cuda" else "cpu",
            "total_mem_gib": round(torch.cuda.get_device_properties(0).total_memory / GIB, 4) if DEV == "cuda" else 0.0}
    try:
        import peft

        meta["peft"] = peft.__version__
    except ImportError:
        meta["peft"] = None
    print(json.dumps(meta), flush=True)
    if DEV == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    builders = models(args.smoke)
    start = time.perf_counter()
    path = out / ("gpu_training_memory.jsonl" if args.plan == "main" else "gpu_training_memory_second.jsonl")
    with path.open("w") as f:
        f.write(json.dumps({"meta": meta}) + "\n")
        for name, prec, opt, b, s, ck, lora in plan(args.smoke, args.plan):
            if time.perf_counter() - start > args.budget_s:
                print(f"budget reached, skipped {name} {prec} b{b}", flush=True)
                continue
            if isinstance(lora, dict) and meta["peft"] is None:
                continue
            t0 = time.perf_counter()
            try:
                row = run_one(builders[name], name, prec, opt, b, s, ck, lora)
            except torch.OutOfMemoryError:
                row = {"model": name, "precision": prec, "optimizer": opt, "batch": b, "seq": s, "grad_ckpt": ck, "oom": True}
                gc.collect()
                torch.cuda.empty_cache()
            except Exception as exc:  # noqa: BLE001 - record and go on
                traceback.print_exc()
                row = {"model": name, "precision": prec, "batch": b, "seq": s, "error": repr(exc)[:300]}
            row["wall_s"] = round(time.perf_counter() - t0, 2)
            f.write(json.dumps(row) + "\n")
            f.flush()
            print(json.dumps({k: row.get(k) for k in ("model", "precision", "optimizer", "batch", "seq", "grad_ckpt",
                                                      "peak_alloc_gib", "peak_reserved_gib", "step_s_median", "wall_s")}), flush=True)


if __name__ == "__main__":
    main()
