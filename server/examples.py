"""One realistic call per tool: `ml-expert tools NAME` prints it as a worked example, the tests call every tool
with it, and the benchmarks time it (bench/calls.py: SMALL)."""

from __future__ import annotations

from typing import Any

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
EXAMPLES: dict[str, dict[str, Any]] = {
    "search_knowledge": {"query": "model registry stages", "limit": 3},
    "recommend_framework": {"task": "tabular", "data_size_gb": 5},
    "estimate_training_memory": {"model": {"preset": "llama-2-7b"}, "cluster": {"gpus_per_node": 8},
                                 "layout": {"data_parallel": 8, "zero_stage": 3, "micro_batch_size": 1}},
    "select_distribution_strategy": {"model": {"preset": "llama-3.1-8b"}, "cluster": {"nodes": 1}, "top_k": 1},
    "plan_pytorch_training": {"model": {"preset": "mistral-7b"}, "training": {"sequence_length": 4096}},
    "plan_tf_training": {"model": {"preset": "bert-base"}, "training": {"sequence_length": 128}},
    "plan_tf_serving": {"model": {"name": "resnet", "base_path": "s3://models/resnet"},
                        "traffic": {"peak_rps": 300}, "sla": {"latency_ms": 50},
                        "cost": {"measured": [{"batch_size": 1, "latency_ms": 5}, {"batch_size": 8, "latency_ms": 8}]}},
    "verify_tf_serving": {"base_url": "http://127.0.0.1:9", "model_name": "resnet", "timeout_s": 0.5},
    "plan_llm_serving": {"model": {"preset": "llama-3.1-8b", "hf_id": "meta-llama/Llama-3.1-8B-Instruct"},
                         "gpu": "L40S", "workload": {"mode": "rate", "requests_per_s": 5, "input_tokens": 1000,
                                                     "output_tokens": 200, "ttft_p95_ms": 1000, "tpot_p95_ms": 60}},
    "plan_sagemaker_job": {"job_name": "ft", "workload": {"gpu_memory_gib": 20, "gpu_count": 1, "runtime_hours": 2},
                           "dataset": {"train_s3_uri": "s3://bucket/train", "size_gb": 1},
                           "aws": {"role_arn": ROLE}, "output_s3_uri": "s3://bucket/out"},
    "plan_sagemaker_endpoint": {"name": "m", "image_uri": "763104351884.dkr.ecr.us-east-1.amazonaws.com/x:1",
                                "model_data_url": "s3://bucket/model.tar.gz", "aws": {"role_arn": ROLE},
                                "traffic": {"peak_rps": 50, "average_rps": 10}, "sla": {"latency_ms": 200},
                                "cost": {"flops_per_example": 1e9, "params": 1e7}},
    "design_mlflow_platform": {"team_size": 12, "platform": "vm"},
    "verify_mlflow_server": {"tracking_uri": "http://127.0.0.1:9", "timeout_s": 0.5},
    "design_feature_store": {"project": "shop", "online_qps": 5000, "p99_ms": 10,
                             "entities": [{"name": "customer", "join_key": "customer_id", "count": 1000000}],
                             "feature_views": [{"name": "stats", "entities": ["customer"], "ttl_seconds": 86400,
                                                "features": [{"name": "spend_7d", "dtype": "float64"}]}]},
    "design_model_monitoring": {"model_name": "churn", "predictions_per_hour": 2000,
                                "features": [{"name": "tenure", "type": "numeric"}, {"name": "plan", "type": "categorical",
                                                                                      "categories": 6}]},
    "plan_kubeflow_training": {"model": {"preset": "llama-3.1-8b"}, "queue": "team-a"},
    "design_ml_pipeline": {"name": "churn", "data_gate": {"expected_columns": ["tenure", "spend"]}},
    "plan_edge_deployment": {"model": {"source": "keras", "preset": "mobilenet_v2", "representative_samples": 200},
                             "targets": ["android_gpu"], "size_budget_bytes": 8_000_000},
}
