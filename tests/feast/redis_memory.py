"""Run with the Feast venv's python: materialize a design's local profile into a real redis-server and measure the
memory Feast's hashes take per entity (INFO used_memory before/after), to check the planner's Redis memory model.

    python tests/feast/redis_memory.py DESIGN.json WORKDIR PORT ENTITIES

Prints one JSON line: measured bytes per entity per entity set (all its online views in one hash).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
import yaml

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def main() -> int:
    design = json.loads(Path(sys.argv[1]).read_text())
    repo, port, entities = Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    repo.mkdir(parents=True, exist_ok=True)
    arts = design["artifacts"]
    config = yaml.safe_load(arts["local_feature_store_yaml"])
    config["online_store"] = {"type": "redis", "connection_string": f"127.0.0.1:{port}"}
    (repo / "feature_store.yaml").write_text(yaml.safe_dump(config))
    (repo / "repo.py").write_text(arts["local_repo_py"])
    (repo / "generate_sample.py").write_text(arts["generate_sample_py"])
    env = {**os.environ, "SAMPLE_ENTITIES": str(entities)}
    subprocess.run([sys.executable, "generate_sample.py"], cwd=repo, check=True, timeout=600, env=env,
                   capture_output=True)
    subprocess.run([str(Path(sys.executable).parent / "feast"), "apply"], cwd=repo, check=True, timeout=600,
                   capture_output=True)
    from feast import FeatureStore

    client = redis.Redis(host="127.0.0.1", port=port)
    store = FeatureStore(repo_path=str(repo))
    before = client.info("memory")["used_memory"]
    store.materialize(start_date=BASE - timedelta(days=1), end_date=BASE + timedelta(hours=48))
    after = client.info("memory")["used_memory"]
    keys = client.dbsize()
    print(json.dumps({"keys": keys, "used_memory_delta": after - before, "bytes_per_key": (after - before) / keys,
                      "rss": client.info("memory")["used_memory_rss"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
