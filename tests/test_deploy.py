"""The ways to run the server for a team: the Dockerfile (parsed, and its commands run in a venv: no container
engine daemon runs on the CI machine), the Kubernetes manifests (strict), and two stateless replicas behind a
client-side round-robin answering identically."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from dockerfile_parse import DockerfileParser

from tests.servers import free_port, stop_group, wait_http

ROOT = Path(__file__).resolve().parents[1]
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
           "MCP-Protocol-Version": "2025-11-25"}


def _dockerfile() -> DockerfileParser:
    parser = DockerfileParser(fileobj=open(ROOT / "Dockerfile", "rb"))  # noqa: SIM115 (the parser reads it now)
    return parser


def test_dockerfile_is_small_non_root_and_health_checked() -> None:
    df = _dockerfile()
    instructions = [(i["instruction"], i["value"]) for i in df.structure]
    assert df.baseimage.startswith("python:3.12-slim")
    user = [v for k, v in instructions if k == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert any(k == "HEALTHCHECK" and "/healthz" in v for k, v in instructions)
    entry = json.loads(next(v for k, v in instructions if k == "ENTRYPOINT"))
    assert entry[:3] == ["ml-expert", "serve", "--http"]
    runs = [v for k, v in instructions if k == "RUN"]
    assert runs == [r for r in runs if "pip install ." in r and "[test]" not in r]  # runtime dependencies only
    copied = {v.split()[0] for k, v in instructions if k == "COPY"}
    assert {"server", "tools", "probes", "knowledge", "prompts", "pyproject.toml"} <= copied
    assert "tests" not in copied and ".venv" not in copied


def _rpc(url: str, method: str, params: dict[str, Any], ident: int, token: str | None = None) -> dict[str, Any]:
    headers = {**HEADERS, **({"Authorization": f"Bearer {token}"} if token else {})}
    body = {"jsonrpc": "2.0", "id": ident, "method": method, "params": params}
    reply = httpx.post(url, json=body, headers=headers, timeout=60)
    reply.raise_for_status()
    return reply.json()


def _initialize(url: str, token: str | None = None) -> None:
    _rpc(url, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                             "clientInfo": {"name": "deploy-test", "version": "0"}}, 0, token)


@pytest.mark.slow
def test_dockerfile_commands_run_in_a_venv(tmp_path: Path) -> None:
    """COPY the Dockerfile's paths, RUN its install into a fresh venv, start its ENTRYPOINT + CMD with a token."""
    df = _dockerfile()
    src = tmp_path / "src"
    src.mkdir()
    for instruction in df.structure:
        if instruction["instruction"] == "COPY":
            *sources, _ = instruction["value"].split()
            for name in sources:
                path = ROOT / name
                (shutil.copytree if path.is_dir() else shutil.copy2)(path, src / path.name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    started = time.monotonic()
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "."], cwd=src,
                   check=True, timeout=900)
    install_s = time.monotonic() - started
    entry = json.loads(next(i["value"] for i in df.structure if i["instruction"] == "ENTRYPOINT"))
    port = free_port()
    argv = [str(venv / "bin" / entry[0]), *entry[1:]]
    argv[argv.index("--port") + 1] = str(port)  # the image's 8000, moved to a free port for the test
    argv[argv.index("--host") + 1] = "127.0.0.1"  # loopback here; the image binds 0.0.0.0
    token = "t" * 32
    proc = subprocess.Popen([*argv, "--allowed-host", f"127.0.0.1:{port}"], env={**os.environ, "ML_EXPERT_TOKEN": token},
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 60, proc)
        url = f"http://127.0.0.1:{port}/mcp"
        assert httpx.post(url, json={}, headers=HEADERS, timeout=30).status_code == 401
        _initialize(url, token)
        answer = _rpc(url, "tools/call", {"name": "search_knowledge", "arguments": {"query": "torchrun"}}, 1, token)
        assert answer["result"]["structuredContent"]["hits"][0]["id"] == "pytorch.torchrun"
    finally:
        stop_group(proc)
    print(f"runtime install into a fresh venv: {install_s:.1f} s")


def test_kubernetes_manifests_are_strictly_valid() -> None:
    from ml_expert_mcp.tools.common.k8s import KUBERNETES_VERSION

    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text()) if d]
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    env = pod["containers"][0]["env"]
    assert env == [{"name": "ML_EXPERT_TOKEN", "valueFrom": {"secretKeyRef": {"name": "ml-expert-token", "key": "token"}}}]
    assert pod["securityContext"]["runAsNonRoot"] is True
    service = next(d for d in docs if d["kind"] == "Service")
    assert "sessionAffinity" not in service["spec"]  # stateless replicas: none needed


@pytest.mark.slow
def test_two_replicas_behind_round_robin_answer_identically() -> None:
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, "-m", "ml_expert_mcp.server.cli", "serve", "--http", "--port", str(p)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
             for p in ports]
    try:
        urls = [f"http://127.0.0.1:{p}/mcp" for p in ports]
        for url, proc in zip(urls, procs, strict=True):
            wait_http(url.replace("/mcp", "/healthz"), 60, proc)
        _initialize(urls[0])  # the session starts on one replica; every later request goes to the next one
        calls = [("tools/list", {}), ("tools/call", {"name": "plan_tf_serving",
                                                     "arguments": json.loads(json.dumps(_example("plan_tf_serving")))}),
                 ("tools/call", {"name": "search_knowledge", "arguments": {"query": "fsdp"}})]
        for i, (method, params) in enumerate(calls * 2):
            answers = [_rpc(urls[(i + k) % 2], method, params, 10 + i) for k in (0, 1)]
            assert "error" not in answers[0], answers[0]
            assert answers[0]["result"] == answers[1]["result"], method
    finally:
        for proc in procs:
            stop_group(proc)


def _example(name: str) -> dict[str, Any]:
    from ml_expert_mcp.server.examples import EXAMPLES

    return EXAMPLES[name]
