"""Fine-tuning artifacts (issue 17): a PEFT + bitsandbytes + TRL script, a torchtune recipe config, an Unsloth option.

Each is checked by the real library in tests (tests/test_training_finetune_artifacts.py): the script's
build_configs() constructs transformers.BitsAndBytesConfig, peft.LoraConfig and trl.SFTConfig on CPU; the
torchtune YAML passes `tune validate` (torchtune 0.6.1's config loader checks every _component_ and its
arguments). torchtune status: Meta stopped active development on 2025-07-15 (critical fixes only;
https://github.com/meta-pytorch/torchtune/issues/2883); 0.6.1 (2025-04) is the last release.
"""

from __future__ import annotations

import json

import yaml
from pydantic import BaseModel, Field

from ml_expert_mcp.knowledge import model_catalog
from ml_expert_mcp.tools.training.context import TrainingContext
from ml_expert_mcp.tools.training.finetuning import FAMILIES, model_families, quant_format, validate_finetuning
from ml_expert_mcp.tools.training.finetuning_inputs import FinetuningSpec
from ml_expert_mcp.tools.training.inputs import TrainingSpec
from ml_expert_mcp.tools.training.model_arch import Architecture

TORCHTUNE_STATUS = ("torchtune: active development stopped 2025-07-15 (critical fixes only, "
                    "https://github.com/meta-pytorch/torchtune/issues/2883); last release 0.6.1 (2025-04)")
# preset -> (torchtune builder module, lora builder, qlora builder or '', tokenizer component, checkpointer model_type)
TORCHTUNE_MODELS: dict[str, tuple[str, str, str, str, str]] = {
    "llama-3.1-8b": ("llama3_1", "lora_llama3_1_8b", "qlora_llama3_1_8b", "torchtune.models.llama3.llama3_tokenizer", "LLAMA3"),
    "llama-3.1-70b": ("llama3_1", "lora_llama3_1_70b", "qlora_llama3_1_70b", "torchtune.models.llama3.llama3_tokenizer", "LLAMA3"),
    "llama-3.1-405b": ("llama3_1", "lora_llama3_1_405b", "qlora_llama3_1_405b", "torchtune.models.llama3.llama3_tokenizer", "LLAMA3"),
    "llama-3.2-1b": ("llama3_2", "lora_llama3_2_1b", "qlora_llama3_2_1b", "torchtune.models.llama3.llama3_tokenizer", "LLAMA3_2"),
    "llama-3.2-3b": ("llama3_2", "lora_llama3_2_3b", "qlora_llama3_2_3b", "torchtune.models.llama3.llama3_tokenizer", "LLAMA3_2"),
    "llama-3.3-70b": ("llama3_3", "lora_llama3_3_70b", "qlora_llama3_3_70b", "torchtune.models.llama3.llama3_tokenizer", "LLAMA3"),
    "qwen2.5-7b": ("qwen2_5", "lora_qwen2_5_7b_base", "", "torchtune.models.qwen2_5.qwen2_5_tokenizer", "QWEN2"),
    "qwen2.5-14b": ("qwen2_5", "lora_qwen2_5_14b_base", "", "torchtune.models.qwen2_5.qwen2_5_tokenizer", "QWEN2"),
    "qwen2.5-32b": ("qwen2_5", "lora_qwen2_5_32b_base", "", "torchtune.models.qwen2_5.qwen2_5_tokenizer", "QWEN2"),
    "qwen2.5-72b": ("qwen2_5", "lora_qwen2_5_72b_base", "", "torchtune.models.qwen2_5.qwen2_5_tokenizer", "QWEN2"),
    "mistral-7b": ("mistral", "lora_mistral_7b", "qlora_mistral_7b", "torchtune.models.mistral.mistral_tokenizer", "MISTRAL"),
    "gemma-2-9b": ("gemma2", "lora_gemma2_9b", "qlora_gemma2_9b", "torchtune.models.gemma.gemma_tokenizer", "GEMMA2"),
    "gemma-2-27b": ("gemma2", "lora_gemma2_27b", "qlora_gemma2_27b", "torchtune.models.gemma.gemma_tokenizer", "GEMMA2"),
    "phi-3-mini": ("phi3", "lora_phi3_mini", "qlora_phi3_mini", "torchtune.models.phi3.phi3_mini_tokenizer", "PHI3_MINI"),
    "phi-4": ("phi4", "lora_phi4_14b", "qlora_phi4_14b", "torchtune.models.phi4.phi4_tokenizer", "PHI4"),
}
TORCHTUNE_ATTN = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "output_proj"}
UNSLOTH_URL = "https://github.com/unslothai/unsloth"


class FinetuningArtifacts(BaseModel):
    peft_script_filename: str = Field(description="File name of the PEFT + TRL script.")
    peft_script: str = Field(description="transformers + peft + trl script; build_configs() returns the three configs.")
    peft_command: str = Field(description="Launch command for the script.")
    torchtune_config: str = Field(description="torchtune recipe YAML ('' when torchtune 0.6.1 has no builder for the model).")
    torchtune_command: str = Field(description="tune run command ('' when no config).")
    torchtune_status: str = Field(description="torchtune maintenance status, with source.")
    unsloth: str = Field(description="Unsloth option and its trade-offs (not validated here: Unsloth needs a GPU).")


def hf_model_id(arch: Architecture) -> str:
    preset = model_catalog().get(arch.name)
    if preset is not None:
        for src in preset.sources:
            if src.url.startswith("https://huggingface.co/") and "/blob/" in src.url:
                return src.url.removeprefix("https://huggingface.co/").split("/blob/")[0]
    return "YOUR_ORG/YOUR_MODEL"


def peft_target_modules(arch: Architecture, ft: FinetuningSpec) -> str | list[str]:
    if ft.method == "full":
        return []
    if isinstance(ft.target_modules, list):
        return list(dict.fromkeys(ft.target_modules))
    fam = model_families(arch)[0]
    if ft.target_modules == "all_linear" and fam != "gpt_oss":
        return "all-linear"  # PEFT's own spelling: every Linear but the output head
    names = [n for n, groups in FAMILIES[fam].items()
             if all(set(g) <= ({"q", "k", "v", "o"} if ft.target_modules == "attention" else set("qkvo") | {"gate", "up", "down"})
                    for g in groups)]
    return names


def peft_script(arch: Architecture, ft: FinetuningSpec, *, seq: int, micro_batch: int, accumulation: int,
                checkpointing: str, precision: str, optimizer: str, lr: float) -> str:
    fmt = quant_format(ft)
    bf16 = precision != "amp_fp16" and precision != "fp32"
    dtype = "torch.bfloat16" if bf16 else "torch.float16"
    if fmt in ("nf4", "nf4_double_quant"):
        bnb = (f"BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=\"nf4\", "
               f"bnb_4bit_use_double_quant={fmt == 'nf4_double_quant'}, bnb_4bit_compute_dtype={dtype}, "
               "bnb_4bit_quant_storage=torch.uint8)")
    elif fmt == "int8":
        bnb = "BitsAndBytesConfig(load_in_8bit=True)"
    else:
        bnb = "None  # " + ("GPTQ/AWQ checkpoints carry their own quantization_config" if fmt in ("gptq_int4", "awq_int4")
                           else "16-bit base")
    targets = peft_target_modules(arch, ft)
    save = [m for m, on in (("embed_tokens", ft.train_embeddings), ("lm_head", ft.train_lm_head)) if on]
    optim = {"adamw": "adamw_torch_fused", "adam_8bit": "adamw_8bit", "sgd_momentum": "sgd", "adafactor": "adafactor"}[optimizer]
    if ft.paged_optimizer and optimizer in ("adamw", "adam_8bit"):
        optim = "paged_adamw_8bit" if optimizer == "adam_8bit" else "paged_adamw_32bit"
    lora = "None" if ft.method == "full" else (
        f"LoraConfig(r={ft.rank}, lora_alpha={ft.lora_alpha:g}, lora_dropout={ft.lora_dropout:g}, "
        f"target_modules={json.dumps(targets)}, use_dora={ft.method == 'dora'}, bias=\"none\", task_type=\"CAUSAL_LM\""
        + (f", modules_to_save={json.dumps(save)}" if save else "") + ")")
    lines = [
        f'"""{ft.method.upper()} fine-tuning of {hf_model_id(arch)} with transformers + peft + trl (generated by ml-expert-mcp)."""',
        "import sys",
        "",
        "import torch",
        "from peft import LoraConfig",
        "from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig",
        "from trl import SFTConfig, SFTTrainer",
        "",
        f'MODEL_ID = "{hf_model_id(arch)}"',
        'DATASET = sys.argv[1] if len(sys.argv) > 1 else "trl-lib/Capybara"',
        "",
        "",
        'def build_configs(output_dir: str = "finetuned", **sft_overrides):',
        '    """The three configs; constructing them needs no GPU (on a CPU-only host pass use_cpu=True:',
        '    TrainingArguments refuses bf16 without a GPU)."""',
        f"    quantization = {bnb}",
        f"    lora = {lora}",
        "    sft = SFTConfig(",
        f"        output_dir=output_dir, per_device_train_batch_size={micro_batch}, gradient_accumulation_steps={accumulation},",
        f"        max_length={seq}, learning_rate={lr:g}, lr_scheduler_type=\"cosine\", warmup_steps=100, num_train_epochs=1,",
        f"        optim=\"{optim}\", bf16={bf16}, fp16={not bf16}, gradient_checkpointing={checkpointing != 'none'},",
        "        gradient_checkpointing_kwargs={\"use_reentrant\": False}, logging_steps=10, save_strategy=\"steps\",",
        "        save_steps=500, report_to=\"none\", **sft_overrides,",
        "    )",
        "    return quantization, lora, sft",
        "",
        "",
        "def main() -> None:",
        "    from datasets import load_dataset",
        "",
        "    quantization, lora, sft = build_configs()",
        f"    model = AutoModelForCausalLM.from_pretrained(MODEL_ID, dtype={dtype}, quantization_config=quantization,",
        "                                                 attn_implementation=\"sdpa\")",
        "    tokenizer = AutoTokenizer.from_pretrained(MODEL_ID)",
        "    dataset = load_dataset(DATASET, split=\"train\")",
        "    trainer = SFTTrainer(model=model, args=sft, train_dataset=dataset, processing_class=tokenizer, peft_config=lora)",
        "    trainer.train()",
        "    trainer.save_model()  # adapters only (adapter_model.safetensors) unless method is full",
        "",
        "",
        'if __name__ == "__main__":',
        "    main()",
        "",
    ]
    return "\n".join(lines)


def torchtune_config(arch: Architecture, ft: FinetuningSpec, *, seq: int, micro_batch: int, accumulation: int,
                     checkpointing: str, optimizer: str, lr: float, world: int) -> tuple[str, str]:
    """(YAML, command) for torchtune 0.6.1, or ('', reason) when it has no builder for this model/method."""
    entry = TORCHTUNE_MODELS.get(arch.name)
    if entry is None:
        return "", f"torchtune 0.6.1 has no builder for {arch.name}"
    module, lora_fn, qlora_fn, tokenizer, model_type = entry
    fmt = quant_format(ft)
    if ft.method == "full":
        return "", "full fine-tuning: use torchtune's full_finetune recipes (this plan writes LoRA/QLoRA/DoRA configs)"
    if fmt not in ("none", "nf4", "nf4_double_quant"):
        return "", f"torchtune quantizes with torchao NF4 only, not {fmt}"
    if fmt != "none" and not qlora_fn:
        return "", f"torchtune 0.6.1 has no QLoRA builder for {arch.name}"
    groups = validate_finetuning(arch, ft, "bf16")
    roles = {r for g in groups for r in g}
    attn = [TORCHTUNE_ATTN[r] for r in ("q", "k", "v", "o") if r in roles]
    model = {
        "_component_": f"torchtune.models.{module}.{qlora_fn if fmt != 'none' else lora_fn}",
        "lora_attn_modules": attn or ["q_proj", "v_proj"],
        "apply_lora_to_mlp": bool(roles & {"gate", "up", "down"}),
        "lora_rank": ft.rank, "lora_alpha": ft.lora_alpha, "lora_dropout": ft.lora_dropout,
    }
    if not arch.tied and arch.name.startswith(("llama-3.1", "llama-3.3", "mistral")):
        model["apply_lora_to_output"] = ft.train_lm_head
    if ft.method == "dora":
        model["use_dora"] = True
    opt: dict[str, object] = {"_component_": "torch.optim.AdamW", "fused": True, "weight_decay": 0.01, "lr": lr}
    if optimizer == "adam_8bit":
        opt = {"_component_": "bitsandbytes.optim.PagedAdamW8bit" if ft.paged_optimizer else "bitsandbytes.optim.AdamW8bit",
               "lr": lr}
    tok: dict[str, object] = {"_component_": tokenizer, "path": "/models/base/tokenizer.model", "max_seq_len": seq}
    if module == "qwen2_5":
        tok = {"_component_": tokenizer, "path": "/models/base/vocab.json", "merges_file": "/models/base/merges.txt",
               "max_seq_len": seq}
    cfg = {
        "output_dir": "/outputs/torchtune",
        "model": model,
        "tokenizer": tok,
        "checkpointer": {
            "_component_": "torchtune.training.FullModelHFCheckpointer", "checkpoint_dir": "/models/base",
            "checkpoint_files": {"filename_format": "model-{}-of-{}.safetensors", "max_filename": "00004"},
            "recipe_checkpoint": None, "output_dir": "${output_dir}", "model_type": model_type,
        },
        "resume_from_checkpoint": False,
        "save_adapter_weights_only": True,
        "dataset": {"_component_": "torchtune.datasets.alpaca_cleaned_dataset", "packed": False},
        "seed": 0,
        "shuffle": True,
        "batch_size": micro_batch,
        "optimizer": opt,
        "lr_scheduler": {"_component_": "torchtune.training.lr_schedulers.get_cosine_schedule_with_warmup",
                         "num_warmup_steps": 100},
        "loss": {"_component_": "torchtune.modules.loss.CEWithChunkedOutputLoss"},
        "epochs": 1,
        "max_steps_per_epoch": None,
        "gradient_accumulation_steps": accumulation,
        "clip_grad_norm": None,
        "compile": ft.compile,
        "device": "cuda",
        "dtype": "bf16",
        "enable_activation_checkpointing": checkpointing != "none",
        "enable_activation_offloading": ft.activation_offloading,
        "metric_logger": {"_component_": "torchtune.training.metric_logging.DiskLogger", "log_dir": "${output_dir}/logs"},
        "log_every_n_steps": 1,
        "log_peak_memory_stats": True,
        "profiler": {"_component_": "torchtune.training.setup_torch_profiler", "enabled": False},
    }
    recipe = "lora_finetune_single_device" if world == 1 else "lora_finetune_distributed"
    launch = f"tune run{f' --nproc_per_node {world}' if world > 1 else ''} {recipe} --config finetune.yaml"
    return yaml.safe_dump(cfg, sort_keys=False), launch


def unsloth_option(arch: Architecture, ft: FinetuningSpec, seq: int) -> str:
    fmt = quant_format(ft)
    targets = peft_target_modules(arch, ft)
    if targets == "all-linear":
        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    code = (f"model, tok = FastLanguageModel.from_pretrained(\"{hf_model_id(arch)}\", max_seq_length={seq}, "
            f"load_in_4bit={fmt in ('nf4', 'nf4_double_quant')}); "
            f"model = FastLanguageModel.get_peft_model(model, r={ft.rank}, lora_alpha={ft.lora_alpha:g}, "
            f"target_modules={json.dumps(targets)}, use_gradient_checkpointing=\"unsloth\")")
    return (f"Unsloth ({UNSLOTH_URL}): {code}; then the same trl SFTTrainer. Trade-offs: hand-written Triton kernels "
            "and CPU-offloaded checkpoints give faster steps and less activation memory on one GPU (Unsloth's own "
            "benchmarks; not measured here); it patches transformers/trl internals, so it pins their versions and "
            "can lag new model families; multi-GPU support is newer than its single-GPU path; NVIDIA-first. "
            "Not validated by this planner (it needs a GPU to import).")


def finetuning_artifacts(arch: Architecture, ft: FinetuningSpec, *, seq: int, micro_batch: int, accumulation: int,
                         checkpointing: str, precision: str, optimizer: str, lr: float, world: int,
                         launcher: str) -> FinetuningArtifacts:
    script = peft_script(arch, ft, seq=seq, micro_batch=micro_batch, accumulation=accumulation,
                         checkpointing=checkpointing, precision=precision, optimizer=optimizer, lr=lr)
    tt, tt_cmd = torchtune_config(arch, ft, seq=seq, micro_batch=micro_batch, accumulation=accumulation,
                                  checkpointing=checkpointing, optimizer=optimizer, lr=lr, world=world)
    return FinetuningArtifacts(
        peft_script_filename="finetune_peft.py", peft_script=script,
        peft_command=f"{launcher} finetune_peft.py" if world > 1 else "python finetune_peft.py",
        torchtune_config=tt, torchtune_command=tt_cmd if tt else f"(none: {tt_cmd})",
        torchtune_status=TORCHTUNE_STATUS, unsloth=unsloth_option(arch, ft, seq),
    )


def plan_artifacts(ctx: TrainingContext, training: TrainingSpec, *, checkpointing: str | None, micro_batch: int,
                   accumulation: int, precision: str, lr: float) -> FinetuningArtifacts | None:
    """plan_pytorch_training's hook: the fine-tuning artifacts when training.finetuning is given."""
    ft = training.finetuning
    if ft is None:
        return None
    return finetuning_artifacts(
        ctx.arch, ft, seq=training.sequence_length, micro_batch=micro_batch, accumulation=accumulation,
        checkpointing=checkpointing or "full", precision=precision, optimizer=training.optimizer, lr=lr,
        world=ctx.num_gpus, launcher=f"torchrun --nproc-per-node={ctx.cluster.gpus_per_node}")
