"""Shared by the edge runners (run with .venv-edge-tf or .venv-edge-torch python; stdlib + numpy only here)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np


def grouped(layers: list[dict]) -> list[dict]:
    """Identical layer entries merged into one with a count (order does not change the size)."""
    counts: dict[tuple, int] = {}
    for layer in layers:
        key = tuple(sorted(layer.items()))
        counts[key] = counts.get(key, 0) + 1
    return [{**dict(key), "count": n} for key, n in counts.items()]


def rel_error(y: np.ndarray, ref: np.ndarray) -> float:
    """max|y - ref| / max|ref|: the error measure the recipes promise."""
    return float(np.max(np.abs(y.astype(np.float64) - ref)) / np.max(np.abs(ref)))


def artifact_size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def run_script(script: str, argv: list[str]) -> None:
    """Run a plan's conversion script as `python script.py argv...` would, in this process."""
    saved = sys.argv
    sys.argv = ["convert.py", *argv]
    try:
        exec(compile(script, "convert.py", "exec"), {"__name__": "__main__"})
    finally:
        sys.argv = saved


def write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
