"""Where the reference measurements (shared/data) are: the one lookup the tests and the benchmarks use.

In order: $ML_EXPERT_SHARED_DATA; shared/data beside this checkout; shared/data beside the repository this
checkout was cloned from (a clean clone in a temporary directory still finds the workspace's data).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKER = "h100_training_memory.jsonl"


def _origin_checkout() -> Path | None:
    try:
        url = subprocess.run(["git", "-C", str(REPO), "config", "--get", "remote.origin.url"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(url.removeprefix("file://"))
    return path if url and path.is_absolute() and path.is_dir() else None


def candidates() -> list[Path]:
    if "ML_EXPERT_SHARED_DATA" in os.environ:
        return [Path(os.environ["ML_EXPERT_SHARED_DATA"])]
    found = [REPO.parent / "shared" / "data"]
    origin = _origin_checkout()
    if origin is not None:
        found.append(origin.resolve().parent / "shared" / "data")
    return found


def shared_data_dir() -> Path:
    """The first candidate holding the data, else the first candidate (callers report it missing)."""
    options = candidates()
    return next((p for p in options if (p / MARKER).exists()), options[0])
