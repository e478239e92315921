"""Fine-tuning artifacts checked by the real libraries (.venv-finetune, built by scripts/setup_finetune):
transformers BitsAndBytesConfig + peft LoraConfig + trl SFTConfig constructed from the generated script, and
the torchtune YAML through `tune validate` (torchtune 0.6.1's config loader)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml_expert_mcp.tools.training.finetuning_inputs import FinetuningSpec
from ml_expert_mcp.tools.training.inputs import ModelSpec
from ml_expert_mcp.tools.training.model_arch import resolve_model
from ml_expert_mcp.tools.training.peft_artifacts import finetuning_artifacts

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-finetune" / "bin"

pytestmark = pytest.mark.slow

CASES = [
    ("llama-3.1-8b", {"method": "qlora", "rank": 16}, "adam_8bit"),
    ("llama-3.2-3b", {"method": "lora", "rank": 64, "target_modules": "attention", "levers": ["compile"]}, "adamw"),
    ("phi-3-mini", {"method": "dora", "rank": 8, "target_modules": ["qkv_proj", "o_proj"]}, "adamw"),
    ("qwen2.5-7b", {"method": "lora", "also_train": ["lm_head"]}, "adamw"),
    ("mistral-7b", {"method": "qlora", "base_quantization": "int8", "levers": ["paged_optimizer"]}, "adam_8bit"),
    ("gemma-2-9b", {"method": "qlora", "base_quantization": "nf4"}, "adamw"),
]

CHECK = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("script", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
quant, lora, sft = mod.build_configs(sys.argv[2], use_cpu=True)
print(json.dumps({"quant": type(quant).__name__, "nf4": getattr(quant, "bnb_4bit_quant_type", None),
                  "double": getattr(quant, "bnb_4bit_use_double_quant", None),
                  "int8": getattr(quant, "load_in_8bit", None), "r": lora.r if lora else None,
                  "dora": lora.use_dora if lora else None,
                  "targets": sorted(lora.target_modules) if lora and not isinstance(lora.target_modules, str) else (lora.target_modules if lora else None),
                  "save": lora.modules_to_save if lora else None, "optim": str(sft.optim.value),
                  "accum": sft.gradient_accumulation_steps, "max_length": sft.max_length}))
"""


def _python() -> Path:
    py = VENV / "python"
    if not py.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(".venv-finetune missing: run scripts/setup_finetune")
        pytest.skip(".venv-finetune missing: run scripts/setup_finetune")
    return py


@pytest.mark.parametrize(("preset", "ft", "optimizer"), CASES)
def test_peft_script_configs_construct_and_torchtune_config_validates(preset: str, ft: dict, optimizer: str,
                                                                        tmp_path: Path) -> None:
    py = _python()
    spec = FinetuningSpec.model_validate(ft)
    art = finetuning_artifacts(resolve_model(ModelSpec(preset=preset)), spec, seq=2048, micro_batch=2, accumulation=8,
                               checkpointing="full", precision="bf16", optimizer=optimizer, lr=2e-4, world=1,
                               launcher="torchrun")
    script = tmp_path / art.peft_script_filename
    script.write_text(art.peft_script)
    out = subprocess.run([str(py), "-c", CHECK, str(script), str(tmp_path / "out")], capture_output=True, text=True,
                         timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["r"] == spec.rank and got["dora"] == (spec.method == "dora")
    assert got["accum"] == 8 and got["max_length"] == 2048
    if spec.method == "qlora" and spec.base_quantization in (None, "nf4", "nf4_double_quant"):
        assert got["quant"] == "BitsAndBytesConfig" and got["nf4"] == "nf4"
        assert got["double"] == (spec.base_quantization in (None, "nf4_double_quant"))
    if spec.base_quantization == "int8":
        assert got["int8"] is True
    if isinstance(spec.target_modules, list):
        assert got["targets"] == sorted(spec.target_modules)
    if spec.train_lm_head:
        assert got["save"] == ["lm_head"]
    if art.torchtune_config:
        cfg = tmp_path / "finetune.yaml"
        cfg.write_text(art.torchtune_config)
        res = subprocess.run([str(VENV / "tune"), "validate", str(cfg)], capture_output=True, text=True, timeout=600)
        assert res.returncode == 0 and "well-formed" in res.stdout, (res.stdout + res.stderr)[-3000:]


def test_tune_validate_rejects_a_bad_argument(tmp_path: Path) -> None:
    """The check can fail: an argument the builder does not take is refused by torchtune's loader."""
    py = _python()
    art = finetuning_artifacts(resolve_model(ModelSpec(preset="llama-3.1-8b")), FinetuningSpec(method="qlora"),
                               seq=1024, micro_batch=1, accumulation=1, checkpointing="full", precision="bf16",
                               optimizer="adamw", lr=1e-4, world=1, launcher="torchrun")
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(art.torchtune_config.replace("  lora_rank:", "  not_an_argument: 1\n  lora_rank:"))
    res = subprocess.run([str(VENV / "tune"), "validate", str(cfg)], capture_output=True, text=True, timeout=600)
    assert res.returncode != 0
    assert py.exists() and sys.version_info >= (3, 11)
