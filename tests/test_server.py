"""Every tool, resource and prompt through mcp.Client in-process (both protocol modes), stdio and HTTP transports."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from mcp import Client, StdioServerParameters

from bench.calls import SMALL
from ml_expert_mcp.server.app import build_server
from ml_expert_mcp.server.registry import TOOLS, tool_names

MODES = ["auto", "legacy"]
CALLS = SMALL  # one realistic call per tool, shared with the benchmarks


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_every_tool_is_listed_described_and_callable(mode: str) -> None:
    assert set(CALLS) == set(tool_names())
    async with Client(build_server(), mode=mode) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert set(listed) == set(tool_names())
        for name, tool in listed.items():
            assert tool.title and tool.description and tool.output_schema
            assert tool.annotations.read_only_hint and tool.annotations.idempotent_hint
            for prop in tool.input_schema["properties"].values():
                assert prop.get("description"), name
            result = await client.call_tool(name, CALLS[name])
            assert not result.is_error, result.content
            assert result.structured_content


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_knowledge_search_finds_the_alias_correction(mode: str) -> None:
    async with Client(build_server(), mode=mode) as client:
        result = await client.call_tool("search_knowledge", {"query": "mlflow registry stages", "limit": 3})
        hits = result.structured_content["hits"]
        assert hits[0]["id"] == "mlflow.registry.stages" and hits[0]["status"] == "deprecated"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_resources_and_prompts(mode: str) -> None:
    async with Client(build_server(), mode=mode) as client:
        index = json.loads((await client.read_resource("knowledge://index")).contents[0].text)
        assert len(index) > 50
        node = json.loads((await client.read_resource("knowledge://node/kubeflow.kfserving")).contents[0].text)
        assert node["successor"] == "kserve" and node["sources"]
        gpus = json.loads((await client.read_resource("knowledge://gpus")).contents[0].text)
        assert any(g["id"] == "H100-SXM-80GB" for g in gpus)
        models = json.loads((await client.read_resource("knowledge://models")).contents[0].text)
        assert any(m["id"] == "llama-3.1-405b" for m in models)
        templates = (await client.list_resource_templates()).resource_templates
        assert any(t.uri_template == "knowledge://node/{node_id}" for t in templates)
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert prompts == {"plan_distributed_training", "review_serving_setup", "design_mlops_platform"}
        text = (await client.get_prompt("plan_distributed_training", {"model": "llama-3.1-70b", "num_gpus": "64"})).messages[0].content.text
        assert "select_distribution_strategy" in text and "llama-3.1-70b" in text and "64" in text
        review = (await client.get_prompt("review_serving_setup", {"model_name": "m", "setup": "TF Serving on 2 GPUs"})).messages[0].content.text
        assert "TF Serving on 2 GPUs" in review


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_bad_input_is_an_error_result_naming_the_field_and_server_keeps_serving(mode: str) -> None:
    async with Client(build_server(), mode=mode) as client:
        cases = [
            ("select_distribution_strategy", {"model": {"preset": "llama-2-7b"}, "cluster": {"nodes": 0}}, "cluster.nodes"),
            ("select_distribution_strategy", {"model": {"preset": "gpt-9"}}, "model.preset"),
            ("estimate_training_memory", {"model": {"preset": "llama-2-7b"}, "cluster": {"gpus_per_node": 6},
                                          "layout": {"data_parallel": 2, "tensor_parallel": 3}}, "layout.tensor_parallel"),
            ("estimate_training_memory", {"model": {"preset": "llama-2-7b"}, "cluster": {"gpu": "Z9"}}, "cluster.gpu"),
            ("estimate_training_memory", {"model": {"preset": "llama-2-7b"}, "training": {"global_batch_size": 3},
                                          "cluster": {"gpus_per_node": 2}, "layout": {"data_parallel": 2}},
             "training.global_batch_size"),
            ("search_knowledge", {"query": ""}, "query"),
        ]
        for name, args, field in cases:
            result = await client.call_tool(name, args)
            assert result.is_error, (name, args)
            assert field in result.content[0].text, result.content[0].text
        ok = await client.call_tool("search_knowledge", {"query": "fsdp"})
        assert not ok.is_error


@pytest.mark.anyio
async def test_determinism_same_call_twice_is_byte_identical() -> None:
    args = CALLS["select_distribution_strategy"]
    outputs = []
    for _ in range(2):
        async with Client(build_server()) as client:
            result = await client.call_tool("select_distribution_strategy", args)
        outputs.append(json.dumps(result.structured_content, sort_keys=True))
    assert outputs[0] == outputs[1]


def test_readme_catalogue_matches_the_server() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Tool catalogue", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)
    assert documented == [t.name for t in TOOLS]


def test_cli_call_prints_json_and_fails_clearly() -> None:
    ok = subprocess.run([sys.executable, "-m", "ml_expert_mcp.server.cli", "call", "search_knowledge", "--json", '{"query": "kserve"}'],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and json.loads(ok.stdout)["hits"]
    bad = subprocess.run([sys.executable, "-m", "ml_expert_mcp.server.cli", "call", "recommend_framework", "--json", '{"task": "poetry"}'],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "task" in bad.stderr and "Traceback" not in bad.stderr
    listing = subprocess.run([sys.executable, "-m", "ml_expert_mcp.server.cli", "tools"], capture_output=True, text=True, timeout=60)
    assert all(name in listing.stdout for name in tool_names())


@pytest.mark.anyio
async def test_stdio_subprocess() -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "ml_expert_mcp.server.cli", "serve"])
    async with Client(params) as client:
        tools = (await client.list_tools()).tools
        assert {t.name for t in tools} == set(tool_names())
        result = await client.call_tool("search_knowledge", {"query": "torchscript"})
        assert "pytorch.torchscript" in [h["id"] for h in result.structured_content["hits"][:2]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.anyio
async def test_streamable_http_transport() -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ml_expert_mcp.server.cli", "serve", "--http", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            result = await client.call_tool("recommend_framework", {"task": "llm_finetuning", "model_params_b": 8, "num_gpus": 8})
            assert not result.is_error
            ranked = result.structured_content["ranked"]
            # hand count: PyTorch 8 (task) + 2 (server) + 3 (distributed) + 3 (>= 1B) + 2 (python) = 18;
            # Transformers 10 + 2 + 2 + 2 + 2 = 18; tie broken by id; scikit-learn last.
            assert [(r["framework"], r["score"]) for r in ranked[:2]] == [("pytorch", 18), ("transformers", 18)]
            assert ranked[-1]["framework"] == "sklearn"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
