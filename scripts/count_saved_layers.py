"""Count the bytes autograd saves per token per layer for the layer types whose memory terms were derived this way
(MoE expert loop under autocast, GPT-2's unfused "gelu_new", attention wider than the hidden size, Qwen3's qk-norm, DeepSeek's MLA widths), on the CPU: the saved bytes of a 2-layer model minus
those of a 1-layer model, per token, in units of hidden_size bytes. Random weights, no download.

    .venv-training/bin/python scripts/count_saved_layers.py [--out bench/evidence/saved_layer_counts.json]

Counted as scripts/measure_saved_activations.py does (saved_tensors_hooks, unique storages, parameters excluded),
so 16-bit weight copies made by autocast are included: `cast_h` gives their share per token at this sequence length.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure_saved_activations import saved_bytes  # noqa: E402

SEQ = 512


def per_layer(make, vocab: int, hidden: int, mode: str) -> float:  # noqa: ANN001
    out = []
    for layers in (1, 2):
        torch.manual_seed(0)
        model = make(layers)
        if mode == "bf16":
            model = model.to(torch.bfloat16)
        ids = torch.randint(0, vocab, (1, SEQ))
        out.append(saved_bytes(model, lambda m=model, i=ids: m(input_ids=i, labels=i).loss, mode == "amp_bf16"))
    return (out[1] - out[0]) / SEQ / hidden


def main() -> None:
    import transformers as tr

    cli = argparse.ArgumentParser()
    cli.add_argument("--out", default="bench/evidence/saved_layer_counts.json")
    rows = []
    shapes = [("mixtral", h, f, k) for h, f, k in ((1024, 3584, 2), (1024, 3584, 1), (1024, 3584, 4), (512, 3584, 2), (1024, 1024, 2))]
    shapes += [("llama", 1024, 3584, 0), ("llama_wide_q", 1024, 3584, 0), ("qwen3", 1024, 3584, 0), ("gpt2", 1024, 4096, 0)]
    shapes += [("mla_32", 512, 1024, 0), ("mla_64", 512, 1024, 0)]  # DeepSeek-V3 MLA, dense layers, nope = v head 32 | 64
    for kind, h, f, k in shapes:
        if kind == "mixtral":
            def make(n: int, h: int = h, f: int = f, k: int = k) -> torch.nn.Module:
                return tr.MixtralForCausalLM(tr.MixtralConfig(
                    hidden_size=h, intermediate_size=f, num_hidden_layers=n, num_attention_heads=8, num_key_value_heads=8,
                    num_local_experts=8, num_experts_per_tok=k, vocab_size=1000, use_cache=False, attn_implementation="sdpa"))
            vocab = 1000
        elif kind in ("llama", "llama_wide_q"):  # wide q: head_dim 128, so q and the attention output are 2 x hidden
            def make(n: int, h: int = h, f: int = f, hd: int = 128 if kind == "llama_wide_q" else h // 16) -> torch.nn.Module:
                return tr.LlamaForCausalLM(tr.LlamaConfig(
                    hidden_size=h, intermediate_size=f, num_hidden_layers=n, num_attention_heads=16, num_key_value_heads=8,
                    head_dim=hd, vocab_size=1000, use_cache=False, attn_implementation="sdpa"))
            vocab = 1000
        elif kind.startswith("mla_"):
            def make(n: int, h: int = h, f: int = f, d: int = int(kind[4:])) -> torch.nn.Module:
                return tr.DeepseekV3ForCausalLM(tr.DeepseekV3Config(
                    hidden_size=h, intermediate_size=f, moe_intermediate_size=256, num_hidden_layers=n, num_attention_heads=8,
                    num_key_value_heads=8, n_routed_experts=4, num_experts_per_tok=2, first_k_dense_replace=n,
                    q_lora_rank=192, kv_lora_rank=64, qk_rope_head_dim=16, qk_nope_head_dim=d, v_head_dim=d,
                    vocab_size=1000, use_cache=False, attn_implementation="sdpa", rope_scaling=None))
            vocab = 1000
        elif kind == "qwen3":  # llama_wide_q's shape with Qwen3's q_norm/k_norm
            def make(n: int, h: int = h, f: int = f) -> torch.nn.Module:
                return tr.Qwen3ForCausalLM(tr.Qwen3Config(
                    hidden_size=h, intermediate_size=f, num_hidden_layers=n, num_attention_heads=16, num_key_value_heads=8,
                    head_dim=128, vocab_size=1000, use_cache=False, attn_implementation="sdpa"))
            vocab = 1000
        else:
            def make(n: int, h: int = h) -> torch.nn.Module:
                return tr.GPT2LMHeadModel(tr.GPT2Config(n_embd=h, n_layer=n, n_head=16, vocab_size=1000, attn_pdrop=0.0,
                                                        use_cache=False, attn_implementation="sdpa"))
            vocab = 1000
        for mode in ("fp32", "amp_bf16", "bf16"):
            saved = per_layer(make, vocab, h, mode)
            rows.append({"layer": kind, "hidden": h, "ffn": f, "top_k": k, "precision": mode, "seq": SEQ,
                         "saved_per_token_h": round(saved, 2)})
            print(f"{kind:8} h {h:5} ffn {f:5} top-k {k} {mode:8}: {saved:7.1f} x hidden bytes per token per layer")
    out = {"made_by": "scripts/count_saved_layers.py", "torch": torch.__version__, "transformers": tr.__version__,
           "note": "amp_bf16 includes the layer's 16-bit weight copies (attention, dense MLP) at seq 512", "rows": rows}
    Path(cli.parse_args().out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
