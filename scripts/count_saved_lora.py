"""Count what autograd saves per decoder layer under PEFT LoRA (bf16 base, fp32 adapters, autocast bf16), on the
CPU or on a GPU: the saved bytes of a 2-layer Llama-3.2-1B-shaped model minus those of a 1-layer one, per token, in
units of hidden_size bytes, and the saved tensors of that extra layer by dtype and width (unique storages,
parameters excluded, as scripts/measure_saved_activations.py counts). Random weights, no download. Peak memory of
whole training steps is scripts/measure_qlora_gpu.py's job (one process per configuration).

    python scripts/count_saved_lora.py --device cuda --out bench/evidence/saved_lora_counts_cuda.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import torch

H, FFN, HEADS, KV, VOCAB = 2048, 8192, 32, 8, 128256
ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
CONFIGS = {"lora_all_d0.05": (ALL, 0.05, 16), "lora_all_d0": (ALL, 0.0, 16), "lora_qv_d0": (["q_proj", "v_proj"], 0.0, 64)}


def build(layers: int, targets: list[str], dropout: float, rank: int, device: str):  # noqa: ANN201
    import peft
    import transformers as tr

    cfg = tr.LlamaConfig(hidden_size=H, intermediate_size=FFN, num_hidden_layers=layers, num_attention_heads=HEADS,
                         num_key_value_heads=KV, vocab_size=VOCAB, tie_word_embeddings=True, attn_implementation="sdpa")
    torch.manual_seed(0)
    model = tr.LlamaForCausalLM(cfg).to(torch.bfloat16).to(device)
    return peft.get_peft_model(model, peft.LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=dropout,
                                                      target_modules=targets, task_type="CAUSAL_LM"))


def saved(model, ids: torch.Tensor, device: str) -> tuple[int, Counter]:  # noqa: ANN001
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, tuple[int, str]] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params and ptr not in seen:
            seen[ptr] = (t.untyped_storage().nbytes(), f"{str(t.dtype).removeprefix('torch.')} last={t.shape[-1] if t.dim() else 0}")
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.autocast(device, dtype=torch.bfloat16):
        out = model(input_ids=ids, labels=ids).loss
    del out
    kinds: Counter = Counter()
    for nbytes, kind in seen.values():
        kinds[kind] += nbytes
    return sum(n for n, _ in seen.values()), kinds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--out")
    args = ap.parse_args()
    import peft
    import transformers as tr

    rows = {"meta": {"torch": torch.__version__, "transformers": tr.__version__, "peft": peft.__version__,
                     "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu", "seq": args.seq}}
    ids = torch.randint(0, VOCAB, (1, args.seq), device=args.device)
    for name, (targets, dropout, rank) in CONFIGS.items():
        per = []
        for layers in (1, 2):
            total, kinds = saved(build(layers, targets, dropout, rank, args.device), ids, args.device)
            per.append((total, kinds))
        extra = per[1][1].copy()
        extra.subtract(per[0][1])
        rows[name] = {"h_units_per_token_layer": (per[1][0] - per[0][0]) / args.seq / H,
                      "by_kind_h_units": {k: v / args.seq / H for k, v in sorted(extra.items()) if v}}
        print(name, json.dumps(rows[name]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
