"""Peak GPU memory of QLoRA training steps with the stack the planner generates (transformers + bitsandbytes NF4 +
PEFT LoRA, autocast bf16, AdamW on the adapters): a Llama-3.2-1B-shaped model with random weights, saved once and
reloaded 4-bit (no download). One child process per configuration, so nothing lingers between rows. Rows as in
the shared data protocol: peak torch.cuda.max_memory_allocated over steps 2-3 (reset before each step).

    python scripts/measure_qlora_gpu.py --out bench/evidence/qlora_gpu.jsonl
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPE = {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
         "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": True}
ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# (quant, batch, seq, gradient checkpointing, lora dropout)
CONFIGS = [("nf4_double_quant", 1, 2048, False, 0.05), ("nf4_double_quant", 1, 2048, True, 0.05),
           ("nf4_double_quant", 4, 2048, True, 0.05), ("nf4", 1, 4096, False, 0.0), ("none", 1, 2048, False, 0.05)]


def child(path: str, quant: str, batch: int, seq: int, ckpt: bool, dropout: float) -> dict:
    import peft
    import torch
    import transformers as tr

    q = None if quant == "none" else tr.BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=quant == "nf4_double_quant",
        bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_storage=torch.uint8)
    model = tr.AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16, quantization_config=q,
                                                    attn_implementation="sdpa").to("cuda")
    if ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = peft.get_peft_model(model, peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=dropout, target_modules=ALL,
                                                       task_type="CAUSAL_LM"))
    model.train()  # from_pretrained returns eval mode: no dropout, and HF skips checkpointing outside training
    weights = torch.cuda.memory_allocated() / 2**30
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, SHAPE["vocab_size"], (batch, seq), device="cuda")
    peaks = []
    for _ in range(3):
        torch.cuda.reset_peak_memory_stats()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        peaks.append(torch.cuda.max_memory_allocated() / 2**30)
    return {"model": "llama-3.2-1b-shape", **SHAPE, "quant": quant, "batch": batch, "seq": seq, "grad_ckpt": ckpt,
            "lora": {"r": 16, "lora_alpha": 32, "lora_dropout": dropout, "target_modules": ALL}, "optimizer": "adamw",
            "autocast": "bf16", "attn": "sdpa", "weights_gib": round(weights, 4),
            "peak_alloc_gib": round(max(peaks[1:]), 4), "peaks_gib": [round(p, 4) for p in peaks],
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--child", nargs=6)
    args = ap.parse_args()
    if args.child:
        path, quant, b, s, ck, d = args.child
        print(json.dumps(child(path, quant, int(b), int(s), ck == "1", float(d))))
        return
    import bitsandbytes
    import peft
    import torch
    import transformers as tr

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        tr.LlamaForCausalLM(tr.LlamaConfig(**SHAPE)).to(torch.bfloat16).save_pretrained(tmp)
        rows = [{"meta": {"torch": torch.__version__, "transformers": tr.__version__, "peft": peft.__version__,
                          "bitsandbytes": bitsandbytes.__version__, "device": torch.cuda.get_device_name(),
                          "date": time.strftime("%Y-%m-%d")}}]
        for quant, b, s, ck, d in CONFIGS:
            out = subprocess.run([sys.executable, __file__, "--out", "-", "--child", tmp, quant, str(b), str(s),
                                  "1" if ck else "0", str(d)], capture_output=True, text=True, timeout=240)
            line = out.stdout.strip().splitlines()[-1] if out.returncode == 0 else json.dumps(
                {"config": [quant, b, s, ck, d], "error": out.stderr[-600:]})
            print(line, flush=True)
            rows.append(json.loads(line))
    Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
