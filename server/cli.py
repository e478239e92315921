"""The ml-expert command line: serve (stdio or HTTP), list tools, call a tool with JSON arguments.

Exit codes: 0 success; 1 the tool refused the arguments (the message names the field); 2 usage errors (unknown
command or tool, unreadable arguments file, arguments that are not a JSON object, a refused HTTP start-up).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _serve(args: argparse.Namespace) -> int:
    if args.http:
        from ml_expert_mcp.server.http_app import HttpOptions, StartupRefused, load_token, serve_http
        from ml_expert_mcp.server.http_guard import ConnectionLimits

        try:
            limits = ConnectionLimits(header_timeout_s=args.header_timeout, max_connections=args.max_connections,
                                      max_per_client=args.max_connections_per_client)
            options = HttpOptions(host=args.host, port=args.port, token=load_token(args.token_file),
                                  allowed_hosts=tuple(args.allowed_host), allowed_origins=tuple(args.allowed_origin),
                                  max_body_bytes=args.max_body_bytes, limits=limits)
            _announce(options)
            serve_http(options)
        except StartupRefused as err:
            print(err.code, file=sys.stderr)
            return 2
        return 0
    from ml_expert_mcp.server.app import build_server

    build_server().run("stdio")
    return 0


def _announce(options: Any) -> None:
    """One line on stderr saying where the server listens and with which protections."""
    token = "bearer token required" if options.token else "no token (loopback only)"
    hosts = ", ".join(options.allowed_hosts) or "loopback names only"
    print(f"ml-expert: serving MCP on http://{options.host}:{options.port}/mcp (health: /healthz); {token}; "
          f"Host allowed: {hosts}; Origin checked; bodies capped at {options.max_body_bytes:,} bytes", file=sys.stderr,
          flush=True)


def _listing() -> list[dict[str, Any]]:
    from ml_expert_mcp.server.tool_listing import stored_listing

    stored = stored_listing()
    if stored is not None:
        return stored
    import anyio

    from ml_expert_mcp.server.tool_listing import generate

    return anyio.run(generate)


def _tools(args: argparse.Namespace) -> int:
    from ml_expert_mcp.server.examples import EXAMPLES

    listing = _listing()
    if args.name is None:
        for t in listing:
            print(f"{t['name']:30} {t['description']}")
        print("\n'ml-expert tools NAME' prints a tool's input schema and a worked example.")
        return 0
    from ml_expert_mcp.server.tool_schemas import expand_shared

    tool = next((t for t in expand_shared(listing) if t["name"] == args.name), None)
    if tool is None:
        print(f"error: unknown tool {args.name!r}; accepted: {', '.join(t['name'] for t in listing)}", file=sys.stderr)
        return 2
    print(f"{tool['name']}: {tool.get('title', '')}\n{tool['description']}\n\ninput schema:")
    print(json.dumps(tool["inputSchema"], indent=1))
    example = json.dumps(EXAMPLES[tool["name"]], separators=(",", ":"))
    print(f"\nexample:\n  ml-expert call {tool['name']} --json '{example}'")
    return 0


async def _call_in_process(name: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
    from mcp import Client

    from ml_expert_mcp.server.app import build_server

    async with Client(build_server()) as client:
        result = await client.call_tool(name, arguments)
    if result.is_error:
        return False, " ".join(getattr(c, "text", "") for c in result.content)
    return True, result.structured_content


def _call(args: argparse.Namespace) -> int:
    import anyio

    from ml_expert_mcp.server.registry import tool_names

    if args.tool not in tool_names():
        print(f"error: unknown tool {args.tool!r}; accepted: {', '.join(tool_names())}", file=sys.stderr)
        return 2
    try:
        if args.json is not None:
            raw = args.json
        elif args.file == "-":
            raw = sys.stdin.read()
        elif args.file:
            with open(args.file, encoding="utf-8") as fh:
                raw = fh.read()
        else:
            raw = "{}"
        arguments = json.loads(raw)
    except OSError as err:
        print(f"error: cannot read the arguments file {args.file!r}: {err.strerror or err}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as err:
        print(f"error: arguments are not valid JSON: {err}", file=sys.stderr)
        return 2
    if not isinstance(arguments, dict):
        print("error: arguments must be a JSON object", file=sys.stderr)
        return 2
    ok, payload = anyio.run(_call_in_process, args.tool, arguments)
    if not ok:
        print(f"error: {payload}", file=sys.stderr)
        return 1
    print(json.dumps(payload, indent=2, sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    from ml_expert_mcp.server import __version__

    parser = argparse.ArgumentParser(prog="ml-expert", description="ML-infrastructure planning tools over MCP.")
    parser.add_argument("--version", action="version", version=f"ml-expert {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    serve.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    serve.add_argument("--token-file", help="file holding the bearer token (else ML_EXPERT_TOKEN); required off loopback")
    serve.add_argument("--allowed-host", action="append", default=[],
                       help="Host header value this server answers to, NAME[:PORT] (repeatable; off loopback)")
    serve.add_argument("--allowed-origin", action="append", default=[], help="browser Origin allowed (repeatable)")
    serve.add_argument("--max-body-bytes", type=int, default=256 * 1024, help="largest request body (default 256 KiB)")
    serve.add_argument("--header-timeout", type=float, default=10.0, help="seconds a client has to send a request, headers and body (default 10)")
    serve.add_argument("--max-connections", type=int, default=512, help="open connections at most (default 512)")
    serve.add_argument("--max-connections-per-client", type=int, default=64,
                       help="open connections per client address (default 64; 0 = no limit, e.g. behind a proxy)")
    serve.set_defaults(func=_serve)
    tools = sub.add_parser("tools", help="list the tools, or show one tool's input schema and a worked example")
    tools.add_argument("name", nargs="?", help="a tool name: print its input schema and an example call")
    tools.set_defaults(func=_tools)
    call = sub.add_parser("call", help="call a tool and print its structured result as JSON")
    call.add_argument("tool", help="tool name (see 'ml-expert tools')")
    src = call.add_mutually_exclusive_group()
    src.add_argument("--json", help="arguments as a JSON object")
    src.add_argument("--file", help="arguments from a JSON file, or - for stdin")
    call.set_defaults(func=_call)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `ml-expert call ... | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
