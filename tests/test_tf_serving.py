"""plan_tf_serving and verify_tf_serving: queueing arithmetic by hand, artifacts through the official parsers."""

from __future__ import annotations

import json
import math
import shlex
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import kubernetes_validate
import pytest
import yaml
from google.protobuf import text_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from pydantic import ValidationError
from tensorflow_serving.config import model_server_config_pb2

from ml_expert_mcp.server.app import build_server
from ml_expert_mcp.tools.common.k8s import KUBERNETES_VERSION
from ml_expert_mcp.tools.serving import text_proto
from ml_expert_mcp.tools.serving.latency import capacity, estimated_curve, measured_curve, operating_point
from ml_expert_mcp.tools.serving.tf_serving import PlanTFServingRequest, plan_tf_serving

CURVE = [{"batch_size": 1, "latency_ms": 5}, {"batch_size": 8, "latency_ms": 8}, {"batch_size": 32, "latency_ms": 20}]


def request(**over) -> PlanTFServingRequest:
    base = {"model": {"name": "resnet", "base_path": "s3://models/resnet",
                      "versions": [{"version": 1, "label": "stable"}, {"version": 2, "label": "canary"}]},
            "replica": {"cpu_cores": 8, "gpu": "T4"}, "traffic": {"peak_rps": 2000, "average_rps": 700},
            "sla": {"latency_ms": 50}, "cost": {"measured": CURVE}}
    base.update(over)
    return PlanTFServingRequest.model_validate(base)


# --- the queueing model, redone by hand ---------------------------------------------------------------------------

def test_timeout_bound_point_by_hand() -> None:
    curve = measured_curve([(1, 5.0), (8, 8.0), (32, 20.0)])
    p = operating_point(curve, 8, 0.002, (), 1, 100.0, 0.95)
    # b = 1 + 100 x 2 ms = 1.2 examples, run as a batch of 2: t(2) = 5 + 3/7 ms
    t2 = 5 + 3 / 7
    rho = 100 * t2 / 1000 / 1.2
    assert p.regime == "timeout-bound" and p.executed_batch == 2
    assert p.batch == pytest.approx(1.2)
    assert p.busy == pytest.approx(rho)
    # fill 2 ms (the timeout, the batch never fills), residual of a busy device at p95, then its own execution
    expected = 2 + t2 * (1 - 0.05 / rho) + t2
    assert p.latency_s * 1000 == pytest.approx(expected, rel=1e-9)


def test_device_bound_point_by_hand() -> None:
    curve = measured_curve([(1, 5.0), (8, 8.0), (32, 20.0)])
    p = operating_point(curve, 32, 0.0, (), 1, 1000.0, 0.95)
    # 1000/s x t(8) = 8 examples: batches of 8 form while the previous batch runs
    assert p.regime == "device-bound" and p.batch == pytest.approx(8.0)
    # the device wait is the larger of the running batch's residual (p95 of 8 ms) and the burst bound: bursts
    # overflow 32 and queue as full batches at the cap's utilisation, M/D/1 smoothed by sqrt(32 requests)
    rho_cap = 1000 * 0.020 / 32
    wq = rho_cap * 20 / (2 * (1 - rho_cap)) / math.sqrt(32)
    burst = (wq / rho_cap) * math.log(rho_cap / 0.05)
    assert p.latency_s * 1000 == pytest.approx(max(0.95 * 8, burst) + 8)


def test_full_batches_queue_as_md1_by_hand() -> None:
    curve = measured_curve([(1, 5.0), (8, 8.0), (32, 20.0)])
    p = operating_point(curve, 4, 0.010, (), 1, 400.0, 0.95)
    t4 = 5 + 3 * 3 / 7
    rho = 400 * t4 / 1000 / 4
    wq = rho * t4 / (2 * (1 - rho)) / 2  # smoothed by sqrt(4 requests per full batch)
    expected = 3 / 400 * 1000 + (wq / rho) * math.log(rho / 0.05) + t4  # fill 7.5 ms < 10 ms timeout
    assert p.regime == "full batches"
    assert p.latency_s * 1000 == pytest.approx(expected, rel=1e-9)


def test_capacity_is_the_sla_boundary_for_no_batching() -> None:
    curve = measured_curve([(1, 5.0), (8, 8.0)])
    cap = capacity(curve, 1, 0.0, (), 1, 0.95, 0.050)
    # M/D/1 with t = 5 ms: solve t + (Wq/rho) ln(rho/0.05) = 50 ms for rho by hand (bisection written here)
    lo, hi = 0.06, 0.9999
    for _ in range(60):
        rho = (lo + hi) / 2
        wq = rho * 5 / (2 * (1 - rho))
        lo, hi = (rho, hi) if 5 + (wq / rho) * math.log(rho / 0.05) <= 50 else (lo, rho)
    assert cap == pytest.approx(lo / 0.005, rel=1e-4)


def test_padding_to_allowed_sizes_costs_execution_time() -> None:
    curve = measured_curve([(1, 5.0), (8, 8.0), (32, 20.0)])
    plain = operating_point(curve, 32, 0.0, (), 1, 1000.0, 0.95)
    padded = operating_point(curve, 32, 0.0, (16, 32), 1, 1000.0, 0.95)
    assert padded.executed_batch == 16 and padded.service_s == pytest.approx(curve.at(16))
    assert padded.latency_s > plain.latency_s


def test_estimated_curve_by_hand() -> None:
    from ml_expert_mcp.knowledge import gpu_catalog, latency_anchors

    t4 = gpu_catalog()["T4"]
    a = latency_anchors()[("tensorflow", "cnn")]
    curve, notes = estimated_curve(4e9, 25e6, 2, 8, t4, "fp16", "tensorflow", "cnn")
    fixed = (a.fixed_ms + a.fixed_ms_per_gb * 25e6 * 2 / 1e9) / 1e3
    bw, peak = t4.hbm_bandwidth_tbps * 1e12, t4.fp16_tflops * 1e12

    def by_hand(b: int) -> float:
        return fixed + max(b * 4e9 / (peak * a.efficiency), (25e6 * 2 + b * 4e9 / a.flops_per_byte) / bw)

    assert curve.at(1) == pytest.approx(by_hand(1))
    assert curve.at(64) == pytest.approx(by_hand(64))
    assert curve.max_batch == a.max_batch  # never beyond the largest batch the anchors measured
    assert curve.error_factor == a.error_factor >= 1
    assert any("no batch above" in n for n in notes)


def test_estimate_is_planned_on_the_slow_end_and_says_so() -> None:
    from ml_expert_mcp.knowledge import gpu_catalog
    from ml_expert_mcp.tools.serving.inputs import ModelCost
    from ml_expert_mcp.tools.serving.latency import cost_curve

    t4 = gpu_catalog()["T4"]
    cost = ModelCost(flops_per_example=8.2e9, params=25.6e6, precision="fp16", family="cnn")
    central, _ = estimated_curve(8.2e9, 25.6e6, 2, 8, t4, "fp16", "tensorflow", "cnn")
    planned, notes = cost_curve(cost, 8, t4)
    assert planned.at(32) == pytest.approx(central.at(32) * central.error_factor)
    assert any("ESTIMATE" in n and "expected error" in n for n in notes)
    unknown, _ = cost_curve(ModelCost(flops_per_example=8.2e9, params=25.6e6, precision="fp16"), 8, t4)
    assert unknown.at(unknown.max_batch) / unknown.max_batch >= planned.at(planned.max_batch) / planned.max_batch


# --- the planner -----------------------------------------------------------------------------------------------

def test_gpu_plan_batches_and_meets_the_sla() -> None:
    plan = plan_tf_serving(request())
    b = plan.batching
    assert plan.feasible and b.enabled
    assert b.allowed_batch_sizes == sorted(set(b.allowed_batch_sizes))
    assert not b.allowed_batch_sizes or b.allowed_batch_sizes[-1] == b.max_batch_size
    assert b.num_batch_threads == 1 and b.max_enqueued_batches >= 2  # one batch at a time, as the model assumes
    assert plan.at_peak.latency_ms <= 50
    cap = plan.capacity
    assert cap.replicas_at_peak * cap.planned_rps_per_replica >= 2000
    assert (cap.replicas_at_peak - 1) * cap.planned_rps_per_replica < 2000
    assert cap.planned_rps_per_replica == pytest.approx(0.75 * cap.sla_capacity_rps_per_replica, rel=1e-3)
    off = next(c for c in plan.candidates if c.max_batch_size == 1)
    assert plan.candidates[0].sla_capacity_rps >= 1.10 * off.sla_capacity_rps
    # without batching one replica holds 5 ms per request: a 2,000 rps peak needs many more replicas
    assert math.ceil(2000 / (0.75 * off.sla_capacity_rps)) > cap.replicas_at_peak


def test_linear_cost_turns_batching_off_with_a_reason() -> None:
    linear = [{"batch_size": 1, "latency_ms": 2}, {"batch_size": 16, "latency_ms": 32}]
    plan = plan_tf_serving(request(replica={"cpu_cores": 4}, cost={"measured": linear},
                                   traffic={"peak_rps": 300}))
    assert not plan.batching.enabled and "batching off" in plan.batching.reason
    assert plan.artifacts.batching_parameters is None
    assert "--enable_batching=true" not in plan.artifacts.command


def test_unreachable_sla_is_a_normal_result_that_says_so() -> None:
    plan = plan_tf_serving(request(sla={"latency_ms": 4}))
    assert not plan.feasible and "infeasible" in plan.warnings[0]


def test_p99_is_stricter_than_p95() -> None:
    p95 = plan_tf_serving(request())
    p99 = plan_tf_serving(request(sla={"latency_ms": 50, "percentile": "p99"}))
    assert p99.capacity.sla_capacity_rps_per_replica <= p95.capacity.sla_capacity_rps_per_replica


# --- artifacts through the real parsers -------------------------------------------------------------------------

def _docs(plan) -> dict[str, dict]:
    return {d["kind"]: d for d in yaml.safe_load_all(plan.artifacts.kubernetes_yaml)}


def test_models_config_parses_with_the_official_proto() -> None:
    plan = plan_tf_serving(request())
    cfg = text_format.Parse(plan.artifacts.models_config, model_server_config_pb2.ModelServerConfig())
    model = cfg.model_config_list.config[0]
    assert model.name == "resnet" and model.base_path == "s3://models/resnet"
    assert list(model.model_version_policy.specific.versions) == [1, 2]
    assert dict(model.version_labels) == {"stable": 1, "canary": 2}
    latest = plan_tf_serving(request(model={"name": "m", "base_path": "/models/m"}))
    cfg = text_format.Parse(latest.artifacts.models_config, model_server_config_pb2.ModelServerConfig())
    assert cfg.model_config_list.config[0].model_version_policy.latest.num_versions == 1


def test_batching_and_monitoring_follow_their_protos() -> None:
    plan = plan_tf_serving(request())
    parsed = text_proto.parse(plan.artifacts.batching_parameters)
    assert text_proto.check_fields(parsed, text_proto.BATCHING_PARAMETERS) == []
    assert parsed["max_batch_size"] == [{"value": [plan.batching.max_batch_size]}]
    assert parsed.get("allowed_batch_sizes", []) == plan.batching.allowed_batch_sizes
    mon = text_proto.parse(plan.artifacts.monitoring_config)
    assert text_proto.check_fields(mon, text_proto.MONITORING_CONFIG) == []
    # the field table catches what a typo would produce
    assert text_proto.check_fields(text_proto.parse("max_batch_size: 3"), text_proto.BATCHING_PARAMETERS)
    assert text_proto.check_fields(text_proto.parse("max_batch_sizes { value: 3 }"), text_proto.BATCHING_PARAMETERS)


def test_command_line_flags() -> None:
    plan = plan_tf_serving(request(deployment={"tls": True}))
    argv = shlex.split(plan.artifacts.command_line)
    assert argv == plan.artifacts.command
    for flag in ("--port=8500", "--rest_api_port=8501", "--enable_batching=true", "--enable_model_warmup=true"):
        assert flag in argv
    assert any(a.startswith("--model_config_file_poll_wait_seconds=") for a in argv)
    assert any(a.startswith("--ssl_config_file=") for a in argv)


@pytest.mark.parametrize("gpu", ["T4", None])
def test_manifests_pass_kubernetes_validate_strict(gpu: str | None) -> None:
    plan = plan_tf_serving(request(replica={"cpu_cores": 8, "gpu": gpu}, deployment={"tls": True}))
    docs = list(yaml.safe_load_all(plan.artifacts.kubernetes_yaml))
    assert {d["kind"] for d in docs} == {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
                                         "PodDisruptionBudget"}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    kinds = _docs(plan)
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models/resnet"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v1/models/resnet"
    assert ("nvidia.com/gpu" in container["resources"]["limits"]) == (gpu is not None)
    hpa = kinds["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    names = {m.get("pods", {}).get("metric", {}).get("name") for m in hpa["spec"]["metrics"]}
    assert "tfserving_request_latency_p95_milliseconds" in names
    assert kinds["ConfigMap"]["data"]["models.config"] == plan.artifacts.models_config
    adapter = yaml.safe_load(plan.artifacts.prometheus_adapter_rules)
    assert {r["name"]["as"] for r in adapter["rules"]} >= names - {None}


_PATH_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base_path=_PATH_TEXT, name=st.text(max_size=20))
def test_user_strings_come_back_intact_or_are_rejected(base_path: str, name: str) -> None:
    try:
        req = request(model={"name": name, "base_path": base_path, "versions": [{"version": 3, "label": "stable"}]})
    except ValidationError as err:
        assert "model.name" in str(err) or "model.base_path" in str(err)
        return
    plan = plan_tf_serving(req)
    config_map = _docs(plan)["ConfigMap"]
    cfg = text_format.Parse(config_map["data"]["models.config"], model_server_config_pb2.ModelServerConfig())
    assert cfg.model_config_list.config[0].base_path == base_path
    assert cfg.model_config_list.config[0].name == name
    assert f"/v1/models/{name}" == _docs(plan)["Deployment"]["spec"]["template"]["spec"]["containers"][0][
        "readinessProbe"]["httpGet"]["path"]


# --- through MCP -----------------------------------------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize(("args", "field"), [
    ({"model": {"name": "m", "base_path": "/m", "versions": [{"version": 1, "label": "not-ok"}]}}, "label"),
    ({"replica": {"gpu": "Z80"}}, "replica.gpu"),
    ({"cost": {"measured": [{"batch_size": 1, "latency_ms": -1}]}}, "latency_ms"),
    ({"traffic": {"peak_rps": 10, "average_rps": 20}}, "average_rps"),
])
async def test_bad_input_is_an_error_naming_the_field(args: dict, field: str) -> None:
    base = {"model": {"name": "m", "base_path": "/m"}, "traffic": {"peak_rps": 10}, "sla": {"latency_ms": 50},
            "cost": {"measured": CURVE}}
    base.update(args)
    async with Client(build_server()) as client:
        result = await client.call_tool("plan_tf_serving", base)
        assert result.is_error and field in result.content[0].text
        assert "errors.pydantic.dev" not in result.content[0].text
        ok = await client.call_tool("plan_tf_serving", {**base, **{k: v for k, v in request().model_dump().items()
                                                                    if k in args}})
        assert not ok.is_error


# --- verify_tf_serving against a server answering as the REST API documents -------------------------------------

class FakeTFServing(BaseHTTPRequestHandler):
    labels = {"stable": 1, "canary": 2}

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    @staticmethod
    def _status(*versions: int) -> dict:
        return {"model_version_status": [{"version": str(v), "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}} for v in versions]}

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        parts = self.path.strip("/").split("/")
        if parts[:3] != ["v1", "models", "resnet"]:
            self._send(404, {"error": "Servable not found for request: Latest(" + "/".join(parts[2:3]) + ")"})
        elif len(parts) == 3:
            self._send(200, self._status(2, 1))
        elif parts[3] == "labels" and parts[4] in self.labels:
            self._send(200, self._status(self.labels[parts[4]]))
        elif parts[3] == "metadata":
            self._send(200, {"model_spec": {"name": "resnet", "signature_name": "", "version": "2"},
                             "metadata": {"signature_def": {"signature_def": {"serving_default": {}}}}})
        else:
            self._send(404, {"error": "Unrecognized servable version label"})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_tf_serving():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTFServing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.anyio
async def test_verify_against_a_tf_serving_rest_api(fake_tf_serving: str) -> None:
    planned = [{"version": 1, "label": "stable"}, {"version": 2, "label": "canary"}]
    async with Client(build_server()) as client:
        good = await client.call_tool("verify_tf_serving", {"base_url": fake_tf_serving, "model_name": "resnet",
                                                            "expected_versions": planned})
        assert not good.is_error, good.content
        out = good.structured_content
        assert out["matches"] and out["signatures"] == ["serving_default"]
        assert [v["version"] for v in out["versions"]] == [1, 2]
        swapped = [{"version": 2, "label": "stable"}, {"version": 3, "label": "canary"}]
        bad = (await client.call_tool("verify_tf_serving", {"base_url": fake_tf_serving, "model_name": "resnet",
                                                            "expected_versions": swapped})).structured_content
        assert not bad["matches"]
        assert any("version 3 is not served" in p for p in bad["problems"])
        assert any("label stable resolves to 1" in p for p in bad["problems"])
        missing = (await client.call_tool("verify_tf_serving", {"base_url": fake_tf_serving,
                                                                "model_name": "other"})).structured_content
        assert not missing["reachable"] and "HTTP 404" in missing["problems"][0]
        refused = await client.call_tool("verify_tf_serving", {"base_url": "file:///etc/passwd", "model_name": "x"})
        assert refused.is_error and "base_url" in refused.content[0].text


@pytest.mark.anyio
@pytest.mark.parametrize("url", ["http://169.254.169.254", "http://metadata.google.internal", "http://[fe80::1]:80"])
async def test_verify_tools_refuse_metadata_addresses(url: str) -> None:
    async with Client(build_server()) as client:
        for tool, field in (("verify_tf_serving", "base_url"), ("verify_mlflow_server", "tracking_uri")):
            args = {field: url, "timeout_s": 0.5} | ({"model_name": "m"} if tool == "verify_tf_serving" else {})
            result = await client.call_tool(tool, args)
            assert result.is_error and field in result.content[0].text, result.content


def test_hpa_queue_target_follows_littles_law() -> None:
    plan = plan_tf_serving(request())
    hpa = _docs(plan)["HorizontalPodAutoscaler"]
    queue = next(m for m in hpa["spec"]["metrics"] if m.get("pods", {}).get("metric", {}).get("name") ==
                 "tfserving_batch_queue_requests")
    value = queue["pods"]["target"]["averageValue"]
    target = float(value[:-1]) / 1000 if value.endswith("m") else float(value)
    peak = plan.at_peak  # device-bound at peak: a request waits half a batch on average
    assert peak.regime == "device-bound"
    assert target == pytest.approx(max(1.0, 1.5 * peak.arrival_rps * peak.execution_ms / 2 / 1000), rel=1e-3)


def test_padding_is_kept_only_where_it_pays() -> None:
    # a linear curve: padding a batch of 9 to 16 costs 7 examples of compute, so no padding is planned
    linear = plan_tf_serving(request(cost={"measured": [{"batch_size": 1, "latency_ms": 1.0},
                                                        {"batch_size": 64, "latency_ms": 64.0}]}))
    assert linear.batching.allowed_batch_sizes == []
    # a flat curve: padding is free, so the plan pads to a few compiled sizes
    flat = plan_tf_serving(request(cost={"measured": [{"batch_size": 1, "latency_ms": 4.0},
                                                      {"batch_size": 64, "latency_ms": 4.0}]}))
    assert flat.batching.allowed_batch_sizes and flat.batching.allowed_batch_sizes[-1] == flat.batching.max_batch_size


def test_no_measured_curve_plans_within_the_issue_h100_ceiling() -> None:
    # issue 14: ResNet-50 fp16 on an H100 under TF Serving measured 4.2 ms (b=1), 5.6 ms (b=64), ceiling ~14,000/s
    plan = plan_tf_serving(request(replica={"gpu": "H100-SXM-80GB"}, traffic={"peak_rps": 20000},
                                   sla={"latency_ms": 50},
                                   cost={"flops_per_example": 8.2e9, "params": 25.6e6, "precision": "fp16",
                                         "family": "cnn"}))
    assert plan.latency_model.source == "estimated"
    assert plan.batching.max_batch_size <= 256  # the largest batch the anchors measured
    assert plan.capacity.planned_rps_per_replica < 14000
    assert plan.capacity.replicas_at_peak >= 2
    assert any("ESTIMATE" in a for a in plan.latency_model.assumptions)
