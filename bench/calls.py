"""Realistic tool calls, small and large, valid and invalid, shared by the benchmarks and the load test.

Each invalid call names the field its error must mention, so a load run can check every answer.
"""

from __future__ import annotations

from typing import Any

from ml_expert_mcp.server.examples import EXAMPLES, ROLE

SMALL: dict[str, dict[str, Any]] = EXAMPLES  # one realistic call per tool, shipped in the package
LARGE: dict[str, dict[str, Any]] = {
    **SMALL,
    "search_knowledge": {"query": "distributed training fsdp deepspeed zero tensor parallel pipeline", "limit": 20},
    "estimate_training_memory": {"model": {"preset": "llama-3.1-70b"}, "cluster": {"nodes": 8},
                                 "layout": {"data_parallel": 8, "tensor_parallel": 8, "zero_stage": 1,
                                            "micro_batch_size": 1}},
    "select_distribution_strategy": {"model": {"preset": "llama-3.1-70b"}, "cluster": {"nodes": 8},
                                     "framework": "megatron", "top_k": 3},
    "plan_pytorch_training": {"model": {"preset": "llama-3.1-70b"}, "cluster": {"nodes": 8},
                              "training": {"sequence_length": 8192}},
    "plan_tf_serving": {"model": {"name": "bert", "base_path": "gs://m/bert",
                                  "versions": [{"version": 1, "label": "stable"}, {"version": 2, "label": "canary"}]},
                        "replica": {"gpu": "L4", "cpu_cores": 8}, "traffic": {"peak_rps": 3000, "average_rps": 900},
                        "sla": {"latency_ms": 50, "percentile": "p99"},
                        "cost": {"measured": [{"batch_size": b, "latency_ms": 2 + 0.3 * b} for b in (1, 4, 16, 64, 256)]},
                        "deployment": {"tls": True}},
    "plan_llm_serving": {"model": {"preset": "llama-3.1-70b", "hf_id": "meta-llama/Llama-3.1-70B-Instruct"},
                         "weight_format": "fp8", "kv_cache_dtype": "fp8",
                         "workload": {"mode": "rate", "requests_per_s": 20, "input_tokens": 2000, "input_tokens_p95": 6000,
                                      "output_tokens": 300, "ttft_p95_ms": 2000,
                                      "tpot_p95_ms": 50}},
    "plan_sagemaker_job": {"job_name": "llama-8b", "workload": {"model": {"preset": "llama-3.1-8b"},
                                                                 "train_tokens": 2e9},
                           "dataset": {"train_s3_uri": "s3://bucket/train", "size_gb": 20},
                           "aws": {"role_arn": ROLE}, "output_s3_uri": "s3://bucket/out", "spot": {"use_spot": True}},
    "plan_sagemaker_endpoint": {**SMALL["plan_sagemaker_endpoint"], "traffic": {"peak_rps": 20, "average_rps": 6},
                                "llm": {"model": {"preset": "llama-3.1-8b"}, "input_tokens": 1000, "output_tokens": 200,
                                        "ttft_p95_ms": 2000, "tpot_p95_ms": 50}},
    "design_mlflow_platform": {"team_size": 200, "platform": "aws", "artifact_uri": "s3://bucket/mlflow",
                               "runs_per_day": 20000, "hostname": "mlflow.example.com",
                               "deployment_targets": ["kubernetes_kserve", "sagemaker", "batch"],
                               "approval": {"approvers": ["alice"], "gates": [
                                   {"metric": "accuracy", "comparison": ">=", "threshold": 0.9}]}},
    "design_model_monitoring": {
        "model_name": "fraud", "predictions_per_hour": 50000, "sample_rate": 0.2, "label_delay_hours": 72,
        "features": [{"name": f"f{i}", "type": t} for i, t in enumerate(["numeric", "count", "boolean"] * 10)]
        + [{"name": "merchant", "type": "categorical", "categories": 5000}],
        "performance": {"name": "recall", "baseline": 0.8, "min_change": 0.05},
        "sagemaker": {"endpoint_name": "fraud", "role_arn": ROLE, "s3_uri": "s3://bucket/monitoring"}},
    "design_feature_store": {
        "project": "shop", "online_qps": 5000, "p99_ms": 10, "entities_per_request": 20, "cloud": "aws",
        "entities": [{"name": "customer", "join_key": "customer_id", "count": 50_000_000},
                     {"name": "item", "join_key": "item_id", "key_type": "string", "count": 2_000_000}],
        "feature_views": [{"name": f"v{i}", "entities": ["customer" if i % 2 else "item"], "ttl_seconds": 86400 * i,
                           "source": "stream" if i % 3 == 0 else "batch",
                           "features": [{"name": f"v{i}_f{j}", "dtype": "float32"} for j in range(20)]}
                          for i in range(10)],
        "on_demand": [{"name": "ratio_1_3", "op": "ratio", "left": "v1:v1_f0", "right": "v3:v3_f0"}]},
    "plan_kubeflow_training": {"model": {"preset": "llama-3.1-70b"}, "nodes": 4, "runtime": "custom",
                               "queue": "team-a", "priority_class": "high", "dataset_pvc": "corpus",
                               "checkpoint_pvc": "ckpt", "sequence_length": 8192},
    "design_ml_pipeline": {"name": "llm-ft", "model": {"preset": "llama-3.1-8b"}, "serving_target": "sagemaker",
                           "data_uri": "s3://ml-data/llm/train.csv", "blessing": {"min_value": 0.7,
                                                                                  "min_improvement": 0.01}},
}
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("search_knowledge", {"query": "x", "limit": 0}, "limit"),
    ("estimate_training_memory", {"model": {"preset": "llama-2-7b"}, "cluster": {"gpu": "Z80"}}, "cluster.gpu"),
    ("estimate_training_memory", {"model": {"preset": "mixtral-8x7b"}, "layout": {"data_parallel": 8, "expert_parallel": 3}},
     "layout.expert_parallel"),
    ("select_distribution_strategy", {"model": {"preset": "llama-3.1-8b"},
                                      "training": {"finetuning": {"method": "qlora", "base_quantization": "fp8"}}},
     "base_quantization"),
    ("plan_tf_serving", {**SMALL["plan_tf_serving"], "sla": {"latency_ms": -1}}, "latency_ms"),
    ("plan_sagemaker_job", {**SMALL["plan_sagemaker_job"], "aws": {"role_arn": "nope"}}, "role_arn"),
    ("plan_llm_serving", {**SMALL["plan_llm_serving"], "config": {"tensor_parallel": 3}}, "config.tensor_parallel"),
    ("plan_sagemaker_endpoint", {**SMALL["plan_sagemaker_endpoint"], "options": {"serverless": "always"},
                                 "llm": {"model": {"preset": "llama-3.1-8b"}, "input_tokens": 1000, "output_tokens": 200}},
     "options.serverless"),
    ("design_mlflow_platform", {"team_size": 0, "platform": "vm"}, "team_size"),
    ("design_feature_store", {**SMALL["design_feature_store"], "feature_views": [
        {"name": "stats", "entities": ["customer"], "ttl_seconds": -1, "features": [{"name": "x", "dtype": "int64"}]}]},
     "ttl_seconds"),
    ("design_model_monitoring", {**SMALL["design_model_monitoring"], "power": 1.5}, "power"),
    ("recommend_framework", {"task": "tabular", "data_size_gb": 5, "unknown_knob": 1}, "unknown_knob"),
    ("plan_edge_deployment", {**SMALL["plan_edge_deployment"], "recipe": "full_int8", "targets": ["android_npu"],
                              "model": {"source": "keras", "preset": "mobilenet_v2"}}, "representative_samples"),
    ("plan_kubeflow_training", {"model": {"preset": "llama-3.1-8b"}, "runtime": "torch-distributed-v9"}, "runtime"),
    ("plan_kubeflow_training", {"model": {"preset": "llama-3.1-8b"}, "node": {"gpus": 4}, "gpus_per_node": 8},
     "gpus_per_node"),
]
