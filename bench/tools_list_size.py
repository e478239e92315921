"""Size of the tools/list answer (issue 12's budget: 40,000 characters for its 12 tools), per tool and in all, and
the same 12 tools as they were when the issue was filed, listed by today's compaction.

`python -m bench.tools_list_size` prints the figures; the "as filed" row needs this checkout's git history (it
reads commit FILED into a temporary worktree and lists its tools in a subprocess with today's
server.tool_schemas), so the difference between the two rows is what later issues added to those 12 tools.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import anyio
from mcp import Client

from ml_expert_mcp.server.app import build_server

ROOT = Path(__file__).resolve().parents[1]
BUDGET = 40_000
FILED = "e5410fa"  # the last commit before issue 12's layout change: the 12 tools the issue measured
ISSUE_12_TOOLS = ("search_knowledge", "recommend_framework", "estimate_training_memory",
                  "select_distribution_strategy", "plan_pytorch_training", "plan_tf_training", "plan_tf_serving",
                  "verify_tf_serving", "plan_sagemaker_job", "plan_sagemaker_endpoint", "design_mlflow_platform",
                  "verify_mlflow_server")

# Run inside the old tree (its top-level packages `server`, `tools`...): register its tools, then compact their
# schemas with today's rules (server.tool_listing.compact_entry, as live_listing does; the output schema is the one
# that commit's SDK registration made).
_AS_FILED = """
import json, sys, anyio
sys.path.insert(0, sys.argv[1])
from server.app import build_server
from server.tool_catalogue import ToolCatalogue
from ml_expert_mcp.server.tool_listing import compact_entry
from ml_expert_mcp.server.tool_schemas import share_definitions

async def listed():
    server = build_server(cache_size=0)
    next(m for m in server.middleware if isinstance(m, ToolCatalogue)).ensure_registered()
    return await server.list_tools()

dumped = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in anyio.run(listed)]
raw = {e["name"]: len(json.dumps(e, separators=(",", ":"))) for e in dumped}
entries = share_definitions([compact_entry(e, e["outputSchema"]) for e in dumped])  # raw is measured above
print(json.dumps({"compacted": {e["name"]: len(json.dumps(e, separators=(",", ":"))) for e in entries}, "raw": raw}))
"""


def current(mode: str) -> dict[str, int]:
    async def listed() -> dict[str, int]:
        async with Client(build_server(), mode=mode) as client:  # type: ignore[arg-type]
            result = await client.list_tools()
        sizes = {t.name: len(t.model_dump_json(by_alias=True, exclude_none=True)) for t in result.tools}
        return {**sizes, "(whole response)": len(result.model_dump_json(by_alias=True, exclude_none=True))}

    return anyio.run(listed)


def as_filed() -> dict[str, dict[str, int]] | None:
    """The issue's 12 tools at commit FILED under today's compaction, or None without the git history."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "filed"
        made = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(tree), FILED],
                              capture_output=True, text=True)
        if made.returncode != 0:
            return None
        try:
            out = subprocess.run([sys.executable, "-c", _AS_FILED, str(tree)], capture_output=True, text=True,
                                 cwd=tmp, check=True)
            return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)


def main() -> None:
    for mode in ("legacy", "auto"):
        sizes = current(mode)
        twelve = sum(sizes[n] for n in ISSUE_12_TOOLS)
        tools = len(sizes) - 1
        print(f"tools/list ({mode}): whole response {sizes['(whole response)']:,} characters for {tools} tools; "
              f"issue 12's 12 tools {twelve:,} (budget {BUDGET:,})")
    print("  " + ", ".join(f"{n} {s:,}" for n, s in sizes.items() if n != "(whole response)"))
    filed = as_filed()
    if filed is None:
        print(f"as filed: needs this checkout's git history (commit {FILED})")
        return
    old = sum(filed["compacted"][n] for n in ISSUE_12_TOOLS)
    print(f"the 12 tools as filed (commit {FILED}): {sum(filed['raw'].values()):,} characters as the SDK lists them, "
          f"{old:,} with today's compaction ({'within' if old <= BUDGET else 'over'} the {BUDGET:,} budget); "
          f"added to them since by later issues: {twelve - old:,}")
    print("  " + ", ".join(f"{n} {filed['compacted'][n]:,} -> {sizes[n]:,}" for n in ISSUE_12_TOOLS))


if __name__ == "__main__":
    main()
