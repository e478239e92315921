"""Run with the Feast venv's python: apply a design_feature_store local profile with the real Feast and check it.

    python tests/feast/proof.py DESIGN.json WORKDIR

DESIGN.json holds the plan's artifacts, the request's views and entities. Steps: write the repository, generate
the sample, `feast apply` (the CLI), materialize, get_historical_features (point in time, the planted late row must
not leak, TTL nulls), get_online_features (the materialized values). Expected values come from the sample parquet
files through an independent pandas as-of join, never from Feast. Prints one JSON line; exit 1 on any mismatch.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

BASE = datetime(2026, 1, 1, tzinfo=UTC)
LATE_EVENT = BASE + timedelta(hours=30, minutes=30)


def key(kind: str, i: int):
    return i if kind == "int64" else f"e{i}"


def expected_row(frame: pd.DataFrame, keys: dict, ts: datetime, ttl: int) -> pd.Series | None:
    mask = pd.Series(True, index=frame.index)
    for k, v in keys.items():
        mask &= frame[k] == v
    rows = frame[mask & (frame["event_timestamp"] <= ts)]
    if rows.empty:
        return None
    row = rows.sort_values(["event_timestamp", "created"]).iloc[-1]
    if ttl and ts - row["event_timestamp"].to_pydatetime() > timedelta(seconds=ttl):
        return None
    return row


def same(a, b) -> bool:
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None or (isinstance(a, float) and math.isnan(a)) or pd.isna(a)
    if isinstance(b, float) or isinstance(a, float):
        return a is not None and not pd.isna(a) and abs(float(a) - float(b)) <= 1e-4 * max(1.0, abs(float(b)))
    if isinstance(b, datetime) or isinstance(a, datetime):
        return _naive(a) == _naive(b)
    return a == b


def _naive(x) -> pd.Timestamp:
    t = pd.Timestamp(x)
    return t.tz_convert(None) if t.tzinfo else t


OPS = {"ratio": lambda a, b: a / b if b else float("nan"), "difference": lambda a, b: a - b,
       "sum": lambda a, b: a + b, "product": lambda a, b: a * b}


def main() -> int:
    design = json.loads(Path(sys.argv[1]).read_text())
    repo = Path(sys.argv[2])
    repo.mkdir(parents=True, exist_ok=True)
    arts = design["artifacts"]
    (repo / "feature_store.yaml").write_text(arts["local_feature_store_yaml"])
    (repo / "repo.py").write_text(arts["local_repo_py"])
    (repo / "generate_sample.py").write_text(arts["generate_sample_py"])
    bindir = Path(sys.executable).parent
    subprocess.run([sys.executable, "generate_sample.py"], cwd=repo, check=True, timeout=300, capture_output=True)
    applied = subprocess.run([str(bindir / "feast"), "apply"], cwd=repo, capture_output=True, text=True, timeout=600)
    if applied.returncode != 0:
        print(json.dumps({"ok": False, "step": "feast apply", "stderr": applied.stderr[-3000:]}))
        return 1

    from feast import FeatureStore

    store = FeatureStore(repo_path=str(repo))
    problems: list[str] = []
    entity_kinds = {e["join_key"]: e["key_type"] for e in design["entities"]}
    views = design["feature_views"]
    frames = {v["name"]: pd.read_parquet(repo / "data" / f"{v['name']}.parquet") for v in views}
    rows_total = sum(len(f) for f in frames.values())

    started = time.perf_counter()
    end = BASE + timedelta(hours=47, minutes=1)
    store.materialize(start_date=BASE - timedelta(days=1), end_date=end)
    materialize_s = time.perf_counter() - started

    # point in time: entity 1 at 30 h (the late row, stamped 30.5 h, must not appear), entity 2 at 47 h,
    # entity 3 one second past the TTL of every view that has one (its values must be null)
    probes = [(1, BASE + timedelta(hours=30)), (2, BASE + timedelta(hours=47))]
    ttls = [v["ttl_seconds"] for v in views if v["ttl_seconds"]]
    if ttls:
        probes.append((3, BASE + timedelta(hours=47) + timedelta(seconds=min(ttls) + 1)))
    entity_df = pd.DataFrame([{**{k: key(kind, i) for k, kind in entity_kinds.items()}, "event_timestamp": ts}
                              for i, ts in probes])
    training = store.get_feature_service(design["services"]["training"])
    hist = store.get_historical_features(entity_df=entity_df, features=training).to_df()
    leaks = 0
    checked = 0
    dropped_rows: list[dict] = []
    for i, ts in probes:
        got = hist[(hist[next(iter(entity_kinds))] == key(entity_kinds[next(iter(entity_kinds))], i))]
        got = got[pd.to_datetime(got["event_timestamp"], utc=True) == pd.Timestamp(ts)]
        if len(got) != 1:
            expired = [v["name"] for v in views if v["ttl_seconds"] and expected_row(
                frames[v["name"]], {k: key(entity_kinds[k], i) for k in v["join_keys"]}, ts, v["ttl_seconds"]) is None]
            if not got.empty or not expired or design["offline_store"] != "file":
                problems.append(f"historical: {len(got)} rows for entity {i} at {ts}")
            else:  # Feast 0.67's file (dask) offline store drops a label row when a view's values are all past TTL
                dropped_rows.append({"entity": i, "at": str(ts), "expired_views": expired})
            continue
        got = got.iloc[0]
        expected_values: dict[str, object] = {}
        for v in views:
            keys = {e_key: key(entity_kinds[e_key], i) for e_key in v["join_keys"]}
            row = expected_row(frames[v["name"]], keys, ts, v["ttl_seconds"])
            for f in v["features"]:
                want = None if row is None else row[f]
                expected_values[f] = want
                checked += 1
                if not same(got[f], want):
                    problems.append(f"historical {v['name']}.{f} entity {i} at {ts}: got {got[f]!r}, want {want!r}")
                if row is not None and row["event_timestamp"] == LATE_EVENT:
                    leaks += 1
        for o in design["on_demand"]:
            a, b = expected_values[o["left"].split(":")[1]], expected_values[o["right"].split(":")[1]]
            want = None if a is None or b is None else OPS[o["op"]](float(a), float(b))
            checked += 1
            if not same(got[o["name"]], want):
                problems.append(f"on-demand {o['name']} entity {i}: got {got[o['name']]!r}, want {want!r}")
    if leaks:
        problems.append(f"the late row leaked into {leaks} point-in-time value(s)")

    serving = store.get_feature_service(design["services"]["serving"])
    entity_rows = [{k: key(kind, i) for k, kind in entity_kinds.items()} for i in (1, 2)]
    online = store.get_online_features(features=serving, entity_rows=entity_rows).to_dict()
    online_checked = 0
    for n, row_keys in enumerate(entity_rows):
        for v in views:
            if not v["online"]:
                continue
            keys = {k: row_keys[k] for k in v["join_keys"]}
            row = expected_row(frames[v["name"]], keys, end, 0)
            for f in v["features"]:
                online_checked += 1
                if not same(online[f][n], None if row is None else row[f]):
                    problems.append(f"online {v['name']}.{f} entity {n + 1}: got {online[f][n]!r}, want {row[f]!r}")
    # stream views: a push reaches the online store at once (no materialization)
    from feast.data_source import PushMode

    pushed = 0
    for v in views:
        if v.get("source") != "stream":
            continue
        keys = {k: entity_rows[1][k] for k in v["join_keys"]}
        row = expected_row(frames[v["name"]], keys, end, 0).copy()
        numeric = [f for f in v["features"] if pd.api.types.is_numeric_dtype(frames[v["name"]][f])
                   and not pd.api.types.is_bool_dtype(frames[v["name"]][f])]
        for f in numeric:
            row[f] = row[f] + 1_000_000
        row["event_timestamp"] = end + timedelta(hours=1)
        row["created"] = end + timedelta(hours=1)
        frame = pd.DataFrame([row]).astype({c: frames[v["name"]][c].dtype for c in frames[v["name"]].columns})
        store.push(f"{v['name']}_push", frame, to=PushMode.ONLINE)
        after = store.get_online_features(features=[f"{v['name']}:{f}" for f in numeric],
                                          entity_rows=[entity_rows[1]]).to_dict()
        for f in numeric:
            pushed += 1
            if not same(after[f][0], row[f]):
                problems.append(f"push {v['name']}.{f}: online {after[f][0]!r}, pushed {row[f]!r}")
    print(json.dumps({"ok": not problems, "pushed_values_checked": pushed, "problems": problems[:20], "historical_values_checked": checked,
                      "online_values_checked": online_checked, "sample_rows": rows_total,
                      "ttl_rows_dropped_by_file_store": dropped_rows,
                      "materialize_s": round(materialize_s, 3),
                      "materialized_rows_per_s": round(rows_total / materialize_s, 1)}))
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
