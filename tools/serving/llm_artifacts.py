"""Artifacts of plan_llm_serving: `vllm serve` and SGLang launch commands (flags from the engines' own parsers,
knowledge/llm_serving/engine_flags.json), a Kubernetes Deployment/Service/HPA, a KServe InferenceService on the
Hugging Face runtime (vLLM backend) and SageMaker LMI (vLLM) requests checked against botocore."""

from __future__ import annotations

import json
import shlex
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ml_expert_mcp.tools.common import k8s
from ml_expert_mcp.tools.common.aws import require_valid
from ml_expert_mcp.tools.serving.llm_inputs import MAX_REPLICAS
from ml_expert_mcp.tools.serving.llm_plans import LlmArtifacts

if TYPE_CHECKING:
    from ml_expert_mcp.tools.serving.llm_inputs import PlanLlmServingRequest
    from ml_expert_mcp.tools.serving.llm_serving import Evaluation

VLLM_IMAGE = "vllm/vllm-openai:v0.11.0"
SGLANG_IMAGE = "lmsysorg/sglang:v0.5.3-cu126"
LMI_IMAGE = "763104351884.dkr.ecr.{region}.amazonaws.com/djl-inference:0.33.0-lmi15.0.0-cu128"
PLACEHOLDER_ROLE = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"


@cache
def engine_flags() -> dict[str, Any]:
    text = resources.files("ml_expert_mcp.knowledge").joinpath("llm_serving/engine_flags.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def unknown_flags(engine: str, argv: list[str]) -> list[str]:
    """Flags in argv that the engine's parser (of the pinned release) does not define."""
    known = set(engine_flags()[engine]["flags"])
    return [a.split("=", 1)[0] for a in argv if a.startswith("--") and a.split("=", 1)[0] not in known]


NAMESPACE = "default"
REGION = "us-east-1"  # the region of the catalogue's SageMaker prices


def _model_id(req: PlanLlmServingRequest) -> str:
    return req.model.hf_id or (req.model.preset or "model")


def service_name(req: PlanLlmServingRequest) -> str:
    return k8s.dns_name(_model_id(req).rsplit("/", 1)[-1])[:40].rstrip("-") or "llm"


def vllm_argv(req: PlanLlmServingRequest, ev: Evaluation) -> list[str]:
    s = ev.settings
    argv = ["vllm", "serve", _model_id(req), "--host", "0.0.0.0", "--port", "8000",
            "--served-model-name", service_name(req),
            "--tensor-parallel-size", str(s.tensor_parallel), "--pipeline-parallel-size", str(s.pipeline_parallel),
            "--gpu-memory-utilization", f"{s.gpu_memory_utilization or 0.9:g}", "--max-model-len", str(s.max_model_len),
            "--max-num-seqs", str(s.max_num_seqs), "--max-num-batched-tokens", str(s.max_num_batched_tokens),
            "--block-size", str(s.block_size), "--kv-cache-dtype", s.kv_cache_dtype, "--enable-prefix-caching"]
    return argv


def sglang_argv(req: PlanLlmServingRequest, ev: Evaluation, fraction: float) -> list[str]:
    s = ev.settings
    kv = s.kv_cache_dtype if s.kv_cache_dtype in ("auto", "fp8_e5m2", "fp8_e4m3") else "fp8_e4m3"
    return ["python3", "-m", "sglang.launch_server", "--model-path", _model_id(req), "--host", "0.0.0.0",
            "--port", "30000", "--served-model-name", service_name(req), "--tp-size", str(s.tensor_parallel),
            "--pp-size", str(s.pipeline_parallel), "--mem-fraction-static", f"{fraction:g}",
            "--context-length", str(s.max_model_len), "--max-running-requests", str(s.max_num_seqs),
            "--chunked-prefill-size", str(s.max_num_batched_tokens), "--kv-cache-dtype", kv]


def kubernetes_objects(req: PlanLlmServingRequest, ev: Evaluation, replicas: int) -> list[dict[str, Any]]:
    name = service_name(req)
    gpus = ev.settings.tensor_parallel * ev.settings.pipeline_parallel
    labels = {"app.kubernetes.io/name": name}
    args = vllm_argv(req, ev)[2:]
    container = {
        "name": "vllm", "image": VLLM_IMAGE, "args": args,
        "ports": [{"name": "http", "containerPort": 8000}],
        "env": [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token",
                                                                     "optional": True}}}],
        "resources": {"limits": {"nvidia.com/gpu": str(gpus)}, "requests": {"nvidia.com/gpu": str(gpus)}},
        "readinessProbe": {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 10,
                           "failureThreshold": 3},
        "startupProbe": {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 10,
                         "failureThreshold": 180},
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}, {"name": "hf-cache", "mountPath": "/root/.cache/huggingface"}],
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": k8s.metadata(name, NAMESPACE, name, "llm-server"),
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [container],
                                       "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
                                                   {"name": "hf-cache", "emptyDir": {}}]}}},
    }
    service = {"apiVersion": "v1", "kind": "Service", "metadata": k8s.metadata(name, NAMESPACE, name, "llm-server"),
               "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 8000}]}}
    target = max(1, int(ev.settings.max_num_seqs * 0.8))
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": k8s.metadata(name, NAMESPACE, name, "llm-server"),
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": replicas, "maxReplicas": max(replicas, MAX_REPLICAS),
                    "metrics": [{"type": "Pods", "pods": {"metric": {"name": "vllm:num_requests_running"},
                                                          "target": {"type": "AverageValue",
                                                                     "averageValue": str(target)}}}]}}
    return [deployment, service, hpa]


def kserve_object(req: PlanLlmServingRequest, ev: Evaluation, replicas: int) -> dict[str, Any]:
    name = service_name(req)
    s = ev.settings
    gpus = s.tensor_parallel * s.pipeline_parallel
    options = vllm_argv(req, ev)[9:-1]  # the engine's flag/value pairs after --served-model-name
    args = [f"--model_name={name}", f"--model_id={_model_id(req)}", "--backend=vllm"] + \
        [f"{a}={b}" for a, b in zip(options[0::2], options[1::2], strict=True)]
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"predictor": {"minReplicas": replicas, "maxReplicas": max(replicas, MAX_REPLICAS),
                                   "model": {"modelFormat": {"name": "huggingface"}, "args": args,
                                             "resources": {"limits": {"nvidia.com/gpu": str(gpus), "memory": "64Gi"},
                                                           "requests": {"nvidia.com/gpu": str(gpus), "cpu": "8",
                                                                        "memory": "64Gi"}}}}}}


def lmi_environment(ev: Evaluation) -> dict[str, str]:
    """The LMI (DJL Serving, vLLM async) container environment for the evaluated engine settings."""
    s = ev.settings
    env = {"OPTION_ROLLING_BATCH": "vllm", "OPTION_ASYNC_MODE": "true",
           "OPTION_ENTRYPOINT": "djl_python.lmi_vllm.vllm_async_service",
           "TENSOR_PARALLEL_DEGREE": str(s.tensor_parallel), "OPTION_MAX_MODEL_LEN": str(s.max_model_len),
           "OPTION_GPU_MEMORY_UTILIZATION": f"{s.gpu_memory_utilization or 0.9:g}",
           "OPTION_MAX_ROLLING_BATCH_SIZE": str(s.max_num_seqs)}
    if s.kv_cache_dtype != "auto":
        env["OPTION_KV_CACHE_DTYPE"] = s.kv_cache_dtype
    return env


def sagemaker_requests(req: PlanLlmServingRequest, ev: Evaluation, replicas: int) -> dict[str, Any]:
    from ml_expert_mcp.tools.serving.llm_serving import _price

    s = ev.settings
    _price_h, inst = _price(ev.gpu.id, s.tensor_parallel * s.pipeline_parallel)
    name = service_name(req)
    env = {"HF_MODEL_ID": _model_id(req), **lmi_environment(ev)}
    create_model = {"ModelName": name, "ExecutionRoleArn": PLACEHOLDER_ROLE,
                    "PrimaryContainer": {"Image": LMI_IMAGE.format(region=REGION), "Environment": env}}
    out: dict[str, Any] = {"CreateModel": create_model}
    if inst is not None:
        config = {"EndpointConfigName": f"{name}-config",
                  "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": name, "InstanceType": inst.id,
                                          "InitialInstanceCount": replicas,
                                          "ContainerStartupHealthCheckTimeoutInSeconds": 1800,
                                          "ModelDataDownloadTimeoutInSeconds": 1800}]}
        require_valid("sagemaker", "CreateEndpointConfig", config, "deployment")
        out["CreateEndpointConfig"] = config
    else:
        out["note"] = f"no SageMaker instance type in the catalogue carries {ev.gpu.id} x {s.tensor_parallel}"
    require_valid("sagemaker", "CreateModel", create_model, "deployment")
    return out


def build_artifacts(req: PlanLlmServingRequest, ev: Evaluation, replicas: int, max_model_len: int) -> LlmArtifacts:
    from ml_expert_mcp.tools.serving import llm_memory as mem

    fraction = ev.settings.mem_fraction_static or mem.sglang_default_fraction(ev.gpu.usable_memory_gib,
                                                                            ev.settings.tensor_parallel,
                                                                            ev.settings.pipeline_parallel)
    return LlmArtifacts(vllm_command=shlex.join(vllm_argv(req, ev)),
                        sglang_command=shlex.join(sglang_argv(req, ev, fraction)),
                        kubernetes_yaml=k8s.to_yaml(kubernetes_objects(req, ev, replicas)),
                        kserve_yaml=k8s.to_yaml([kserve_object(req, ev, replicas)]),
                        sagemaker_requests=sagemaker_requests(req, ev, replicas))
