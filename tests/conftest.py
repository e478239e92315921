from __future__ import annotations

from pathlib import Path

import pytest

from bench.shared_data import MARKER, shared_data_dir

SHARED_DATA = shared_data_dir()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / MARKER).exists():
        pytest.fail(f"reference data missing at {SHARED_DATA}")
    return SHARED_DATA
