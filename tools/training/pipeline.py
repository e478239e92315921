"""Pipeline-parallel layer split and schedule arithmetic (1F1B and interleaved 1F1B), shared by memory, step time
and the Megatron/DeepSpeed artifacts.

- Uneven split: every middle stage holds k = ceil(L / p) layers; the first and last stages hold fewer, so the
  embedding (first) and the output head + loss (last) sit on lighter stages. This is Megatron-LM's
  `--decoder-first-pipeline-num-layers` / `--decoder-last-pipeline-num-layers` (megatron/core/transformer/
  transformer_config.py: the middle layers must divide evenly over the middle stages) and what Meta used for
  Llama 3 405B (126 layers on 16 stages: 7 + 14 x 8 + 7; Llama 3 paper, arXiv:2407.21783, section 3.3.2).
- 1F1B: stage i keeps min(p - i, m) micro-batches of activations (Narayanan et al. 2021, section 2.2);
  interleaved 1F1B with v chunks per rank: the first rank keeps L·(1 + (p-1)/(p·v)) layers' activations
  (Korthikanti et al. 2022, section 4.2.3; Megatron's warm-up of 2(p-1) + (v-1)p chunks), bubble (p-1)/(v·m).
"""

from __future__ import annotations


def stage_split(layers: int, pp: int) -> tuple[int, int, int] | None:
    """(first, middle, last) layers per stage, or None when p stages cannot each hold at least one layer."""
    if pp <= 1:
        return layers, layers, layers
    if layers < pp:
        return None
    k = -(-layers // pp)
    short = k * pp - layers
    first, last = k - (short + 1) // 2, k - short // 2
    if first < 1 or last < 1:
        return None
    return first, k, last


def is_even(layers: int, pp: int) -> bool:
    return pp <= 1 or layers % pp == 0


def accounts_for_ends(layers: int, pp: int) -> bool:
    """The uneven split is exactly "embedding and loss each count as one layer" (k-1, k, ..., k, k-1): Megatron's
    --account-for-embedding-in-pipeline-split --account-for-loss-in-pipeline-split, which also allows interleaving."""
    return pp > 1 and layers % pp != 0 and (layers + 2) % pp == 0


def interleave_ok(layers: int, pp: int, v: int, micro_batches: int) -> bool:
    """Interleaving needs p > 2 (Megatron without p2p overlap), the (layer + embedding + loss) count split evenly
    into p·v chunks, and a number of micro-batches divisible by p."""
    if v == 1:
        return True
    units = layers if layers % pp == 0 else (layers + 2 if accounts_for_ends(layers, pp) else 0)
    return pp > 2 and units > 0 and units % (pp * v) == 0 and micro_batches % pp == 0 and micro_batches >= pp


def first_stage_activation_layers(layers: int, pp: int, v: int, micro_batches: int, first: int) -> float:
    """Layer-activations (in units of one layer for one micro-batch) held by the first pipeline rank."""
    if pp <= 1:
        return float(layers)
    if v > 1:
        return layers * (1.0 + (pp - 1) / (pp * v))
    return float(first * min(pp, max(micro_batches, 1)))


def bubble_fraction(pp: int, v: int, micro_batches: int) -> float:
    return 0.0 if pp <= 1 else (pp - 1) / (v * max(micro_batches, 1))
