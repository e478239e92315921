"""Check training launch artifacts with the real libraries; run by the .venv-training interpreter (torch, deepspeed,
accelerate, lightning, transformers), or .venv-tf for TensorFlow items.

    python tests/training_artifacts_check.py items.json results.json

Each item: {"id", "framework", "command", "config", "code", "meta": {...}}. Each result: {"id", "check", "ok",
"error"}. What each check does:
- torchrun: the command's torchrun arguments through torch.distributed.run's own parser and config_from_args;
- deepspeed: the JSON through deepspeed.runtime.config.DeepSpeedConfig (batch arithmetic against the planned
  data-parallel size, given as DeepSpeed's mpu interface), plus the rules DeepSpeed's engines assert;
- accelerate: the YAML through accelerate's config loader, the command through `accelerate launch`'s parser and
  validation, the launcher's environment, then FullyShardedDataParallelPlugin / ParallelismConfig built from it;
- lightning: the generated code executed up to trainer.fit with a tiny model: Lightning's Trainer is constructed
  (CUDA device detection reports the planned GPU count: this machine has none);
- pytorch_fsdp: the generated train.py run for one optimizer step under torchrun (gloo, world size 1) with a tiny
  model of the same class; degrees (TP, REPLICATE) set to 1 for one process;
- tensorflow: the generated training loop run for two steps with a tiny Keras model on a small TFRecord file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

PLACEHOLDERS = {"MASTER_ADDR": "10.0.0.1", "NODE_RANK": "0", "TOKENIZER": "/data/tokenizer", "DATA_PREFIX": "/data/text",
                "CHECKPOINTS": "/ckpt"}


def _expand(text: str) -> str:
    for k, v in PLACEHOLDERS.items():
        text = text.replace("$" + k, v)
    return text


def _split_command(command: str) -> list[str]:
    flat = command.replace("\\\n", " ").split("#", 1)[0]
    return shlex.split(_expand(flat))


def check_torchrun(item: dict) -> None:
    from torch.distributed.run import config_from_args, get_args_parser

    words = _split_command(item["command"])
    if "torchrun" not in words:
        raise AssertionError("no torchrun in the command")
    args = get_args_parser().parse_args(words[words.index("torchrun") + 1:])
    config, _, _ = config_from_args(args)
    meta = item["meta"]
    assert (config.min_nodes, config.max_nodes) == (meta["nodes"], meta["nodes"]), (config.min_nodes, meta["nodes"])
    assert config.nproc_per_node == meta["gpus_per_node"], config.nproc_per_node
    if meta["nodes"] > 1:
        assert config.rdzv_backend == "c10d" and args.node_rank == 0


class _DataParallelGroup:
    """DeepSpeed's mpu interface: the data-parallel world size of the planned layout (what PipelineModule's grid or
    Megatron's mpu reports to DeepSpeedConfig)."""

    def __init__(self, dp: int) -> None:
        self.dp = dp

    def get_data_parallel_world_size(self) -> int:
        return self.dp


def _init_single_process_group() -> None:
    """World size 1 over gloo, so DeepSpeedConfig asks the mpu for the data-parallel size (it falls back to a world
    of 1 without an initialised process group)."""
    import deepspeed

    os.environ.update({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": os.environ.get("T13_PORT", "29517")})
    import deepspeed.comm as ds_dist

    if not ds_dist.is_initialized():
        deepspeed.init_distributed(dist_backend="gloo", verbose=False)


def check_deepspeed(item: dict) -> None:
    from deepspeed.runtime.config import DeepSpeedConfig

    _init_single_process_group()

    cfg = json.loads(item["config"])
    meta = item["meta"]
    ds = DeepSpeedConfig(cfg, mpu=_DataParallelGroup(meta["dp"]))
    assert ds.train_batch_size == meta["global_batch"], (ds.train_batch_size, meta["global_batch"])
    assert ds.train_micro_batch_size_per_gpu * ds.gradient_accumulation_steps * meta["dp"] == ds.train_batch_size
    assert ds.zero_optimization_stage == meta["zero"]
    if meta["pp"] > 1:
        # deepspeed/runtime/pipe/engine.py: assert self.zero_optimization_stage() < ZeroStageEnum.gradients
        assert ds.zero_optimization_stage < 2, "ZeRO-2/3 with pipeline parallelism"
        assert ds.pipeline["stages"] == meta["pp"], ds.pipeline
        assert "PipelineModule(" in item["code"] and f"num_stages={meta['pp']}" in item["code"]
    if meta["offload"]:
        assert ds.zero_config.offload_optimizer is not None and ds.zero_config.offload_optimizer.device == "cpu"
        assert ds.optimizer_name is not None or "optimizer=" in item["code"], "offload needs an optimizer block"
    if meta["optimizer"] != "adam_8bit":
        assert ds.optimizer_params["lr"] == meta["lr"], ds.optimizer_params
        want = {"adamw": "adamw", "sgd_momentum": "sgd", "adafactor": "adafactor"}[meta["optimizer"]]
        assert ds.optimizer_name.lower() == want, ds.optimizer_name


def check_accelerate(item: dict) -> None:
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import patch_environment
    from accelerate.utils.launch import prepare_multi_gpu_env

    meta = item["meta"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "accelerate_config.yaml"
        path.write_text(item["config"])
        cfg = load_config_from_file(str(path))
        assert cfg.num_processes == meta["nodes"] * meta["gpus_per_node"] and cfg.num_machines == meta["nodes"]
        words = _split_command(item["command"])
        words = [str(path) if w == "accelerate_config.yaml" else w for w in words]
        args = launch_command_parser().parse_args(words[words.index("launch") + 1:])
        args, defaults, mp = _validate_launch_command(args)
        env = prepare_multi_gpu_env(args)
    with patch_environment(**env):
        if meta["zero"]:
            from accelerate.utils import FullyShardedDataParallelPlugin

            plugin = FullyShardedDataParallelPlugin()
            assert plugin.fsdp_version == 2, plugin.fsdp_version
            assert plugin.reshard_after_forward is (meta["zero"] == 3), plugin.reshard_after_forward
            assert (type(plugin.cpu_offload).__name__ == "CPUOffloadPolicy") == meta["offload"], plugin.cpu_offload
            assert plugin.activation_checkpointing == (meta["ckpt"] == "full")
            if meta["hybrid"]:
                from accelerate.parallelism_config import ParallelismConfig

                pc = ParallelismConfig()
                assert pc.dp_replicate_size * pc.dp_shard_size == meta["dp"] and pc.dp_replicate_size > 1, pc
            else:
                assert os.environ.get("PARALLELISM_CONFIG_DP_REPLICATE_SIZE", "1") == "1"
        else:
            assert env.get("ACCELERATE_USE_FSDP", "false") != "true"
    assert f"lr={meta['lr']:g}" in item["code"]


def _tiny_model(model_class: str):  # noqa: ANN202
    import torch
    import transformers as tr

    if model_class == "llama":
        return tr.LlamaForCausalLM(tr.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                  num_attention_heads=4, num_key_value_heads=2, vocab_size=128,
                                                  tie_word_embeddings=False))
    if model_class == "gpt":
        return tr.GPT2LMHeadModel(tr.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=128, n_positions=64))
    if model_class == "bert":
        return tr.BertForMaskedLM(tr.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                                intermediate_size=128, vocab_size=128))
    if model_class == "vit":
        return tr.ViTForImageClassification(tr.ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                                         intermediate_size=128, image_size=32, patch_size=8,
                                                         num_labels=10))
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10))


MODEL_DEF = '''
import torch
import sys
sys.path.insert(0, {here!r})
from training_artifacts_check import _tiny_model


def build_model():
    torch.manual_seed(0)
    return _tiny_model({cls!r})


def make_batch(micro_batch, device):
    cls = {cls!r}
    if cls in ("llama", "gpt", "bert"):
        ids = torch.randint(0, 128, (micro_batch, 16), device=device)
        return {{"input_ids": ids, "labels": ids}}
    size = 32
    return {{"pixel_values": torch.randn(micro_batch, 3, size, size, device=device),
            "labels": torch.randint(0, 10, (micro_batch,), device=device)}}
'''


def check_fsdp2(item: dict) -> None:
    meta = item["meta"]
    code = item["code"]
    assert re.search(rf"^LR = {re.escape(format(meta['lr'], 'g'))}\b", code, re.M), "planned learning rate not in the code"
    opt_class = {"adamw": "AdamW(", "sgd_momentum": "SGD(", "adafactor": "Adafactor(", "adam_8bit": "AdamW8bit("}[meta["optimizer"]]
    assert opt_class in code, f"{opt_class} not in the code"
    if meta["model_class"] != "llama":
        assert "q_proj" not in code and "model.model.layers" not in code
    if meta["optimizer"] == "adam_8bit":
        return  # bitsandbytes is not installed here: the structure above is what is checked
    one = re.sub(r"^TP = \d+", "TP = 1", code, flags=re.M)
    one = re.sub(r"^REPLICATE = \d+", "REPLICATE = 1", one, flags=re.M)
    one = re.sub(r"^ACCUM = (\d+)", lambda m: f"ACCUM = {min(int(m.group(1)), 2)}", one, flags=re.M)  # same loop, 2 micro-batches
    here = str(Path(__file__).resolve().parent)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "train.py").write_text(one)
        Path(tmp, "model_def.py").write_text(MODEL_DEF.format(here=here, cls=meta["model_class"]))
        env = {**os.environ, "TRAIN_STEPS": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": tmp}
        proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=1",
                               "train.py"], cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode:
            lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("[rank0]:")]
            raise AssertionError("\n".join(lines[-25:]) or proc.stderr[-3000:])


def check_lightning(item: dict) -> None:
    import lightning.fabric.accelerators.cuda as fabric_cuda
    import lightning.pytorch.accelerators.cuda as pl_cuda

    meta = item["meta"]
    gpus = meta["gpus_per_node"]
    # this machine has no GPU: device detection reports the planned count, nothing else is changed
    fabric_cuda.num_cuda_devices = lambda: gpus
    pl_cuda.num_cuda_devices = lambda: gpus
    fabric_cuda.CUDAAccelerator.is_available = staticmethod(lambda: True)
    pl_cuda.CUDAAccelerator.is_available = staticmethod(lambda: True)
    code = "\n".join(line for line in item["code"].splitlines() if not line.startswith("trainer.fit("))
    ns: dict = {"model": _tiny_model(meta["model_class"]), "loader": []}
    exec(compile(code, "train.py", "exec"), ns)  # noqa: S102 - the generated code is what is checked
    trainer = ns["trainer"]
    assert trainer.num_nodes == meta["nodes"] and trainer.accumulate_grad_batches == meta["accum"]
    strategy = trainer.strategy
    name = type(strategy).__name__
    if meta["zero"] == 0:
        assert name == "DDPStrategy", name
    else:
        assert name == "FSDPStrategy", name
        want = "HYBRID_SHARD" if meta["hybrid"] else ("SHARD_GRAD_OP" if meta["zero"] == 2 else "FULL_SHARD")
        assert strategy.sharding_strategy.name == want, strategy.sharding_strategy
        assert bool(strategy.cpu_offload and strategy.cpu_offload.offload_params) == meta["offload"]
        if meta["ckpt"] == "full":
            assert "activation_checkpointing_policy" in strategy.kwargs or strategy._activation_checkpointing_kwargs  # noqa: SLF001
    module = ns["Module"](ns["model"])
    opt = module.configure_optimizers()
    assert abs(opt.param_groups[0]["lr"] - meta["lr"]) < 1e-12 * max(1.0, meta["lr"]) + 1e-15, opt.param_groups[0]["lr"]


def check_tensorflow(item: dict) -> None:
    import numpy as np
    import tensorflow as tf

    code = item["code"]
    assert code.startswith("import tensorflow as tf")
    meta = item["meta"]
    assert f"ACCUM = {meta['accum']}" in code and f"PER_REPLICA = {meta['micro']}" in code
    import importlib.util

    with tempfile.TemporaryDirectory() as tmp:
        # imported from a real file: AutoGraph reads the source of the tf.function
        Path(tmp, "tf_train.py").write_text(code)
        spec = importlib.util.spec_from_file_location("tf_train", Path(tmp, "tf_train.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        ns = vars(module)
        path = str(Path(tmp) / "data.tfrecord")
        with tf.io.TFRecordWriter(path) as w:
            for i in range(64):
                feat = {"x": tf.train.Feature(float_list=tf.train.FloatList(value=np.random.rand(8).tolist())),
                        "y": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 3]))}
                w.write(tf.train.Example(features=tf.train.Features(feature=feat)).SerializeToString())
        spec = {"x": tf.io.FixedLenFeature([8], tf.float32), "y": tf.io.FixedLenFeature([], tf.int64)}

        def parse(rec):  # noqa: ANN001, ANN202
            ex = tf.io.parse_single_example(rec, spec)
            return ex["x"], ex["y"]

        keras = ns["keras"]
        model = ns["train"](lambda: keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)]),
                            keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none"),
                            [path], parse, 2)
        assert len(model.trainable_variables) == 2 and int(ns["ACCUM"]) == meta["accum"]


CHECKS = {"torchrun": check_torchrun, "deepspeed": check_deepspeed, "accelerate": check_accelerate,
          "pytorch_fsdp": check_fsdp2, "lightning": check_lightning, "tensorflow": check_tensorflow}


def main() -> None:
    items = json.loads(Path(sys.argv[1]).read_text())
    results = []
    for item in items:
        checks = [item["framework"]] + (["torchrun"] if "torchrun" in item["command"] else [])
        for check in checks:
            try:
                CHECKS[check](item)
                results.append({"id": item["id"], "check": check, "ok": True, "error": ""})
            except Exception as exc:  # noqa: BLE001 - every failure is reported, not raised
                results.append({"id": item["id"], "check": check, "ok": False,
                                "error": f"{type(exc).__name__}: {exc}"[-2000:] + "\n" + traceback.format_exc()[-1500:]})
    Path(sys.argv[2]).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
