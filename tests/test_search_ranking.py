"""search_knowledge ranks like a search engine: 30 queries a user would type, each with the node that should come
first (written by hand from the node list, not from the ranking). Floor (issue 22): at least 28 first."""

from __future__ import annotations

from ml_expert_mcp.tools.frameworks.search import SearchKnowledgeRequest, search_knowledge

EXPECTED_FIRST = {
    "TorchScript": "pytorch.torchscript",
    "TensorFlow Estimators": "tensorflow.estimators",
    "model registry stages": "mlflow.registry.stages",
    "torchrun": "pytorch.torchrun",
    "torch.distributed.launch": "pytorch.distributed_launch",
    "ExecuTorch": "executorch",
    "LoRA fine-tuning": "peft",
    "QLoRA 4-bit": "peft",
    "torchtune recipes": "peft.torchtune",
    "mixture of experts expert parallelism": "parallelism.moe",
    "gpu memory utilization kv cache": "vllm.paged_attention",
    "SGLang": "sglang",
    "TrainJob": "kubeflow.trainer_v2",
    "Feast": "feature_store.feast",
    "data drift PSI": "mlops_cicd.drift_monitoring",
    "Core ML": "coreml",
    "TensorFlow Lite": "tensorflow.lite",
    "LiteRT": "litert",
    "KFServing": "kubeflow.kfserving",
    "KServe": "kserve",
    "FSDP": "parallelism.fsdp",
    "ZeRO": "parallelism.zero",
    "DeepSpeed": "parallelism.deepspeed",
    "tensor parallelism": "parallelism.tensor",
    "activation checkpointing": "parallelism.checkpointing",
    "torch.compile": "pytorch.compile",
    "mixed precision bf16": "pytorch.amp",
    "tf.data pipeline": "tensorflow.data",
    "TF Serving batching": "tensorflow.serving.batching",
    "Kubeflow Pipelines": "kubeflow.pipelines",
    "SageMaker Model Monitor": "sagemaker.model_monitor",
    "Elastic Inference": "sagemaker.elastic_inference",
    "DataParallel": "parallelism.dp",
    "ROCm MI300X": "rocm",
    "torch_xla TPU": "pytorch.xla",
    "Trainium Neuron": "aws_neuron",
    "Megatron-LM": "parallelism.megatron",
    "Kueue quota": "kueue",
}


def _first(query: str) -> str | None:
    hits = search_knowledge(SearchKnowledgeRequest(query=query, limit=3)).hits
    return hits[0].id if hits else None


def test_expected_node_first_on_at_least_28_of_30_queries() -> None:
    assert len(EXPECTED_FIRST) >= 30
    missed = {q: (want, _first(q)) for q, want in EXPECTED_FIRST.items() if _first(q) != want}
    assert len(EXPECTED_FIRST) - len(missed) >= 28, f"missed (expected, got): {missed}"


def test_query_text_is_not_fts_syntax() -> None:
    for query in ('" OR 1=1 --', "NEAR(a b)", "title:*", "AND OR NOT", "*"):
        search_knowledge(SearchKnowledgeRequest(query=query, limit=5))  # no sqlite3.OperationalError
