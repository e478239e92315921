"""Drift check for one window against a reference sample: numpy + scipy only, no framework.

Emitted verbatim by design_model_monitoring (artifacts.drift_job_py). Reads drift_config.json, a reference CSV
and a current-window CSV, computes per feature the statistic the plan chose (PSI, chi-squared or Jensen-Shannon
on the planned bins, with 0.5 pseudo-counts), compares it with the threshold calibrated to the per-feature
false-alarm rate for this window's actual sizes, and writes Prometheus text-format metrics (node_exporter
textfile collector or a Pushgateway body). Exit code 0; 1 with --fail-on-alarm when any feature alarms.

    python drift_job.py --config drift_config.json --reference ref.csv --current window.csv --metrics-out drift.prom
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from typing import Any

import numpy as np
from scipy import stats

PSEUDO = 0.5
TRUE = {"1", "true", "t", "yes", "y"}


def bin_reference(ref: list[str], feature: dict[str, Any]) -> dict[str, Any]:
    """The bins, learnt from the reference only: quantile edges (numeric, count) or the top categories."""
    kind = feature["type"]
    if kind in ("numeric", "count"):
        values = np.asarray(ref, dtype=float)
        method = "inverted_cdf" if kind == "count" else "linear"  # count edges stay observed integers
        qs = np.quantile(values, np.arange(1, feature["bins"]) / feature["bins"], method=method)  # type: ignore[call-overload]
        return {"edges": np.unique(qs)}
    if kind == "boolean":
        return {}
    counts: dict[str, int] = {}
    for value in ref:
        counts[value] = counts.get(value, 0) + 1
    top = sorted(counts, key=lambda v: (-counts[v], v))[: feature["bins"] - 1]
    return {"index": {v: i for i, v in enumerate(top)}, "other": len(top)}


def bin_counts(values: Any, feature: dict[str, Any], bins: dict[str, Any]) -> np.ndarray:
    kind = feature["type"]
    if kind in ("numeric", "count"):
        idx = np.searchsorted(bins["edges"], np.asarray(values, dtype=float), side="right")
        return np.bincount(idx, minlength=len(bins["edges"]) + 1)
    if kind == "boolean":
        flags = np.asarray([str(v).strip().lower() in TRUE for v in values])
        return np.array([np.sum(~flags), np.sum(flags)])
    index, other = bins["index"], bins["other"]
    idx = np.fromiter((index.get(v, other) for v in values), dtype=int, count=len(values))
    return np.bincount(idx, minlength=other + 1)


def statistic(ref_counts: np.ndarray, cur_counts: np.ndarray, name: str) -> tuple[float, int]:
    """The statistic and its degrees of freedom (occupied bins - 1)."""
    keep = (ref_counts + cur_counts) > 0
    r, c = ref_counts[keep].astype(float), cur_counts[keep].astype(float)
    df = max(1, int(keep.sum()) - 1)
    if name == "chi_squared":
        table = np.vstack([r, c])
        expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
        return float(((table - expected) ** 2 / expected).sum()), df
    p = (r + PSEUDO) / (r.sum() + PSEUDO * len(r))
    q = (c + PSEUDO) / (c.sum() + PSEUDO * len(c))
    if name == "psi":
        return float(np.sum((q - p) * np.log(q / p))), df
    mix = (p + q) / 2
    return float(0.5 * np.sum(p * np.log(p / mix)) + 0.5 * np.sum(q * np.log(q / mix))), df


def threshold(name: str, df: int, alpha: float, n: int, m: int) -> float:
    """Alarm level at false-alarm rate alpha: PSI ~ (1/n+1/m) chi2(df), JS ~ that / 8, Pearson X2 ~ chi2(df)."""
    critical = float(stats.chi2.ppf(1.0 - alpha, df))
    if name == "psi":
        return critical * (1.0 / n + 1.0 / m)
    if name == "jensen_shannon":
        return critical * (1.0 / n + 1.0 / m) / 8.0
    return critical


def check_feature(ref: list[str], cur: list[str], feature: dict[str, Any], alpha: float) -> dict[str, Any]:
    bins = bin_reference(ref, feature)
    value, df = statistic(bin_counts(ref, feature, bins), bin_counts(cur, feature, bins), feature["statistic"])
    limit = threshold(feature["statistic"], df, alpha, len(cur), len(ref))
    out = {"feature": feature["name"], "statistic": feature["statistic"], "value": value, "threshold": limit,
           "df": df, "alarm": value > limit}
    if feature["type"] == "numeric":
        out["ks"] = float(stats.ks_2samp(np.asarray(ref, dtype=float), np.asarray(cur, dtype=float)).statistic)
    return out


def read_columns(path: str, names: list[str]) -> dict[str, list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = [n for n in names if rows and n not in rows[0]]
    if missing:
        raise SystemExit(f"{path}: missing columns {missing}")
    return {n: [row[n] for row in rows if row[n] != ""] for n in names}


def metrics_text(model: str, results: list[dict[str, Any]], rows: int, now: float) -> str:
    lines = ["# HELP ml_drift_statistic Drift statistic of the last window.", "# TYPE ml_drift_statistic gauge"]
    for r in results:
        lines.append(f'ml_drift_statistic{{model="{model}",feature="{r["feature"]}",statistic="{r["statistic"]}"}} {r["value"]:.8g}')
    lines += ["# HELP ml_drift_threshold Alarm level calibrated to the false-alarm rate.", "# TYPE ml_drift_threshold gauge"]
    for r in results:
        lines.append(f'ml_drift_threshold{{model="{model}",feature="{r["feature"]}",statistic="{r["statistic"]}"}} {r["threshold"]:.8g}')
    lines += ["# HELP ml_drift_alarm 1 when the statistic exceeds its threshold.", "# TYPE ml_drift_alarm gauge"]
    for r in results:
        lines.append(f'ml_drift_alarm{{model="{model}",feature="{r["feature"]}"}} {int(r["alarm"])}')
    lines += ["# TYPE ml_drift_window_rows gauge", f'ml_drift_window_rows{{model="{model}"}} {rows}',
              "# TYPE ml_drift_job_last_success_timestamp_seconds gauge",
              f'ml_drift_job_last_success_timestamp_seconds{{model="{model}"}} {now:.0f}']
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--current", required=True)
    parser.add_argument("--metrics-out", required=True)
    parser.add_argument("--fail-on-alarm", action="store_true")
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as handle:
        config = json.load(handle)
    names = [f["name"] for f in config["features"]]
    ref, cur = read_columns(args.reference, names), read_columns(args.current, names)
    results = [check_feature(ref[f["name"]], cur[f["name"]], f, config["alpha_per_feature"]) for f in config["features"]]
    rows = max((len(v) for v in cur.values()), default=0)
    with open(args.metrics_out, "w", encoding="utf-8") as handle:
        handle.write(metrics_text(config["model"], results, rows, time.time()))
    json.dump({"model": config["model"], "rows": rows, "results": results}, sys.stdout, default=bool)
    sys.stdout.write("\n")
    return 1 if args.fail_on_alarm and any(r["alarm"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
