"""Every launch artifact the training planner writes for an 8B and a 70B decoder and a CNN, under every framework
option, accepted by the real library (DeepSpeed, accelerate, torchrun, Lightning, FSDP2 run on CPU, TensorFlow run
on CPU) or, for Megatron-LM, by the flag table of its pinned release. See bench/training_artifacts.py."""

from __future__ import annotations

import json
import os

import pytest

from bench.training_artifacts import FLAGS_FILE, SCENARIOS, check_megatron, collect_items, run_checks, venv_python

IN_CI = os.environ.get("CI") == "true"


def _need(venv: str) -> None:
    if venv_python(venv) is None:
        if IN_CI:
            pytest.fail(f"{venv} missing: bash scripts/setup_training")
        pytest.skip(f"{venv} missing: bash scripts/setup_training")


def test_megatron_flag_table_is_the_pinned_release() -> None:
    table = json.loads(FLAGS_FILE.read_text())
    assert table["source"]["tag"] == "core_v0.19.0" and len(table["source"]["commit"]) == 40
    flags = table["flags"]
    for flag in ("--num-experts", "--moe-router-topk", "--expert-model-parallel-size", "--decoder-first-pipeline-num-layers",
                 "--account-for-embedding-in-pipeline-split", "--num-layers-per-virtual-pipeline-stage", "--rotary-base"):
        assert flag in flags
    assert flags["--recompute-granularity"]["choices"] == ["full", "selective"]


def test_every_megatron_flag_is_known_to_the_pinned_parser() -> None:
    table = json.loads(FLAGS_FILE.read_text())
    items = [it for it in collect_items(SCENARIOS + [("mixtral-8x7b", {"sequence_length": 4096}, {"nodes": 4}, 1e-4)])
             if it["framework"] == "megatron"]
    assert len(items) >= 8
    for item in items:
        check_megatron(item, table)
    moe = [it for it in items if it["meta"]["experts"] > 1]
    assert moe and all("--num-experts 8" in it["config"] for it in moe)


def test_megatron_check_refuses_what_megatron_refuses() -> None:
    table = json.loads(FLAGS_FILE.read_text())
    item = next(it for it in collect_items(SCENARIOS[3:4]) if it["framework"] == "megatron")
    for bad in ("--use-flash-attn-v9", "--recompute-granularity partial"):
        broken = dict(item, config=item["config"] + "\n" + bad)
        with pytest.raises(AssertionError):
            check_megatron(broken, table)
    if item["meta"]["tp"] > 1:
        with pytest.raises(AssertionError, match="CUDA_DEVICE_MAX_CONNECTIONS"):
            check_megatron(dict(item, command=item["command"].replace("CUDA_DEVICE_MAX_CONNECTIONS=1 ", "")), table)


@pytest.mark.slow
def test_every_artifact_is_accepted_by_its_library() -> None:
    _need(".venv-training")
    _need(".venv-tf")
    items = collect_items(SCENARIOS)
    results = run_checks(items)
    failures = [f"{r['id']} [{r['check']}]: {r['error'][:600]}" for r in results if not r["ok"]]
    assert not failures, "\n".join(failures)
    frameworks = {it["framework"] for it in items}
    assert frameworks == {"pytorch_fsdp", "deepspeed", "accelerate", "lightning", "megatron", "tensorflow"}
    assert {it["id"].split("|")[0] for it in items} == {"llama-3.1-8b", "llama-3.1-70b", "resnet-50"}
