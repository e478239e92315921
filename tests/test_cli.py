"""The ml-expert command line as a user meets it: --version, a tool's schema and example, exit codes, pipes."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from importlib import metadata

CLI = [sys.executable, "-m", "ml_expert_mcp.server.cli"]


def _run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_version_comes_from_the_package_metadata() -> None:
    out = _run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"ml-expert {metadata.version('ml-expert-mcp')}"


def test_tool_schema_and_its_worked_example_runs() -> None:
    shown = _run("tools", "plan_tf_serving")
    assert shown.returncode == 0 and '"properties"' in shown.stdout
    example = shown.stdout.split("example:\n", 1)[1].strip()
    argv = shlex.split(example)
    assert argv[:3] == ["ml-expert", "call", "plan_tf_serving"]
    ran = _run(*argv[1:])
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["feasible"] is True


def test_exit_codes_and_clean_errors() -> None:
    missing = _run("call", "search_knowledge", "--file", "/nonexistent/args.json")
    assert missing.returncode == 2 and "/nonexistent/args.json" in missing.stderr and "JSON" not in missing.stderr
    refused = _run("call", "search_knowledge", "--json", "{}")
    assert refused.returncode == 1 and "query" in refused.stderr
    assert "search_knowledgeArguments" not in refused.stderr and "type=missing" not in refused.stderr
    unknown = _run("tools", "no_such_tool")
    assert unknown.returncode == 2 and "accepted" in unknown.stderr


def test_piping_into_head_ends_quietly() -> None:
    piped = subprocess.run(f"{shlex.join(CLI)} tools | head -1", shell=True, capture_output=True, text=True,
                           timeout=120)
    assert piped.returncode == 0 and "Traceback" not in piped.stdout + piped.stderr
    big = subprocess.run(f"{shlex.join(CLI)} call plan_pytorch_training --json "
                         f"{shlex.quote(json.dumps({'model': {'preset': 'llama-3.1-8b'}, 'detail': 'full'}))} | head -c 10",
                         shell=True, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in big.stderr and "BrokenPipe" not in big.stderr
