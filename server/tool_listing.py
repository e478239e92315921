"""The tools/list answer: compact schemas (server.tool_schemas), served from a file generated from the live registry.

Importing twelve planners and building their schemas costs more than the whole SDK start-up, and clients call
tools/list right after initialize. So `tools_list.json` holds the listing the live registry produces, with a
fingerprint of every source file that shapes it (tool packages, probes, the server's tool wiring) and of the
pydantic and mcp versions. At start the fingerprint is recomputed (hashing the files: a few ms); a match serves
the file, a mismatch (an edited checkout) falls back to the live listing, so the answer is never stale.
`python -m ml_expert_mcp.server.tool_listing` rewrites the file; a test checks it is current and equal to the
live listing.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import ml_expert_mcp.probes
import ml_expert_mcp.tools

LISTING_FILE = Path(__file__).with_name("tools_list.json")
_SERVER_FILES = ("registry.py", "tool_adapter.py", "tool_schemas.py", "tool_listing.py")


def fingerprint() -> str:
    digest = hashlib.sha256()
    for dist in ("mcp", "pydantic", "pydantic-core"):
        digest.update(f"{dist}=={metadata.version(dist)}\n".encode())
    roots = [Path(next(iter(pkg.__path__))) for pkg in (ml_expert_mcp.tools, ml_expert_mcp.probes)]
    files = sorted(f for root in roots for f in root.rglob("*.py"))
    files += [Path(__file__).with_name(name) for name in _SERVER_FILES]
    for f in files:
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


def stored_listing() -> list[dict[str, Any]] | None:
    """The generated listing when it matches the code that is running, else None."""
    try:
        stored = json.loads(LISTING_FILE.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("fingerprint") != fingerprint():
        return None
    tools = stored.get("tools")
    return tools if isinstance(tools, list) else None


def live_listing(registered: list[Any], share: bool = True) -> list[dict[str, Any]]:
    """tools/list entries from the SDK's Tool objects, schemas compacted, the title said once. The output schema
    is made here from the plan function's return model: the SDK is told the tools return unstructured results,
    so it does not re-validate structuredContent against the full model (a `detail` view omits parts)."""
    from typing import get_type_hints

    from ml_expert_mcp.server.registry import TOOLS
    from ml_expert_mcp.server.tool_schemas import share_definitions

    functions = {t.name: t.function for t in TOOLS}
    out = []
    for tool in registered:
        output_model = get_type_hints(functions[tool.name])["return"]
        out.append(compact_entry(tool.model_dump(mode="json", by_alias=True, exclude_none=True),
                                 output_model.model_json_schema(by_alias=True, mode="serialization")))
    return share_definitions(out) if share else out


def compact_entry(entry: dict[str, Any], output_schema: dict[str, Any]) -> dict[str, Any]:
    """One tool's entry as tools/list carries it: input and output schemas compacted, the title said once."""
    from ml_expert_mcp.server.tool_schemas import compact_input, compact_output

    entry["inputSchema"] = compact_input(entry["inputSchema"])
    entry["outputSchema"] = compact_output(output_schema)
    entry.get("annotations", {}).pop("title", None)
    return entry


async def registered_tools() -> list[Any]:
    """The SDK's Tool objects of every tool, registered as a first tools/list would, schemas as pydantic writes them."""
    from ml_expert_mcp.server.app import build_server
    from ml_expert_mcp.server.tool_catalogue import ToolCatalogue

    server = build_server(cache_size=0)
    catalogue = next(m for m in server.middleware if isinstance(m, ToolCatalogue))
    catalogue.ensure_registered()
    return list(await server.list_tools())


async def generate() -> list[dict[str, Any]]:
    return live_listing(await registered_tools())


def main() -> None:
    import anyio

    tools = anyio.run(generate)
    LISTING_FILE.write_text(json.dumps({"fingerprint": fingerprint(), "tools": tools}, indent=1) + "\n")
    print(f"wrote {LISTING_FILE} ({len(tools)} tools)")


if __name__ == "__main__":
    main()
