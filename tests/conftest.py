from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ML_EXPERT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "h100_training_memory.jsonl").exists():
        pytest.fail(f"reference data missing at {SHARED_DATA}")
    return SHARED_DATA
