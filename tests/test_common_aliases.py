"""Names a person types (issue 22): common GPU and model names resolve, with a note in the plan; an ambiguous name
is an input error naming the field and listing the candidates."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from ml_expert_mcp.knowledge import alias_table, gpu_catalog, model_catalog
from ml_expert_mcp.knowledge.schema import Alias
from ml_expert_mcp.tools.common.aliases import alias_note, resolve_name
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.hardware import resolve_gpu
from ml_expert_mcp.tools.serving.tf_serving import PlanTFServingRequest, plan_tf_serving
from ml_expert_mcp.tools.training.estimate import EstimateTrainingMemoryRequest, estimate_training_memory
from ml_expert_mcp.tools.training.inputs import ClusterSpec, Layout, ModelSpec, TrainingSpec
from ml_expert_mcp.tools.training.model_arch import resolve_model
from ml_expert_mcp.tools.training.pytorch import PlanPyTorchTrainingRequest, plan_pytorch_training
from ml_expert_mcp.tools.training.strategy import SelectDistributionRequest, select_distribution_strategy


@pytest.mark.parametrize(("typed", "expected"), [
    ("H100", "H100-SXM-80GB"), ("h100", "H100-SXM-80GB"), ("NVIDIA H100 PCIe", "H100-PCIe-80GB"),
    ("H200", "H200-SXM-141GB"), ("A100 80GB", "A100-SXM-80GB"), ("RTX 4090", "RTX-4090"), ("4090", "RTX-4090"),
    ("GeForce RTX 5090", "RTX-5090"), ("AMD Instinct MI300X", "MI300X"), ("mi355", "MI355X"),
    ("TPU v5p", "TPU-v5p"), ("Trillium", "TPU-v6e"), ("gb200", "GB200"), ("l4", "L4"),
])
def test_gpu_names_resolve(typed: str, expected: str) -> None:
    assert resolve_gpu(typed).id == expected


@pytest.mark.parametrize(("typed", "expected"), [
    ("llama-3-70b", "llama-3.1-70b"), ("meta-llama/Meta-Llama-3-70B-Instruct", "llama-3.1-70b"),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b"), ("llama3.1:8b", "llama-3.1-8b"),
    ("Qwen/Qwen3-30B-A3B", "qwen3-30b-a3b"), ("qwen3-30b", "qwen3-30b-a3b"), ("qwen-2.5-7b", "qwen2.5-7b"),
    ("google/gemma-3-27b-it", "gemma-3-27b"), ("mistralai/Mistral-7B-Instruct-v0.3", "mistral-7b"),
    ("deepseek-ai/DeepSeek-V3-0324", "deepseek-v3"), ("deepseek-r1", "deepseek-v3"),
    ("openai/gpt-oss-120b", "gpt-oss-120b"), ("microsoft/Phi-3-mini-4k-instruct", "phi-3-mini"),
    ("llama-2-7b-chat-hf", "llama-2-7b"), ("bert-base", "bert-base"),
])
def test_model_names_resolve(typed: str, expected: str) -> None:
    assert resolve_model(ModelSpec(preset=typed)).name == expected


@pytest.mark.parametrize(("kind", "typed", "field", "candidates"), [
    ("gpu", "A100", "cluster.gpu", {"A100-SXM-40GB", "A100-SXM-80GB"}),
    ("gpu", "V100", "replica.gpu", {"V100-SXM2-16GB", "V100-SXM2-32GB"}),
    ("gpu", "TPU v5", "node.gpu", {"TPU-v5e", "TPU-v5p"}),
    ("model", "llama-70b", "model.preset", {"llama-2-70b", "llama-3.1-70b", "llama-3.3-70b"}),
    ("model", "qwen3", "model.preset", {"qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen3-14b",
                                               "qwen3-32b", "qwen3-30b-a3b", "qwen3-235b-a22b"}),
    ("model", "bert", "model.preset", {"bert-base", "bert-large"}),
])
def test_ambiguous_names_error_listing_candidates(kind: str, typed: str, field: str, candidates: set[str]) -> None:
    catalog = gpu_catalog() if kind == "gpu" else model_catalog()
    with pytest.raises(PlanInputError) as err:
        resolve_name(kind, typed, catalog, field)  # type: ignore[arg-type]
    assert err.value.field == field
    message = str(err.value)
    assert message.startswith(f"{field}: ") and "ambiguous" in message
    listed = set(message.split("candidates: ", 1)[1].split(", "))
    assert listed == candidates


def test_unknown_name_lists_the_accepted_ids() -> None:
    with pytest.raises(PlanInputError) as err:
        resolve_gpu("Voodoo3")
    assert err.value.field == "cluster.gpu" and "H100-SXM-80GB" in str(err.value) and "MI300X" in str(err.value)


def test_alias_table_is_valid_and_targets_exist() -> None:
    raw = tomllib.loads(resources.files("ml_expert_mcp.knowledge").joinpath("aliases.toml").read_text())["alias"]
    assert len(raw) >= 30
    table = alias_table()
    assert sum(len(v) for v in table.values()) == len(raw)
    for entry in raw:
        alias = Alias.model_validate(entry)
        ids = gpu_catalog() if alias.kind == "gpu" else model_catalog()
        assert all(t in ids for t in ((alias.to,) if alias.to else alias.candidates)), alias.name
    with pytest.raises(ValueError):
        Alias(kind="gpu", name="x", candidates=("H100-SXM-80GB",))


def test_alias_note_says_what_a_name_was_read_as() -> None:
    note = alias_note("cluster.gpu", "H100", "H100-SXM-80GB")
    assert note.startswith("cluster.gpu: 'H100' read as 'H100-SXM-80GB'") and "PCIe" in note
    assert alias_note("cluster.gpu", "H100-SXM-80GB", "H100-SXM-80GB") == ""
    assert alias_note("model.preset", None, "llama-3.1-8b") == ""


# --- the planners report the reading ------------------------------------------------------------------------------

TYPED_MODEL = ModelSpec(preset="meta-llama/Llama-3.1-8B-Instruct")
TYPED_CLUSTER = ClusterSpec(gpu="H100", gpus_per_node=8, nodes=1)
TRAINING = TrainingSpec(sequence_length=2048, global_batch_size=64)


def _reports_both(notes: list[str]) -> None:
    assert any(n.startswith("cluster.gpu: 'H100' read as 'H100-SXM-80GB'") for n in notes), notes
    assert any(n.startswith("model.preset: 'meta-llama/Llama-3.1-8B-Instruct' read as 'llama-3.1-8b'") for n in notes)


def test_estimate_training_memory_reports_the_names() -> None:
    plan = estimate_training_memory(EstimateTrainingMemoryRequest(
        model=TYPED_MODEL, training=TRAINING, cluster=TYPED_CLUSTER, layout=Layout(data_parallel=8, zero_stage=3)))
    assert plan.gpu == "H100-SXM-80GB"
    _reports_both(plan.assumptions)


def test_select_distribution_strategy_reports_the_names() -> None:
    plan = select_distribution_strategy(SelectDistributionRequest(model=TYPED_MODEL, training=TRAINING,
                                                                  cluster=TYPED_CLUSTER, top_k=1))
    _reports_both(plan.caveats)
    exact = select_distribution_strategy(SelectDistributionRequest(
        model=ModelSpec(preset="llama-3.1-8b"), training=TRAINING,
        cluster=ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=8, nodes=1), top_k=1))
    assert exact.caveats == [] and exact.ranked == plan.ranked


def test_plan_pytorch_training_reports_the_names_and_rocm_notes() -> None:
    plan = plan_pytorch_training(PlanPyTorchTrainingRequest(model=TYPED_MODEL, training=TRAINING, cluster=TYPED_CLUSTER))
    _reports_both(plan.caveats)
    amd = plan_pytorch_training(PlanPyTorchTrainingRequest(
        model=ModelSpec(preset="llama-3.1-8b"), training=TRAINING, cluster=ClusterSpec(gpu="mi300x", gpus_per_node=8)))
    assert amd.precision in ("amp_bf16", "bf16")  # CDNA3 has bf16 matrix cores: no fp16 fallback
    assert any("read as 'MI300X'" in c for c in amd.caveats)
    assert any("ROCm" in c and "RCCL" in c for c in amd.caveats)


def test_plan_tf_serving_reports_the_gpu_name() -> None:
    base = {"model": {"name": "resnet", "base_path": "s3://models/resnet", "versions": [{"version": 1}]},
            "replica": {"cpu_cores": 8, "gpu": "nvidia t4"}, "traffic": {"peak_rps": 200, "average_rps": 70},
            "sla": {"latency_ms": 50},
            "cost": {"measured": [{"batch_size": 1, "latency_ms": 5}, {"batch_size": 8, "latency_ms": 8}]}}
    plan = plan_tf_serving(PlanTFServingRequest.model_validate(base))
    assert any(a.startswith("replica.gpu: 'nvidia t4' read as 'T4'") for a in plan.latency_model.assumptions)


def test_plan_llm_serving_reads_common_names() -> None:
    from ml_expert_mcp.tools.serving.llm_serving import PlanLlmServingRequest, plan_llm_serving

    plan = plan_llm_serving(PlanLlmServingRequest.model_validate(
        {"model": {"preset": "meta-llama/Llama-3.1-8B-Instruct"}, "gpu": "H100"}))
    assert any(c.startswith("model.preset: 'meta-llama/Llama-3.1-8B-Instruct' read as 'llama-3.1-8b'") for c in plan.caveats)
    assert any(c.startswith("gpu: 'H100' read as 'H100-SXM-80GB'") for c in plan.caveats)
    with pytest.raises(PlanInputError) as err:  # encoders are not LLM presets
        plan_llm_serving(PlanLlmServingRequest.model_validate({"model": {"preset": "bert-base"}, "gpu": "H100"}))
    assert err.value.field == "model.preset"


def test_plan_tf_training_reports_the_names() -> None:
    from ml_expert_mcp.tools.training.tensorflow import PlanTFTrainingRequest, plan_tf_training

    plan = plan_tf_training(PlanTFTrainingRequest(model=ModelSpec(preset="resnet50"),
                                                  cluster=ClusterSpec(gpu="A100 80GB", gpus_per_node=8)))
    assert any(c.startswith("cluster.gpu: 'A100 80GB' read as 'A100-SXM-80GB'") for c in plan.caveats)
    assert any(c.startswith("model.preset: 'resnet50' read as 'resnet-50'") for c in plan.caveats)
