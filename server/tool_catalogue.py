"""Registers the tool catalogue on the first tools/* request, and refuses arguments a tool does not have.

Importing twelve planners and building their pydantic schemas costs about a third of a second; `initialize`
must not wait for it (an assistant starts the server at every session), so the work happens when tools are
first listed or called. The SDK's argument model drops unknown keys, so a misspelt optional argument would be
silently ignored: such a call gets an isError result naming the unknown keys and the accepted ones.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations


class ToolCatalogue:
    def __init__(self, mcp: MCPServer, cache_size: int) -> None:
        self.mcp = mcp
        self.cache_size = cache_size
        self.accepted: dict[str, frozenset[str]] | None = None

    def ensure_registered(self) -> dict[str, frozenset[str]]:
        if self.accepted is None:
            from ml_expert_mcp.server.registry import TOOLS
            from ml_expert_mcp.server.tool_adapter import mcp_tool_function

            accepted = {}
            for entry in TOOLS:
                request_model, plan = entry.request, entry.function
                self.mcp.add_tool(
                    mcp_tool_function(entry.name, request_model, plan, self.cache_size), name=entry.name,
                    title=entry.title, description=entry.description,
                    annotations=ToolAnnotations(title=entry.title, read_only_hint=True, destructive_hint=False,
                                                idempotent_hint=True, open_world_hint=entry.open_world))
                accepted[entry.name] = frozenset(request_model.model_fields)
            self.accepted = accepted
        return self.accepted

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        """Server middleware: register on first use; refuse unknown tools/call arguments."""
        if isinstance(ctx.method, str) and ctx.method.startswith("tools/"):
            accepted = self.ensure_registered()
            params = ctx.params if ctx.method == "tools/call" else None
            if isinstance(params, dict) and isinstance(params.get("arguments"), dict):
                known = accepted.get(params.get("name", ""))
                unknown = sorted(str(k)[:64] for k in params["arguments"] if known is not None and k not in known)
                if unknown:
                    text = f"unknown argument(s) {', '.join(unknown[:10])}; accepted: {', '.join(sorted(known or ()))}"
                    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
        return await call_next(ctx)
