"""plan_llm_serving: KV bytes and tokens by hand and against published engine logs, input errors by field,
infeasible workloads, the search time, and artifacts through the real checkers (the engines' own flag tables,
the KServe CRD schema, kubernetes-validate --strict, botocore)."""

from __future__ import annotations

import copy
import gzip
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from ml_expert_mcp.tools.common.aws import check_request
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.k8s import KUBERNETES_VERSION
from ml_expert_mcp.tools.serving import llm_memory as mem
from ml_expert_mcp.tools.serving.llm_artifacts import engine_flags, unknown_flags
from ml_expert_mcp.tools.serving.llm_inputs import LlmModel, PlanLlmServingRequest
from ml_expert_mcp.tools.serving.llm_serving import plan_llm_serving

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge" / "llm_serving"
WHEELS = ROOT / ".cache" / "engine-wheels"
LLAMA8 = {"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
          "intermediate_size": 14336, "vocab_size": 128256, "max_position_embeddings": 131072}
DEEPSEEK_V3 = {"num_hidden_layers": 61, "hidden_size": 7168, "num_attention_heads": 128, "num_key_value_heads": 128,
               "head_dim": 128, "kv_lora_rank": 512, "qk_rope_head_dim": 64, "vocab_size": 129280,
               "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_local_experts": 256,
               "num_experts_per_tok": 8, "max_position_embeddings": 163840, "params_b": 671}
GEMMA3_27B = {"num_hidden_layers": 62, "hidden_size": 5376, "num_attention_heads": 32, "num_key_value_heads": 16,
              "head_dim": 128, "intermediate_size": 21504, "vocab_size": 262208, "sliding_window": 1024,
              "global_layer_every": 6, "max_position_embeddings": 131072}


def plan(**kw: Any) -> Any:
    return plan_llm_serving(PlanLlmServingRequest.model_validate(kw))


def layout(fields: dict[str, Any], tp: int, kv_bytes: int = 2) -> mem.KvLayout:
    return mem.kv_layout(mem.resolve_arch(LlmModel(**fields)), tp, 1, kv_bytes)


# --- KV bytes per token, worked by hand from config.json -----------------------------------------------------

def test_gqa_bytes_per_token_and_tp_split() -> None:
    assert layout(LLAMA8, 1).bytes_per_token == 2 * 32 * 8 * 128 * 2 == 131072
    assert layout(LLAMA8, 2).bytes_per_token == 2 * 32 * 4 * 128 * 2
    assert layout(LLAMA8, 8).bytes_per_token == 2 * 32 * 1 * 128 * 2
    assert layout(LLAMA8, 1, kv_bytes=1).bytes_per_token == 65536


def test_kv_heads_replicate_when_fewer_than_tp() -> None:
    qwen235 = {"num_hidden_layers": 94, "hidden_size": 4096, "num_attention_heads": 64, "num_key_value_heads": 4,
               "head_dim": 128}
    # 4 KV heads over 8 ranks: each rank keeps one head (replicated), not half of one
    assert layout(qwen235, 8).bytes_per_token == 2 * 94 * 1 * 128 * 2


def test_mla_latent_is_not_split_by_tp() -> None:
    for tp in (1, 8):
        assert layout(DEEPSEEK_V3, tp).bytes_per_token == (512 + 64) * 61 * 2 == 70272


def test_sliding_window_groups_are_padded_like_vllm() -> None:
    # Gemma 3 27B: 62 layers, one full-attention layer in 6 -> 10 full, 52 sliding. vLLM groups layers by the
    # smallest type count (10) and pads the sliding ones to 60: 7 groups of 10 layers charged per token.
    got = layout(GEMMA3_27B, 1)
    per_layer = 2 * 16 * 128 * 2
    assert (got.group_size, got.groups) == (10, 7)
    assert got.bytes_per_token == 70 * per_layer
    assert got.exact_bytes_per_token == 62 * per_layer


def test_engine_log_reproduced_from_available_memory() -> None:
    # LMCache issue 1739 (vLLM V1): Qwen3-14B, "Available KV cache memory: 6.51 GiB" -> "GPU KV cache size: 42,656"
    qwen14 = {"num_hidden_layers": 40, "hidden_size": 5120, "num_attention_heads": 40, "num_key_value_heads": 8,
              "head_dim": 128}
    lay = layout(qwen14, 1)
    blocks = mem.vllm_blocks(6.51 * mem.GIB, lay, 16)
    assert mem.vllm_tokens(blocks, lay, 16) == 42656
    assert round(mem.vllm_concurrency(blocks, lay, 16, 32768, 32768, 8192), 2) == 1.30


def test_vllm_v0_blocks_match_the_log() -> None:
    # vLLM issue 10517 (V0): Llama-3.1-8B, kv_cache_size=3.81GiB -> "# GPU blocks: 1952" (3.81 is rounded)
    blocks = mem.vllm_blocks(3.8125 * mem.GIB, layout(LLAMA8, 1), 16, v1=False)
    assert blocks == 1952


def test_kv_evidence_floor() -> None:
    from bench.llm_serving_accuracy import kv_report

    summary = kv_report()
    assert summary["bytes_exact"] == summary["rows_with_available"]
    assert summary["tokens_max_err"] <= 0.05
    assert summary["tokens_median_err"] <= 0.02


def test_kv_evidence_covers_the_issue_families() -> None:
    """Scored token logs include sliding-window (padded groups), MLA, SGLang, TP 8, fp8 KV and MXFP4 rows."""
    import csv

    from bench.llm_serving_accuracy import EVIDENCE

    rows = [r for r in csv.DictReader((EVIDENCE / "llm_kv_cache.csv").open(encoding="utf-8"))
            if r["logged_tokens"] and r["logged_available_kv_gib"]]
    assert any(r["sliding_window"] and r["engine"] == "vllm" and "padding" in r["measured"] for r in rows)
    assert any(r["kv_lora_rank"] for r in rows)
    assert any(r["engine"] == "sglang" for r in rows)
    assert any(int(r["tensor_parallel"]) >= 8 for r in rows)
    assert any(r["kv_cache_dtype"] == "fp8" for r in rows)
    assert any(r["weight_format"] == "mxfp4" for r in rows)


# --- input errors name the field; an infeasible workload is an answer ---------------------------------------

@pytest.mark.parametrize(("change", "field"), [
    ({"config": {"tensor_parallel": 3}}, "config.tensor_parallel"),
    ({"config": {"max_model_len": 200_000}}, "config.max_model_len"),
    ({"engine": "sglang", "kv_cache_dtype": "fp8"}, "kv_cache_dtype"),
    ({"kv_cache_dtype": "fp16"}, "kv_cache_dtype"),
    ({"gpu": "Z80"}, "gpu"),
    ({"model": {"preset": "no-such-model"}}, "model.preset"),
    ({"model": {**LLAMA8, "num_attention_heads": 0}}, "model.num_attention_heads"),
])
def test_bad_input_names_the_field(change: dict[str, Any], field: str) -> None:
    base = {"model": {"preset": "llama-3.1-8b"}, "gpu": "H100-SXM-80GB"}
    with pytest.raises(PlanInputError) as err:
        plan(**{**base, **change})
    assert err.value.field == field


def test_infeasible_workload_says_so_and_what_would_meet_it() -> None:
    result = plan(model={"preset": "llama-3.1-70b"}, gpus=["L4", "A10G"],
                  workload={"mode": "rate", "requests_per_s": 50, "input_tokens": 4000, "output_tokens": 500,
                            "ttft_p95_ms": 50, "tpot_p95_ms": 5})
    assert not result.feasible
    assert result.summary.startswith("No configuration meets the workload")
    assert "would be met" in result.summary or "use a larger GPU" in result.summary
    assert all(not c.meets_targets for c in result.candidates)


def test_more_load_needs_more_replicas_and_tighter_tpot_more_gpus() -> None:
    wl = {"mode": "rate", "input_tokens": 1000, "output_tokens": 200, "ttft_p95_ms": 2000, "tpot_p95_ms": 80}
    low = plan(model={"preset": "llama-3.1-8b"}, gpu="L40S", workload={**wl, "requests_per_s": 1})
    high = plan(model={"preset": "llama-3.1-8b"}, gpu="L40S", workload={**wl, "requests_per_s": 40})
    assert low.feasible and high.feasible
    assert high.replicas * high.settings.tensor_parallel > low.replicas * low.settings.tensor_parallel


def test_search_over_five_gpus_is_fast() -> None:
    start = time.perf_counter()
    result = plan(model={"preset": "llama-3.1-70b"}, weight_format="fp8",
                  gpus=["L4", "L40S", "A100-SXM-80GB", "H100-SXM-80GB", "H200-SXM-141GB"],
                  workload={"mode": "rate", "requests_per_s": 10, "input_tokens": 2000, "output_tokens": 300,
                            "ttft_p95_ms": 2000, "tpot_p95_ms": 60})
    elapsed = time.perf_counter() - start
    assert result.feasible
    assert elapsed < 5.0  # the floor is 1 s (printed by bench.llm_serving_accuracy); loaded CI machines are slower


# --- artifacts, checked by the real things ----------------------------------------------------------------

@pytest.fixture(scope="module")
def artifacts() -> Any:
    result = plan(model={"preset": "llama-3.1-8b", "hf_id": "meta-llama/Llama-3.1-8B-Instruct"},
                  gpu="H100-SXM-80GB", kv_cache_dtype="fp8",
                  config={"tensor_parallel": 2, "max_model_len": 16384, "max_num_seqs": 128},
                  workload={"mode": "rate", "requests_per_s": 4, "input_tokens": 2000, "output_tokens": 400})
    assert result.artifacts is not None
    return result.artifacts


def test_launch_flags_exist_in_the_engines_parsers(artifacts: Any) -> None:
    vllm = shlex.split(artifacts.vllm_command)
    sglang = shlex.split(artifacts.sglang_command)
    assert vllm[:2] == ["vllm", "serve"] and "--tensor-parallel-size" in vllm
    assert unknown_flags("vllm", vllm) == []
    assert unknown_flags("sglang", sglang) == []
    assert unknown_flags("vllm", ["--no-such-flag"]) == ["--no-such-flag"]
    kserve = yaml.safe_load(artifacts.kserve_yaml)
    passed = [a for a in kserve["spec"]["predictor"]["model"]["args"] if not a.startswith(("--model_name", "--model_id", "--backend"))]
    assert unknown_flags("vllm", passed) == []


def _wheel(name: str) -> Path | None:
    found = sorted(WHEELS.glob(f"{name}-*.whl"))
    return found[-1] if found else None


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_flag_table_rederived_from_the_pinned_wheel(engine: str) -> None:
    wheel = _wheel(engine)
    if wheel is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{engine} wheel missing in {WHEELS}: run bash scripts/setup_serving")
        pytest.skip(f"{engine} wheel not downloaded (bash scripts/setup_serving)")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "extract_engine_flags.py"), str(wheel)],
                         capture_output=True, text=True, check=True, timeout=300)
    derived = json.loads(out.stdout)[engine]
    assert derived["version"] == engine_flags()[engine]["version"]
    assert derived["flags"] == engine_flags()[engine]["flags"]


def _strict(node: Any) -> Any:
    """The CRD schema as the API server applies it with fieldValidation=Strict: unknown fields refused."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if "properties" in out and not node.get("x-kubernetes-preserve-unknown-fields") \
                and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def test_kserve_inference_service_valid_against_the_crd(artifacts: Any) -> None:
    doc = json.loads(gzip.decompress((KNOWLEDGE / "kserve_inferenceservice_v1beta1.json.gz").read_bytes()))
    schema = _strict(copy.deepcopy(doc["openAPIV3Schema"]))
    schema["properties"]["metadata"] = {"type": "object"}
    isvc = yaml.safe_load(artifacts.kserve_yaml)
    validator = jsonschema.Draft4Validator(schema)
    assert [e.message for e in validator.iter_errors(isvc)] == []
    broken = copy.deepcopy(isvc)
    broken["spec"]["predictor"]["model"]["replicas"] = 2  # not a field of the KServe model spec
    assert list(validator.iter_errors(broken))


def test_kubernetes_objects_pass_strict_validation(artifacts: Any) -> None:
    docs = list(yaml.safe_load_all(artifacts.kubernetes_yaml))
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_sagemaker_lmi_requests_are_botocore_valid(artifacts: Any) -> None:
    requests = artifacts.sagemaker_requests
    assert requests["CreateModel"]["PrimaryContainer"]["Environment"]["OPTION_ROLLING_BATCH"] == "vllm"
    assert check_request("sagemaker", "CreateModel", requests["CreateModel"]) == []
    assert check_request("sagemaker", "CreateEndpointConfig", requests["CreateEndpointConfig"]) == []


def test_sagemaker_lmi_requests_against_moto() -> None:
    import boto3
    from moto import mock_aws

    # moto's hosting-type list is older than botocore's: plan on T4 x 4 (ml.g4dn.12xlarge), a type it knows
    result = plan(model={"preset": "llama-3.1-8b", "hf_id": "meta-llama/Llama-3.1-8B-Instruct"}, gpu="T4",
                  config={"tensor_parallel": 4, "max_model_len": 4096})
    requests = result.artifacts.sagemaker_requests
    assert requests["CreateEndpointConfig"]["ProductionVariants"][0]["InstanceType"] == "ml.g4dn.12xlarge"
    with mock_aws():
        sm = boto3.client("sagemaker", region_name="us-east-1")
        sm.create_model(**requests["CreateModel"])
        sm.create_endpoint_config(**requests["CreateEndpointConfig"])
        model = sm.describe_model(ModelName=requests["CreateModel"]["ModelName"])
        assert model["PrimaryContainer"]["Environment"]["TENSOR_PARALLEL_DEGREE"] == "4"
        config = sm.describe_endpoint_config(EndpointConfigName=requests["CreateEndpointConfig"]["EndpointConfigName"])
        assert config["ProductionVariants"][0]["ModelName"] == requests["CreateModel"]["ModelName"]
