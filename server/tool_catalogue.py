"""Answers tools/list from the generated listing, registers the tools on the first tools/call, and refuses
arguments a tool does not have.

`initialize` and the first tools/list must not wait for the planners to import (an assistant starts the server
at every session): tools/list is served from server.tool_listing without importing them, and the registry is
imported on the first call. The SDK's argument model drops unknown keys, so a misspelt optional argument would be
silently ignored: such a call gets an isError result naming the unknown keys and the accepted ones.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, ListToolsResult, TextContent, ToolAnnotations

from ml_expert_mcp.server.tool_listing import live_listing, stored_listing


class ToolCatalogue:
    def __init__(self, mcp: MCPServer, cache_size: int) -> None:
        self.mcp = mcp
        self.cache_size = cache_size
        self.accepted: dict[str, frozenset[str]] | None = None
        self.listing: ListToolsResult | None = None

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
                    annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False,
                                                idempotent_hint=True, open_world_hint=entry.open_world))
                accepted[entry.name] = frozenset(request_model.model_fields)
            self.accepted = accepted
        return self.accepted

    async def list_tools(self) -> ListToolsResult:
        if self.listing is None:
            tools = stored_listing()
            if tools is None:
                self.ensure_registered()
                tools = live_listing(await self.mcp.list_tools())
            self.listing = ListToolsResult.model_validate({"tools": tools})
        return self.listing

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        """Server middleware: tools/list from the listing; register on the first call; refuse unknown arguments."""
        if ctx.method == "tools/list":
            return await self.list_tools()
        if ctx.method == "tools/call":
            accepted = self.ensure_registered()
            params = ctx.params
            if isinstance(params, dict) and isinstance(params.get("arguments"), dict):
                known = accepted.get(params.get("name", ""))
                unknown = sorted(str(k)[:64] for k in params["arguments"] if known is not None and k not in known)
                if unknown:
                    text = f"unknown argument(s) {', '.join(unknown[:10])}; accepted: {', '.join(sorted(known or ()))}"
                    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
        return await call_next(ctx)
