"""Issue 17 presets: the parameter counts our shapes give match what each model card publishes."""

from __future__ import annotations

import pytest

from ml_expert_mcp.knowledge import gpu_catalog
from ml_expert_mcp.tools.training.inputs import ModelSpec
from ml_expert_mcp.tools.training.model_arch import resolve_model

# (preset, published total params, published active params or None, tolerance) from the model cards.
PUBLISHED = [
    ("llama-3.2-1b", 1.24e9, None, 0.02),       # Llama 3.2 model card: 1.23B
    ("llama-3.2-3b", 3.21e9, None, 0.02),       # 3.21B
    ("llama-4-scout", 109e9, 17e9, 0.03),       # 109B total (text + vision ~1.7B), 17B active
    ("llama-4-maverick", 400e9, 17e9, 0.03),    # 400B total, 17B active
    ("qwen3-30b-a3b", 30.5e9, 3.3e9, 0.03),     # Qwen3 card: 30.5B total, 3.3B activated
    ("qwen3-235b-a22b", 235e9, 22e9, 0.03),     # 235B total, 22B activated
    ("qwen3-8b", 8.2e9, None, 0.02),            # 8.2B
    ("qwen3-32b", 32.8e9, None, 0.02),          # 32.8B
    ("qwen3-0.6b", 0.6e9, None, 0.02),          # Qwen3 cards: 0.6B, 1.7B, 4.0B, 14.8B
    ("qwen3-1.7b", 1.7e9, None, 0.02),
    ("qwen3-4b", 4.0e9, None, 0.02),
    ("qwen3-14b", 14.8e9, None, 0.02),
    ("mixtral-8x7b", 46.7e9, 12.9e9, 0.02),     # Mixtral paper: 47B total, 13B active
    ("mixtral-8x22b", 141e9, 39e9, 0.02),       # 141B total, 39B active
    ("deepseek-v3", 671e9, 37e9, 0.03),         # DeepSeek-V3 report: 671B total, 37B activated
    ("gpt-oss-120b", 116.8e9, None, 0.02),      # gpt-oss model card: 116.8B total
    ("gpt-oss-20b", 20.9e9, None, 0.02),        # 20.9B total
    ("gemma-2-9b", 9.24e9, None, 0.02),
    ("gemma-2-27b", 27.2e9, None, 0.02),
    ("phi-3-mini", 3.8e9, None, 0.02),
    ("phi-4", 14.7e9, None, 0.02),
]


@pytest.mark.parametrize(("preset", "total", "active", "tol"), PUBLISHED)
def test_preset_parameter_counts_match_model_cards(preset: str, total: float, active: float | None, tol: float) -> None:
    arch = resolve_model(ModelSpec(preset=preset))
    assert abs(arch.total_params / total - 1) < tol, arch.total_params
    if active is not None:
        assert abs(arch.active_params / active - 1) < 0.06, arch.active_params


def test_fine_tuning_gpus_are_catalogued() -> None:
    cat = gpu_catalog()
    for gpu in ("RTX-3090", "RTX-4090", "RTX-5090", "RTX-A6000", "L40S", "A10G", "L4", "T4"):
        assert gpu in cat and cat[gpu].sources
