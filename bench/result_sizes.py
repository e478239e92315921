"""Each tool's default answer (detail='plan') in characters of its text content, for the small and the large
example call, against the 8,000-character floor (about 2,000 tokens); the full answer beside it.

Run: python -m bench.result_sizes
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp import Client

from bench.calls import LARGE, SMALL
from ml_expert_mcp.server.app import build_server

FLOOR = 8_000


def _chars(result: Any) -> int:
    return sum(len(getattr(c, "text", "")) for c in result.content)


async def sizes() -> list[tuple[str, str, int, int]]:
    rows = []
    async with Client(build_server()) as client:
        for size, calls in (("small", SMALL), ("large", LARGE)):
            for name, args in calls.items():
                if name.startswith("verify_"):
                    continue  # they answer about a live server, with a few fields
                default = await client.call_tool(name, args)
                full = await client.call_tool(name, {**args, "detail": "full"})
                if default.is_error:
                    raise RuntimeError(f"{name}/{size}: {default.content}")
                rows.append((name, size, _chars(default), _chars(full)))
    return rows


def main() -> None:
    rows = anyio.run(sizes)
    print(f"default answer (detail='plan') vs full, characters; floor {FLOOR:,}")
    for name, size, default, full in rows:
        print(f"  {name + '/' + size:40} {default:8,} {full:9,}  {'ok' if default <= FLOOR else 'OVER'}")
    over = [r for r in rows if r[2] > FLOOR]
    print(f"{len(rows) - len(over)} of {len(rows)} default answers within {FLOOR:,} characters")


if __name__ == "__main__":
    main()
