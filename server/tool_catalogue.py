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
from pydantic import BaseModel

from ml_expert_mcp.server.tool_listing import live_listing, stored_listing


class ToolCatalogue:
    def __init__(self, mcp: MCPServer, cache_size: int) -> None:
        self.mcp = mcp
        self.cache_size = cache_size
        self.accepted: dict[str, frozenset[str]] | None = None
        self.listing: ListToolsResult | None = None
        self.models: dict[str, type[BaseModel]] = {}

    def ensure_registered(self) -> dict[str, frozenset[str]]:
        if self.accepted is None:
            from ml_expert_mcp.server.registry import TOOLS
            from ml_expert_mcp.server.tool_adapter import SERVER_ARGUMENTS, mcp_tool_function

            accepted = {}
            for entry in TOOLS:
                request_model, plan = entry.request, entry.function
                self.mcp.add_tool(
                    mcp_tool_function(entry.name, request_model, plan, self.cache_size), name=entry.name,
                    title=entry.title, description=entry.description, structured_output=False,
                    annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False,
                                                idempotent_hint=True, open_world_hint=entry.open_world))
                accepted[entry.name] = frozenset(request_model.model_fields) | SERVER_ARGUMENTS
                self.models[entry.name] = request_model
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
            if isinstance(params, dict) and params.get("name") in accepted:
                refusal = self._refusal(params["name"], params.get("arguments") or {}, accepted[params["name"]])
                if refusal is not None:
                    return CallToolResult(content=[TextContent(type="text", text=refusal)], is_error=True)
        return await call_next(ctx)

    def _refusal(self, name: str, arguments: Any, known: frozenset[str]) -> str | None:
        """Our own message for arguments the SDK would refuse with pydantic's internals (model names, input
        values), or silently drop (unknown keys); None when they are acceptable."""
        from pydantic import ValidationError

        from ml_expert_mcp.server.result_views import DETAIL_LEVELS
        from ml_expert_mcp.server.tool_adapter import format_validation_error

        if not isinstance(arguments, dict):
            return "invalid arguments: a JSON object is expected"
        unknown = sorted(str(k)[:64] for k in arguments if k not in known)
        if unknown:
            return f"unknown argument(s) {', '.join(unknown[:10])}; accepted: {', '.join(sorted(known))}"
        if arguments.get("detail", "plan") not in DETAIL_LEVELS:
            return f"detail: must be one of {', '.join(DETAIL_LEVELS)}"
        try:
            self.models[name].model_validate({k: v for k, v in arguments.items() if k != "detail"})
        except ValidationError as err:
            return f"invalid arguments: {format_validation_error(err)}"
        return None
