"""TF Serving artifacts in the formats the server reads, checked before they leave, plus rollout and metrics.

models.config is ModelServerConfig, batching_parameters.txt is BatchingParameters (session_bundle_config.proto),
monitoring.config is MonitoringConfig (monitoring_config.proto), all in protobuf text format with user strings
escaped by `text_proto.quote`. Kubernetes objects are dicts dumped by PyYAML.
"""

from __future__ import annotations

import shlex
from functools import cache
from typing import Any

from ml_expert_mcp.tools.common import k8s
from ml_expert_mcp.tools.serving import text_proto
from ml_expert_mcp.tools.serving.inputs import PlanTFServingRequest
from ml_expert_mcp.tools.serving.latency import OperatingPoint
from ml_expert_mcp.tools.serving.plans import BatchingDecision, RolloutStep, TFServingArtifacts, WatchMetric

GRPC_PORT = 8500
REST_PORT = 8501
CONFIG_DIR = "/config"
TLS_DIR = "/secrets/tls"
PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
POLL_SECONDS = 60
LATENCY_METRIC = "tfserving_request_latency_{pct}_milliseconds"
QUEUE_METRIC = "tfserving_batch_queue_requests"


class ArtifactError(RuntimeError):
    """A rendered artifact failed our own check: a bug here, never sent to the caller as a plan."""


def models_config(req: PlanTFServingRequest) -> str:
    m = req.model
    lines = ["model_config_list {", "  config {", f"    name: {text_proto.quote(m.name)}",
             f"    base_path: {text_proto.quote(m.base_path)}", '    model_platform: "tensorflow"',
             "    model_version_policy {"]
    if m.versions:
        lines.append("      specific {")
        lines += [f"        versions: {v.version}" for v in sorted(m.versions, key=lambda v: v.version)]
        lines.append("      }")
    else:
        lines.append("      latest {\n        num_versions: 1\n      }")
    lines.append("    }")
    for v in sorted((v for v in m.versions if v.label), key=lambda v: v.label or ""):
        lines += ["    version_labels {", f"      key: {text_proto.quote(v.label or '')}", f"      value: {v.version}",
                  "    }"]
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def batching_parameters(b: BatchingDecision) -> str:
    lines = [f"max_batch_size {{ value: {b.max_batch_size} }}",
             f"batch_timeout_micros {{ value: {b.batch_timeout_micros} }}",
             f"max_enqueued_batches {{ value: {b.max_enqueued_batches} }}",
             f"num_batch_threads {{ value: {b.num_batch_threads} }}"]
    lines += [f"allowed_batch_sizes: {s}" for s in b.allowed_batch_sizes]
    lines.append(f"pad_variable_length_inputs: {'true' if b.pad_variable_length_inputs else 'false'}")
    return "\n".join(lines) + "\n"


def monitoring_config() -> str:
    return f"prometheus_config {{\n  enable: true\n  path: {text_proto.quote(PROMETHEUS_PATH)}\n}}\n"


def server_command(req: PlanTFServingRequest, batching: BatchingDecision) -> list[str]:
    args = ["tensorflow_model_server", f"--port={GRPC_PORT}", f"--rest_api_port={REST_PORT}",
            f"--model_config_file={CONFIG_DIR}/models.config",
            f"--model_config_file_poll_wait_seconds={POLL_SECONDS}",
            f"--monitoring_config_file={CONFIG_DIR}/monitoring.config",
            "--enable_model_warmup=true"]
    if batching.enabled:
        args += ["--enable_batching=true", f"--batching_parameters_file={CONFIG_DIR}/batching_parameters.txt"]
    if req.deployment.tls:
        args.append(f"--ssl_config_file={TLS_DIR}/ssl_config.txt")
    return args


def _probe(path: str, initial: int, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": REST_PORT}, "initialDelaySeconds": initial,
            "periodSeconds": period, "timeoutSeconds": 5, "failureThreshold": failures}


def manifests(req: PlanTFServingRequest, batching: BatchingDecision, files: dict[str, str], at_peak: OperatingPoint,
              min_replicas: int, max_replicas: int) -> list[dict[str, Any]]:
    ns = req.deployment.namespace
    name = k8s.dns_name(req.model.name, "-tfserving", reserve=len("-grpc-tls"))  # room for the derived names
    app = k8s.dns_name(req.model.name)
    selector = {"app.kubernetes.io/name": app, "app.kubernetes.io/component": "tfserving"}
    gpu = req.replica.gpu is not None
    image = f"tensorflow/serving:{req.deployment.image_tag}{'-gpu' if gpu else ''}"
    resources: dict[str, Any] = {
        "requests": {"cpu": k8s.quantity(req.replica.cpu_cores), "memory": k8s.gib(req.replica.memory_gib)},
        "limits": {"memory": k8s.gib(req.replica.memory_gib)}}
    if gpu:
        resources["limits"]["nvidia.com/gpu"] = 1
    status_path = f"/v1/models/{req.model.name}"
    mounts = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}]
    volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {"name": f"{name}-config"}}]
    if req.deployment.tls:
        mounts.append({"name": "grpc-tls", "mountPath": TLS_DIR, "readOnly": True})
        volumes.append({"name": "grpc-tls", "secret": {"secretName": f"{name}-grpc-tls"}})
    command = server_command(req, batching)
    pod_spec: dict[str, Any] = {
        "terminationGracePeriodSeconds": 30,
        "containers": [{
            "name": "tfserving", "image": image, "command": command[:1], "args": command[1:],
            "ports": [{"name": "grpc", "containerPort": GRPC_PORT}, {"name": "http", "containerPort": REST_PORT}],
            "resources": resources, "volumeMounts": mounts,
            "startupProbe": _probe(status_path, 5, 10, 30),
            "readinessProbe": _probe(status_path, 0, 5, 3),
            "livenessProbe": _probe(status_path, 0, 15, 4),
            "securityContext": {"allowPrivilegeEscalation": False},
        }],
        "volumes": volumes,
    }
    if gpu:
        pod_spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    pct = req.sla.percentile
    metrics: list[dict[str, Any]] = [
        {"type": "Pods", "pods": {"metric": {"name": LATENCY_METRIC.format(pct=pct)},
                                  "target": {"type": "AverageValue",
                                             "averageValue": k8s.quantity(round(0.8 * req.sla.latency_ms, 3))}}}]
    if batching.enabled:
        # Little's law: mean requests waiting = arrival rate x mean time queued; scale out at 1.5x the planned level
        queue_target = max(1.0, round(1.5 * at_peak.arrival / req.traffic.examples_per_request * at_peak.mean_queue_s, 3))
        metrics.append({"type": "Pods", "pods": {"metric": {"name": QUEUE_METRIC},
                                                 "target": {"type": "AverageValue",
                                                            "averageValue": k8s.quantity(queue_target)}}})
    metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                               "averageUtilization": 70}}})
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": k8s.metadata(f"{name}-config", ns, app, "tfserving"),
         "data": files},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": k8s.metadata(name, ns, app, "tfserving"),
         "spec": {"replicas": min_replicas, "selector": {"matchLabels": selector},
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                  "template": {"metadata": {"labels": selector, "annotations": {
                      "prometheus.io/scrape": "true", "prometheus.io/port": str(REST_PORT),
                      "prometheus.io/path": PROMETHEUS_PATH}}, "spec": pod_spec}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": k8s.metadata(name, ns, app, "tfserving"),
         "spec": {"type": "ClusterIP", "selector": selector, "ports": [
             {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "appProtocol": "grpc"},
             {"name": "http", "port": REST_PORT, "targetPort": "http", "appProtocol": "http"}]}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": k8s.metadata(name, ns, app, "tfserving"),
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                  "minReplicas": min_replicas, "maxReplicas": max_replicas, "metrics": metrics,
                  "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300},
                               "scaleUp": {"stabilizationWindowSeconds": 0}}}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": k8s.metadata(name, ns, app, "tfserving"),
         "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}}},
    ]


@cache
def adapter_rules(percentile: str) -> str:
    q = "0.95" if percentile == "p95" else "0.99"
    rules = {"rules": [
        {"seriesQuery": ':tensorflow:serving:request_latency_bucket{namespace!="",pod!=""}',
         "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
         "name": {"matches": "^.*$", "as": LATENCY_METRIC.format(pct=percentile)},
         "metricsQuery": f"histogram_quantile({q}, sum(rate(:tensorflow:serving:request_latency_bucket"
                         "{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>, le)) / 1000"},
        {"seriesQuery": ':tensorflow:serving:batching_session:queuing_latency_sum{namespace!="",pod!=""}',
         "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
         "name": {"matches": "^.*$", "as": QUEUE_METRIC},
         # Little's law: microseconds waited per second / 1e6 = mean number of requests waiting
         "metricsQuery": "sum(rate(:tensorflow:serving:batching_session:queuing_latency_sum"
                         "{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>) / 1e6"},
    ]}
    return k8s.to_yaml([rules])


def check(req: PlanTFServingRequest, batching: BatchingDecision, art: TFServingArtifacts) -> list[str]:
    """Our checks of what the parsers do not check; the official ModelServerConfig parse when it is installed.
    Version labels are held to [a-zA-Z0-9_]+ where they enter, by ServedVersion.label's pattern."""
    problems: list[str] = []
    sizes = batching.allowed_batch_sizes
    if sizes and (sizes != sorted(set(sizes)) or sizes[-1] != batching.max_batch_size):
        problems.append("allowed_batch_sizes must increase and end at max_batch_size")
    if batching.num_batch_threads != 1 or batching.max_enqueued_batches < 2:
        problems.append("one batch thread (the latency model runs one batch at a time) and a queue of >= 2 batches")
    if art.batching_parameters is not None:
        problems += text_proto.check_fields(text_proto.parse(art.batching_parameters), text_proto.BATCHING_PARAMETERS)
    problems += text_proto.check_fields(text_proto.parse(art.monitoring_config), text_proto.MONITORING_CONFIG)
    parsed = text_proto.parse(art.models_config)["model_config_list"][0]["config"][0]
    if parsed["name"] != [req.model.name] or parsed["base_path"] != [req.model.base_path]:
        problems.append("models.config does not read back the model name and base path")
    try:
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError:
        pass
    else:
        try:
            text_format.Parse(art.models_config, model_server_config_pb2.ModelServerConfig())
        except text_format.ParseError as err:
            problems.append(f"models.config: {err}")
    return problems


def render_artifacts(req: PlanTFServingRequest, batching: BatchingDecision, at_peak: OperatingPoint,
                     min_replicas: int, max_replicas: int) -> TFServingArtifacts:
    files = {"models.config": models_config(req), "monitoring.config": monitoring_config()}
    batching_text = batching_parameters(batching) if batching.enabled else None
    if batching_text is not None:
        files["batching_parameters.txt"] = batching_text
    docs = manifests(req, batching, files, at_peak, min_replicas, max_replicas)
    command = server_command(req, batching)
    art = TFServingArtifacts(
        models_config=files["models.config"], batching_parameters=batching_text,
        monitoring_config=files["monitoring.config"], command=command, command_line=shlex.join(command),
        kubernetes_yaml=k8s.to_yaml(docs), prometheus_adapter_rules=adapter_rules(req.sla.percentile),
        kubernetes_version=k8s.KUBERNETES_VERSION)
    problems = check(req, batching, art) + k8s.check_names(docs)
    if problems:
        raise ArtifactError("; ".join(problems))
    return art


def rollout_steps(req: PlanTFServingRequest) -> list[RolloutStep]:
    """Canary by version labels: clients address /v1/models/NAME/labels/{stable,canary}; the split is theirs."""
    versions = sorted(v.version for v in req.model.versions)
    labelled = {v.label: v.version for v in req.model.versions if v.label}
    stable = labelled.get("stable", versions[0] if versions else 1)
    canary = labelled.get("canary", (versions[-1] + 1) if versions and versions[-1] != stable else stable + 1)
    if canary == stable:
        canary = max(versions) + 1
    poll = f"the server re-reads models.config within {POLL_SECONDS} s"
    return [
        RolloutStep(step=1, action=f"Load the candidate beside the stable version: versions [{stable}, {canary}], "
                    f"label canary -> {canary} ({poll}). Labels can only point at loaded versions.",
                    versions=sorted({stable, canary}), labels={"stable": stable, "canary": canary},
                    advance_when=f"GET /v1/models/{req.model.name}/labels/canary reports AVAILABLE"),
        RolloutStep(step=2, action="Send 5%, then 25%, then 50% of requests to /labels/canary (client or gateway "
                    "split); hold each share at least 30 minutes of peak-like traffic.",
                    versions=sorted({stable, canary}), labels={"stable": stable, "canary": canary},
                    advance_when="canary error rate and latency percentile no worse than stable by 10%"),
        RolloutStep(step=3, action=f"Promote: label stable -> {canary}; keep {stable} loaded as the rollback target.",
                    versions=sorted({stable, canary}), labels={"stable": canary, "canary": canary},
                    advance_when="one day at full traffic without regression"),
        RolloutStep(step=4, action=f"Retire {stable}: versions [{canary}], drop its label. Rollback before this "
                    f"step is relabelling stable -> {stable}.",
                    versions=[canary], labels={"stable": canary}, advance_when="done"),
    ]


def watch_metrics(req: PlanTFServingRequest, batching: bool) -> list[WatchMetric]:
    name = req.model.name.replace("\\", "\\\\").replace('"', '\\"')
    q = "0.95" if req.sla.percentile == "p95" else "0.99"
    out = [
        WatchMetric(metric=":tensorflow:serving:request_count",
                    promql=f'sum by (status) (rate(:tensorflow:serving:request_count{{model_name="{name}"}}[5m]))',
                    why="Request rate and non-OK statuses (labels model_name, status)."),
        WatchMetric(metric=":tensorflow:serving:request_latency",
                    promql=f"histogram_quantile({q}, sum by (le) (rate(:tensorflow:serving:request_latency_bucket"
                           f'{{model_name="{name}"}}[5m]))) / 1000',
                    why=f"Server latency in ms against the {req.sla.latency_ms:g} ms {req.sla.percentile} SLA."),
        WatchMetric(metric=":tensorflow:serving:runtime_latency",
                    promql=f"histogram_quantile({q}, sum by (le) (rate(:tensorflow:serving:runtime_latency_bucket"
                           f'{{model_name="{name}"}}[5m]))) / 1000',
                    why="Model execution alone; the gap to request latency is queueing and batching."),
    ]
    if batching:
        out.append(WatchMetric(metric=":tensorflow:serving:batching_session:queuing_latency",
                               promql="histogram_quantile(0.95, sum by (le) (rate("
                                      ":tensorflow:serving:batching_session:queuing_latency_bucket[5m]))) / 1000",
                               why="Time in the batching queue, ms; growth means replicas are short."))
    return out
