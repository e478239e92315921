"""The built wheel installs one top-level package, ml_expert_mcp, with every tool domain and its data files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_has_one_top_level_package(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, timeout=600)
    wheel = next(tmp_path.glob("ml_expert_mcp-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        assert z.read(top_level).decode().split() == ["ml_expert_mcp"]
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"ml_expert_mcp"}
    domains = {p.name for p in (ROOT / "tools").iterdir() if (p / "__init__.py").exists()}
    shipped = {n.split("/")[2] for n in names if n.startswith("ml_expert_mcp/tools/") and n.count("/") >= 3}
    assert domains <= shipped, f"domain packages missing from pyproject's packages list: {domains - shipped}"
    assert "ml_expert_mcp/server/tools_list.json" in names
    assert any(n.startswith("ml_expert_mcp/knowledge/") and n.endswith(".toml") for n in names)
    assert any(n.startswith("ml_expert_mcp/prompts/") and n.endswith(".j2") for n in names)
