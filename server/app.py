"""Build the one MCPServer: every tool of the registry, the knowledge resources and the prompts."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from starlette.requests import Request
from starlette.responses import JSONResponse

from server import prompts, resources
from server.registry import TOOLS
from server.tool_adapter import mcp_tool_function

SERVER_NAME = "ml-expert"
VERSION = "0.1.0"
INSTRUCTIONS = (
    "Deterministic ML-infrastructure planners. Training: select_distribution_strategy (search), "
    "estimate_training_memory (one layout), plan_pytorch_training, plan_tf_training. Knowledge: search_knowledge, "
    "resources knowledge://index and knowledge://node/{id}. Framework choice: recommend_framework."
)


def build_server() -> MCPServer:
    mcp = MCPServer(SERVER_NAME, version=VERSION, instructions=INSTRUCTIONS, log_level="WARNING")
    for entry in TOOLS:
        request_model, plan = entry.load()
        mcp.add_tool(
            mcp_tool_function(entry.name, request_model, plan), name=entry.name, title=entry.title,
            description=entry.description,
            annotations=ToolAnnotations(title=entry.title, read_only_hint=True, destructive_hint=False,
                                        idempotent_hint=True, open_world_hint=entry.open_world),
        )
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

    @mcp.custom_route("/healthz", methods=["GET"])
    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return mcp
