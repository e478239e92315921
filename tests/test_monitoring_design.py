"""design_model_monitoring: the closed-form statistics against scipy, the sizing by hand, the drift job end to
end (planted drift alarms, no drift stays silent), the alert rules through promtool, the SageMaker requests
through botocore's model and moto, and bad input."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import numpy as np
import pytest
import yaml
from mcp import Client
from moto import mock_aws
from scipy import stats as sp

from ml_expert_mcp.server.app import build_server
from ml_expert_mcp.tools.common.aws import check_request
from ml_expert_mcp.tools.monitoring import stats
from ml_expert_mcp.tools.monitoring.design import design_model_monitoring, midpoint_divergence
from ml_expert_mcp.tools.monitoring.facts import facts
from ml_expert_mcp.tools.monitoring.inputs import DesignMonitoringRequest

ROLE = "arn:aws:iam::123456789012:role/MonitorRole"
FEATURES = [{"name": "amount", "type": "numeric"}, {"name": "items", "type": "count"},
            {"name": "country", "type": "categorical", "categories": 6}, {"name": "is_new", "type": "boolean"}]


def design(**kw):
    base = {"model_name": "churn", "features": FEATURES, "predictions_per_hour": 400, "label_delay_hours": 24,
            "performance": {"name": "accuracy", "baseline": 0.9, "min_change": 0.03},
            "sagemaker": {"endpoint_name": "churn-prod", "role_arn": ROLE, "s3_uri": "s3://ml-monitoring/churn"}}
    base.update(kw)
    return design_model_monitoring(DesignMonitoringRequest.model_validate(base))


@pytest.mark.parametrize("df", [1, 5, 9, 19])
def test_closed_forms_match_scipy(df: int) -> None:
    assert stats.chi2_ppf(0.99, df) == pytest.approx(sp.chi2.ppf(0.99, df), rel=1e-9)
    assert stats.ncx2_cdf(15.0, df, 12.0) == pytest.approx(sp.ncx2.cdf(15.0, df, 12.0), abs=1e-10)
    nc = stats.noncentrality_for_power(df, 0.01, 0.8)
    assert sp.ncx2.sf(sp.chi2.ppf(0.99, df), df, nc) == pytest.approx(0.8, abs=1e-6)
    assert stats.ks_critical(0.05, 100, 100) == pytest.approx(1.3581 * math.sqrt(2 / 100), rel=1e-3)


@pytest.mark.parametrize(("n", "p"), [(10, 0.5), (400, 0.9), (5000, 0.995), (20000, 0.02), (20000, 0.8)])
def test_binomial_tail_matches_scipy(n: int, p: float) -> None:
    """The tail summed downwards from k - 1 and stopped early, at k far below, near and above the mode."""
    sd = math.sqrt(n * p * (1 - p))
    for k in sorted({0, 1, n, n + 1, *(max(0, min(n, round(n * p + c * sd))) for c in (-12, -6, -3, -1, 0, 2, 6))}):
        assert stats.binom_below(n, p, k) == pytest.approx(sp.binom.cdf(k - 1, n, p), rel=1e-9, abs=1e-300)
    for alpha in (1e-6, 1e-3, 0.05):
        k, below = stats._binom_lower(n, p, alpha)
        assert below == pytest.approx(sp.binom.cdf(k - 1, n, p), rel=1e-9, abs=1e-300)
        assert sp.binom.cdf(k - 1, n, p) <= alpha * (1 + 1e-9) and (k > n or sp.binom.cdf(k, n, p) > alpha)


def test_window_is_the_smallest_that_reaches_the_power() -> None:
    d = design(features=[{"name": "x", "type": "numeric"}], min_window_hours=0.01)
    n, m = d.window.sample_size, d.window.reference_size
    assert m == 4 * n
    # by hand with scipy: PSI 0.1 moved between 2 of 10 equal bins, its midpoint chi-squared divergence
    eps = __import__("scipy").optimize.brentq(lambda e: e * math.log((0.1 + e) / 0.1) + e * math.log(0.1 / (0.1 - e)) - 0.1,
                                              1e-9, 0.0999999)
    div = eps**2 / (0.1 + eps / 2) + eps**2 / (0.1 - eps / 2)
    assert midpoint_divergence(0.1, 10) == pytest.approx(div, rel=1e-9)
    crit = sp.chi2.ppf(0.99, 9)
    assert sp.ncx2.sf(crit, 9, div / (1 / n + 1 / m)) >= 0.8
    assert sp.ncx2.sf(crit, 9, div / (1 / (n - 2) + 1 / (4 * (n - 2)))) < 0.8
    check = d.features[0]
    assert check.statistic == "psi" and check.threshold == pytest.approx(crit * (1 / n + 1 / m), rel=1e-5)
    assert d.window.window_hours == pytest.approx(n / 400, rel=1e-3)


def test_statistic_per_type_and_bonferroni() -> None:
    d = design()
    assert {c.type: c.statistic for c in d.features} == {"numeric": "psi", "count": "chi_squared",
                                                          "categorical": "jensen_shannon", "boolean": "chi_squared"}
    assert d.window.alpha_per_feature == pytest.approx(0.01 / 4)
    assert all(c.power_at_min_psi >= 0.8 for c in d.features)
    assert d.retraining_trigger.pipeline_tool == "design_ml_pipeline"
    assert d.retraining_trigger.event["client_payload"]["pipeline_tool"] == "design_ml_pipeline"
    assert d.retraining_trigger.event["event_type"] == "drift-alert"  # what the pipeline's workflow listens for


def test_performance_waits_for_labels() -> None:
    perf = design().performance
    n = perf.labels_per_window
    k = round(perf.alarm_below * n)  # alarm when fewer than k of n labelled predictions are right
    assert sp.binom.cdf(k - 1, n, 0.9) <= 0.01 < sp.binom.cdf(k, n, 0.9)  # k is the largest level at 1%
    assert sp.binom.cdf(k - 1, n, 0.87) >= 0.8  # a drop to 0.87 is caught with power 0.8
    z_a, z_b = sp.norm.ppf(0.99), sp.norm.ppf(0.8)
    normal = math.ceil(((z_a * math.sqrt(0.9 * 0.1) + z_b * math.sqrt(0.87 * 0.13)) / 0.03) ** 2)
    assert 0.9 * normal <= n <= 1.2 * normal
    assert perf.detection_delay_hours == pytest.approx(24 + max(1, n / 400), rel=1e-3)
    big = design(performance={"name": "mae", "kind": "mean", "baseline": 3.0, "min_change": 0.1,
                              "per_example_std": 2.0, "higher_is_better": False}).performance
    assert big.labels_per_window == math.ceil(((z_a + z_b) * 2.0 / 0.1) ** 2)
    assert big.alarm_above == pytest.approx(3.0 + z_a * 2.0 / math.sqrt(big.labels_per_window), rel=1e-5)


def test_sagemaker_requests_are_valid_and_moto_accepts_the_job_definitions() -> None:
    reqs = design().artifacts.sagemaker_requests
    assert set(reqs) == {"CreateDataQualityJobDefinition", "CreateModelQualityJobDefinition",
                         "CreateMonitoringSchedule:data-quality", "CreateMonitoringSchedule:model-quality"}
    for key, params in reqs.items():
        assert check_request("sagemaker", key.split(":")[0], params) == [], key
    mq = reqs["CreateModelQualityJobDefinition"]["ModelQualityJobInput"]["EndpointInput"]
    assert mq["EndTimeOffset"] == "-PT24H" and mq["StartTimeOffset"].startswith("-PT")
    image = reqs["CreateDataQualityJobDefinition"]["DataQualityAppSpecification"]["ImageUri"]
    assert image.startswith(facts().image_accounts["us-east-1"] + ".dkr.ecr.us-east-1.amazonaws.com/")
    with mock_aws():  # moto has the job definitions (not the schedules: those are checked by botocore above)
        client = boto3.client("sagemaker", region_name="us-east-1")
        client.create_data_quality_job_definition(**reqs["CreateDataQualityJobDefinition"])
        client.create_model_quality_job_definition(**reqs["CreateModelQualityJobDefinition"])
        got = client.describe_model_quality_job_definition(JobDefinitionName="churn-model-quality")
        assert got["ModelQualityJobInput"]["EndpointInput"]["EndTimeOffset"] == "-PT24H"
        assert client.describe_data_quality_job_definition(JobDefinitionName="churn-data-quality")["RoleArn"] == ROLE


# --- the drift job and the alert rules, end to end ----------------------------------------------------------------

def _write(path: Path, columns: dict[str, np.ndarray]) -> None:
    names = list(columns)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows(zip(*(columns[n] for n in names), strict=True))


def _sample(rng: np.random.Generator, k: int, drift: bool) -> dict[str, np.ndarray]:
    countries = np.array(["us", "de", "fr", "uk", "es", "it"])
    return {"amount": rng.lognormal(3.0 + (0.35 if drift else 0.0), 1.0, k).round(2),
            "items": rng.poisson(3.0, k),
            "country": rng.choice(countries, k, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05]),
            "is_new": np.where(rng.random(k) < 0.3, "true", "false")}


def _run_job(tmp: Path, d, drift: bool) -> tuple[int, str, dict]:
    rng = np.random.default_rng(7 if drift else 8)
    (tmp / "drift_job.py").write_text(d.artifacts.drift_job_py)
    (tmp / "drift_config.json").write_text(json.dumps(d.artifacts.drift_job_config))
    _write(tmp / "ref.csv", _sample(rng, d.window.reference_size, False))
    _write(tmp / "cur.csv", _sample(rng, d.window.sample_size, drift))
    out = subprocess.run([sys.executable, "drift_job.py", "--config", "drift_config.json", "--reference", "ref.csv",
                          "--current", "cur.csv", "--metrics-out", "drift.prom", "--fail-on-alarm"],
                         cwd=tmp, capture_output=True, text=True, timeout=120)
    return out.returncode, (tmp / "drift.prom").read_text(), json.loads(out.stdout)


def _promtool() -> str | None:
    found = shutil.which("promtool")
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("promtool missing in CI: bash scripts/setup_monitoring installs the Debian prometheus package")
    return found


def _rule_test(tmp: Path, rules_file: str, metrics: str, window_minutes: int, expect_alert: bool) -> str:
    """A promtool unit test: the job's metrics as series held for three windows, RetrainingTriggered expected or not."""
    series = []
    for line in metrics.splitlines():
        if line.startswith("ml_drift_alarm{"):
            name, value = line.rsplit(" ", 1)
            series.append({"series": name, "values": f"{value}x{3 * window_minutes}"})
    alert = {"eval_time": f"{3 * window_minutes}m", "alertname": "RetrainingTriggered"}
    alert["exp_alerts"] = [{"exp_labels": {"model": "churn", "severity": "critical", "action": "retrain",
                                           "pipeline": "retrain", "pipeline_tool": "design_ml_pipeline",
                                           "reason": "drift"},
                            "exp_annotations": {"summary": "Drift alarm held over two consecutive windows on churn: "
                                                           "start pipeline retrain"}}] if expect_alert else []
    doc = {"rule_files": [rules_file], "evaluation_interval": "1m",
           "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": [alert]}]}
    path = tmp / ("test_drift.yml" if expect_alert else "test_clean.yml")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


@pytest.mark.parametrize("drift", [True, False])
def test_drift_job_alarms_on_planted_drift_and_stays_silent_without(tmp_path: Path, drift: bool) -> None:
    d = design()
    code, metrics, result = _run_job(tmp_path, d, drift)
    alarms = {r["feature"]: r["alarm"] for r in result["results"]}
    if drift:
        assert code == 1 and alarms["amount"] is True
        assert 'ml_drift_alarm{model="churn",feature="amount"} 1' in metrics
    else:
        assert code == 0 and not any(alarms.values()), result
    rules = d.artifacts.prometheus_rules
    doc = yaml.safe_load(rules)
    assert {r["alert"] for r in doc["groups"][0]["rules"]} >= {"FeatureDrift", "RetrainingTriggered", "DriftJobStale",
                                                                "ModelPerformanceDegraded"}
    promtool = _promtool()
    if promtool is None:
        pytest.skip("promtool not installed (bash scripts/setup_monitoring)")
    (tmp_path / "rules.yml").write_text(rules)
    checked = subprocess.run([promtool, "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    minutes = math.ceil(d.window.window_hours * 60)
    test_file = _rule_test(tmp_path, "rules.yml", metrics, minutes, expect_alert=drift)
    ran = subprocess.run([promtool, "test", "rules", test_file], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_alertmanager_route_sends_retrain_alerts_to_the_pipeline(tmp_path: Path) -> None:
    text = design().artifacts.alertmanager_route
    doc = yaml.safe_load(text)
    route = doc["route"]["routes"][0]
    assert 'action="retrain"' in route["matchers"] and route["receiver"] == "retrain-pipeline"
    assert doc["receivers"][1]["webhook_configs"][0]["url"].startswith("http")
    amtool = shutil.which("amtool")
    if amtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("amtool missing in CI: bash scripts/setup_monitoring installs prometheus-alertmanager")
        pytest.skip("amtool not installed (bash scripts/setup_monitoring)")
    (tmp_path / "alertmanager.yml").write_text(text)
    checked = subprocess.run([amtool, "check-config", str(tmp_path / "alertmanager.yml")], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr


@pytest.mark.anyio
@pytest.mark.parametrize(("args", "field"), [
    ({"power": 1.5}, "power"),
    ({"false_alarm_rate": 0}, "false_alarm_rate"),
    ({"reference_size": 50}, "reference_size"),
    ({"performance": {"baseline": 1.2, "min_change": 0.1}}, "performance.baseline"),
    ({"performance": {"kind": "mean", "baseline": 3.0, "min_change": 0.1}}, "performance.per_example_std"),
    ({"features": [{"name": "a", "type": "numeric"}, {"name": "a", "type": "count"}]}, "features"),
])
async def test_bad_input_is_an_error_naming_the_field(args: dict, field: str) -> None:
    base = {"model_name": "churn", "features": FEATURES, "predictions_per_hour": 400}
    async with Client(build_server()) as client:
        result = await client.call_tool("design_model_monitoring", {**base, **args})
        assert result.is_error and field in result.content[0].text, result.content[0].text


def test_trigger_event_is_one_the_pipeline_workflow_listens_for() -> None:
    """The wiring: design_ml_pipeline's GitHub workflow starts on repository_dispatch types; our event is one."""
    pipeline = pytest.importorskip("ml_expert_mcp.tools.pipelines.pipeline")
    inputs = pytest.importorskip("ml_expert_mcp.tools.pipelines.inputs")
    workflow = yaml.safe_load(pipeline.design_ml_pipeline(
        inputs.DesignMlPipelineRequest.model_validate({})).artifacts.github_workflow)
    on = workflow.get("on", workflow.get(True))  # PyYAML reads the bare key `on` as True
    event = design().retraining_trigger.event
    assert event["event_type"] in on["repository_dispatch"]["types"]
    assert event["client_payload"]["pipeline_tool"] == pipeline.design_ml_pipeline.__name__
