"""design_feature_store's local profile applied with the real Feast (0.67, its own venv: it pins pandas < 3, the
main .venv has pandas 3): feast apply, materialize, point-in-time-correct historical features with a planted late
row, online features equal to the materialized values; the production feature_store.yaml through Feast's own
config loader. Runs tests/feast/proof.py with .venv-features/bin/python."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from ml_expert_mcp.tools.features.design import design_feature_store
from ml_expert_mcp.tools.features.inputs import DesignFeatureStoreRequest

ROOT = Path(__file__).resolve().parents[1]
FEAST_PY = ROOT / ".venv-features" / "bin" / "python"
pytestmark = pytest.mark.slow

REQUESTS = {
    "shop": {
        "project": "shop", "online_qps": 5000, "p99_ms": 10, "cloud": "aws",
        "entities": [{"name": "customer", "join_key": "customer_id", "count": 10_000_000},
                     {"name": "merchant", "join_key": "merchant_id", "key_type": "string", "count": 50_000}],
        "feature_views": [
            {"name": "customer_stats", "entities": ["customer"], "ttl_seconds": 2 * 86400,
             "features": [{"name": "spend_7d", "dtype": "float64"}, {"name": "orders_7d", "dtype": "int64"},
                          {"name": "segment", "dtype": "string", "avg_bytes": 12},
                          {"name": "last_seen", "dtype": "unix_timestamp"}]},
            {"name": "customer_clicks", "entities": ["customer"], "ttl_seconds": 3600, "source": "stream",
             "features": [{"name": "clicks_1h", "dtype": "int64"}, {"name": "views_1h", "dtype": "int32"}]},
            {"name": "merchant_stats", "entities": ["merchant"], "ttl_seconds": 0,
             "features": [{"name": "fraud_rate", "dtype": "float32"}, {"name": "is_new", "dtype": "bool"}]},
            {"name": "pair_stats", "entities": ["customer", "merchant"], "ttl_seconds": 7 * 86400, "online": False,
             "features": [{"name": "pair_orders", "dtype": "int64"}]},
        ],
        "on_demand": [{"name": "click_through", "op": "ratio", "left": "customer_clicks:clicks_1h",
                       "right": "customer_clicks:views_1h"},
                      {"name": "spend_per_order", "op": "ratio", "left": "customer_stats:spend_7d",
                       "right": "customer_stats:orders_7d"}],
    },
}


def _feast_python() -> Path:
    if not FEAST_PY.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(".venv-features missing in CI: run bash scripts/setup_features")
        pytest.skip(".venv-features missing (bash scripts/setup_features)")
    return FEAST_PY


def _design_file(tmp_path: Path, name: str) -> tuple[Path, object]:
    raw = REQUESTS[name]
    req = DesignFeatureStoreRequest.model_validate(raw)
    d = design_feature_store(req)
    joins = {e.name: e.join_key for e in req.entities}
    services = list(d.feature_services)
    doc = {"artifacts": d.artifacts.model_dump(),
           "entities": [{"join_key": e.join_key, "key_type": e.key_type} for e in req.entities],
           "feature_views": [{"name": v.name, "join_keys": [joins[n] for n in v.entities], "online": v.online,
                              "features": [f.name for f in v.features], "ttl_seconds": v.ttl_seconds,
                              "source": v.source}
                             for v in req.feature_views],
           "on_demand": [o.model_dump() for o in req.on_demand],
           "services": {"training": services[0], "serving": services[1]},
           "offline_store": yaml.safe_load(d.artifacts.local_feature_store_yaml)["offline_store"]["type"]}
    path = tmp_path / "design.json"
    path.write_text(json.dumps(doc))
    return path, d


def test_local_profile_applies_materializes_and_is_point_in_time_correct(tmp_path: Path) -> None:
    python = _feast_python()
    design_json, _ = _design_file(tmp_path, "shop")
    run = subprocess.run([str(python), str(ROOT / "tests" / "feast" / "proof.py"), str(design_json),
                          str(tmp_path / "repo")], capture_output=True, text=True, timeout=900)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    assert lines, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(lines[-1])
    print(result)
    assert run.returncode == 0 and result["ok"], result
    assert result["historical_values_checked"] >= 20 and result["online_values_checked"] >= 10
    assert result["pushed_values_checked"] >= 2  # the stream view's push source reached the online store


def test_redis_memory_model_against_a_real_redis(tmp_path: Path) -> None:
    """Feast materializes ENTITIES customers into redis-server; the memory model (before its x1.2 fragmentation
    allowance) must be within 25% of INFO used_memory per key."""
    python = _feast_python()
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server missing in CI: bash scripts/setup_features installs it")
        pytest.skip("redis-server missing (bash scripts/setup_features)")
    entities = 20_000
    raw = {"project": "mem", "online_qps": 100, "p99_ms": 10, "cloud": "aws",
           "entities": [{"name": "customer", "join_key": "customer_id", "count": entities}],
           "feature_views": [
               {"name": "customer_stats", "entities": ["customer"], "ttl_seconds": 86400,
                "features": [{"name": "spend_7d", "dtype": "float64"}, {"name": "orders_7d", "dtype": "int64"},
                             {"name": "segment", "dtype": "string", "avg_bytes": 8}]},
               {"name": "customer_clicks", "entities": ["customer"], "ttl_seconds": 86400,
                "features": [{"name": "clicks_1h", "dtype": "int64"}, {"name": "ctr", "dtype": "float32"}]}]}
    d = design_feature_store(DesignFeatureStoreRequest.model_validate(raw))
    design_json = tmp_path / "design.json"
    design_json.write_text(json.dumps({"artifacts": d.artifacts.model_dump()}))
    redis_option = next(o for o in d.options if o.store == "redis")
    modelled = redis_option.memory_gib * 1024**3 / 2 / entities / 1.2  # one replica, before fragmentation
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        run = subprocess.run([str(python), str(ROOT / "tests" / "feast" / "redis_memory.py"), str(design_json),
                              str(tmp_path / "repo"), str(port), str(entities)], capture_output=True, text=True,
                             timeout=900)
        assert run.returncode == 0, run.stderr[-3000:]
        measured = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print({"modelled_bytes_per_key": round(modelled, 1), **measured})
    assert measured["keys"] == entities
    assert abs(modelled - measured["bytes_per_key"]) / measured["bytes_per_key"] <= 0.25


PROFILE_CHECK = """
import os, runpy, sys
from pathlib import Path
from feast.repo_config import load_repo_config
os.environ.update(REDIS_CONNECTION_STRING="redis:6379", FEAST_REGISTRY_URL="postgresql://u@h/feast",
                  AWS_REGION="us-east-1", PG_HOST="pg", PG_USER="feast", PG_PASSWORD="x", SNOWFLAKE_ACCOUNT="a",
                  SNOWFLAKE_USER="u", SNOWFLAKE_PASSWORD="p", SNOWFLAKE_ROLE="r", SNOWFLAKE_WAREHOUSE="w",
                  REDSHIFT_CLUSTER_ID="c", REDSHIFT_USER="u", REDSHIFT_IAM_ROLE="arn:aws:iam::123456789012:role/r")
repo = Path(sys.argv[1])
config = load_repo_config(repo, repo / "feature_store.yaml")
objects = runpy.run_path(str(repo / "repo.py"))
from feast import FeatureService, FeatureView
print(type(config.online_store).__name__, type(config.offline_store).__name__,
      sum(isinstance(o, FeatureView) for o in objects.values()), sum(isinstance(o, FeatureService) for o in objects.values()))
"""


@pytest.mark.parametrize(("patch", "online", "offline"), [
    ({}, "RedisOnlineStoreConfig", "DuckDBOfflineStoreConfig"),
    ({"p99_ms": 60, "warehouse": "redshift"}, "DynamoDBOnlineStoreConfig", "RedshiftOfflineStoreConfig"),
    ({"p99_ms": 200, "online_qps": 100, "cloud": "gcp", "warehouse": "file"}, "PostgreSQLOnlineStoreConfig",
     "DaskOfflineStoreConfig"),  # Feast 0.67 serves offline_store type 'file' with its dask store
])
def test_production_profiles_load_in_feast(tmp_path: Path, patch: dict, online: str, offline: str) -> None:
    """The production feature_store.yaml through Feast's config loader, and the production definitions built by
    Feast's own classes (sources, views, on-demand views, services)."""
    python = _feast_python()
    d = design_feature_store(DesignFeatureStoreRequest.model_validate({**REQUESTS["shop"], **patch}))
    (tmp_path / "feature_store.yaml").write_text(d.artifacts.feature_store_yaml)
    (tmp_path / "repo.py").write_text(d.artifacts.repo_py)
    run = subprocess.run([str(python), "-c", PROFILE_CHECK, str(tmp_path)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    got = run.stdout.split()
    assert got[:2] == [online, offline], run.stdout
    assert int(got[2]) == len(REQUESTS["shop"]["feature_views"]) and int(got[3]) == 2
