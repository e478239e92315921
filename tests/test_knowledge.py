"""Schema test for every knowledge file, and the 2026 corrections the knowledge base must carry."""

from __future__ import annotations

import tomllib
from datetime import date
from importlib import resources

import pytest

from ml_expert_mcp.knowledge import framework_files, framework_nodes, gpu_catalog, model_catalog, node_index
from ml_expert_mcp.knowledge.schema import GpuSpec, KnowledgeNode, ModelPreset

SEED_TREES = ["tensorflow", "tensorflow.keras", "tensorflow.data", "tensorflow.serving", "tensorflow.lite", "tensorflow.js",
              "tfx", "tfx.examplegen", "tfx.bulkinferrer", "tfx.monitoring", "pytorch", "pytorch.torchscript",
              "pytorch.torchserve", "lightning", "parallelism", "custom_ops", "mlflow.tracking", "mlflow.models",
              "mlflow.registry", "kubeflow", "mlops_cicd", "feature_store", "sagemaker.studio", "sagemaker.training",
              "sagemaker.inference", "sagemaker.pipelines", "sagemaker.feature_store"]


@pytest.mark.parametrize("relative", framework_files())
def test_every_framework_file_validates(relative: str) -> None:
    raw = tomllib.loads(resources.files("knowledge").joinpath(relative).read_text())
    assert raw["node"], relative
    for entry in raw["node"]:
        node = KnowledgeNode.model_validate(entry)
        assert node.sources, node.id


def test_catalog_files_validate() -> None:
    for entry in tomllib.loads(resources.files("knowledge").joinpath("gpus.toml").read_text())["gpu"]:
        GpuSpec.model_validate(entry)
    for entry in tomllib.loads(resources.files("knowledge").joinpath("models.toml").read_text())["model"]:
        ModelPreset.model_validate(entry)


def test_every_seed_tree_is_present_and_sourced() -> None:
    index = node_index()
    for node_id in SEED_TREES:
        assert node_id in index, node_id
    # as_of is the date of the cited document or release (issue 22), so it may be old but never in the future
    assert all(n.sources and all(s.as_of.year >= 1990 and s.as_of <= date.today() for s in n.sources)
               for n in framework_nodes())


@pytest.mark.parametrize(("node_id", "status", "successor"), [
    ("mlflow.registry.stages", "deprecated", "mlflow.registry"),
    ("kubeflow.kfserving", "renamed", "kserve"),
    ("tensorflow.lite", "renamed", "litert"),
    ("pytorch.torchscript", "deprecated", "pytorch.export"),
    ("pytorch.torchserve", "deprecated", "kserve"),
    ("sagemaker.elastic_inference", "removed", "sagemaker.inference"),
    ("tensorflow.estimators", "removed", "tensorflow.keras"),
])
def test_outdated_seed_advice_is_corrected(node_id: str, status: str, successor: str) -> None:
    node = node_index()[node_id]
    assert node.status == status
    assert node.successor == successor
    assert node.correction


def test_rejects_a_node_without_source() -> None:
    with pytest.raises(ValueError):
        KnowledgeNode(id="x.y", title="X", summary="a node with no source at all", sources=())


def test_catalogues_cover_the_issue_lists() -> None:
    gpus = set(gpu_catalog())
    for gpu in ("V100-SXM2-16GB", "T4", "A10G", "L4", "L40S", "A100-SXM-40GB", "A100-SXM-80GB", "H100-SXM-80GB",
                "H100-PCIe-80GB", "H200-SXM-141GB", "B200", "TPU-v4", "TPU-v5e"):
        assert gpu in gpus
    models = set(model_catalog())
    for preset in ("llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b",
                   "mistral-7b", "mixtral-8x7b", "qwen2.5-7b", "qwen2.5-72b", "gpt3-175b", "bert-base", "bert-large",
                   "vit-b-16", "resnet-50"):
        assert preset in models


def test_power_capped_board_runs_its_tensor_cores_below_the_datasheet_peak() -> None:
    """The T4 sustains about 24 of its 65 FP16 TFLOP/s in continuous GEMMs (NVIDIA forum, cited in gpus.toml); its
    CUDA-core FP32 and boards without a cap keep their datasheet figures; fp32 runs as TF32 where there is TF32."""
    gpus = gpu_catalog()
    t4, h100 = gpus["T4"], gpus["H100-SXM-80GB"]
    assert 23 <= t4.dense_tflops("fp16") <= 25 and t4.dense_tflops("amp_bf16") == t4.dense_tflops("fp16")
    assert t4.dense_tflops("fp32") == t4.fp32_tflops
    assert h100.dense_tflops("bf16") == h100.bf16_tflops and h100.dense_tflops("fp8") == h100.fp8_tflops
    assert h100.dense_tflops("fp32") == h100.tf32_tflops
