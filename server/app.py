"""Build the one MCPServer: every tool of the registry, the knowledge resources and the prompts."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.types import EmptyResult, SetLevelRequestParams
from starlette.requests import Request
from starlette.responses import JSONResponse

from ml_expert_mcp.server import __version__, completions, prompts, resources
from ml_expert_mcp.server.tool_catalogue import ToolCatalogue

CACHE_SIZE = 256  # deterministic results kept per tool (LRU)
SERVER_NAME = "ml-expert"
INSTRUCTIONS = (
    "Deterministic ML-infrastructure planners. Training: select_distribution_strategy (search), "
    "estimate_training_memory (one layout), plan_pytorch_training, plan_tf_training, plan_sagemaker_job. Serving: "
    "plan_tf_serving, plan_llm_serving, plan_sagemaker_endpoint. MLOps: design_mlflow_platform. Checks of running servers: "
    "verify_tf_serving, verify_mlflow_server. Knowledge: search_knowledge, resources knowledge://index and "
    "knowledge://node/{id}. Framework choice: recommend_framework."
)


def build_server(cache_size: int = CACHE_SIZE) -> MCPServer:
    """The server; tools register on first use (see server.tool_catalogue). cache_size 0 disables result caching."""
    mcp = MCPServer(SERVER_NAME, version=__version__, instructions=INSTRUCTIONS, log_level="WARNING")
    mcp.middleware.append(ToolCatalogue(mcp, cache_size))
    mcp.resource("knowledge://index", name="knowledge-index", title="Knowledge base index",
                 description="Every framework-tree node: id, title, parent, status.", mime_type="application/json")(resources.knowledge_index)
    mcp.resource("knowledge://node/{node_id}", name="knowledge-node", title="Knowledge node",
                 description="One node with summary, status, successor and sources.", mime_type="application/json")(resources.knowledge_node)
    mcp.resource("knowledge://gpus", name="gpu-catalogue", title="GPU catalogue",
                 description="Accelerators: memory, bandwidth, dense TFLOP/s, sources.", mime_type="application/json")(resources.gpu_catalogue)
    mcp.resource("knowledge://models", name="model-catalogue", title="Model presets",
                 description="Model presets with HF config fields and sources.", mime_type="application/json")(resources.model_catalogue)
    for fn in prompts.PROMPTS:
        mcp.prompt(name=fn.__name__, description=fn.__doc__)(fn)

    mcp.completion()(completions.complete)  # type: ignore[no-untyped-call]
    # logging/setLevel (protocol 2025-11-25; deprecated in 2026-07-28): MCPServer has no public hook for it.
    mcp._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, _set_log_level)

    @mcp.custom_route("/healthz", methods=["GET"])  # type: ignore[untyped-decorator]
    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return mcp


async def _set_log_level(_: object, params: SetLevelRequestParams) -> EmptyResult:
    """Accepted and ignored: the server sends no log notifications, and the process's own log level is the
    operator's, not one client's (a client setting `debug` changed logging for every client)."""
    return EmptyResult()
