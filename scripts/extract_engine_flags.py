"""Extract the command-line flags of `vllm serve` and `sglang.launch_server` from the engines' own wheels.

Reads the parser source without importing the engine (no torch needed): every string literal starting with "--"
passed to an `add_argument` call, plus, for vLLM's frontend group (built in a loop from the FrontendArgs dataclass),
"--" + each FrontendArgs field in kebab case; a BooleanOptionalAction flag also gets its "--no-" form.

    python scripts/extract_engine_flags.py vllm-0.11.0-....whl sglang-0.5.3-....whl > knowledge/llm_serving/engine_flags.json

The wheels come from `pip download --no-deps vllm==0.11.0 sglang==0.5.3` (not committed: vLLM's is 438 MB).
"""

from __future__ import annotations

import ast
import json
import re
import sys
import zipfile

SOURCES = {
    "vllm": ("vllm/engine/arg_utils.py", "vllm/entrypoints/openai/cli_args.py"),
    "sglang": ("sglang/srt/server_args.py",),
}


def _is_bool_optional(call: ast.Call) -> bool:
    return any(kw.arg == "action" and "BooleanOptionalAction" in ast.unparse(kw.value) for kw in call.keywords)


def flags_of_source(text: str) -> set[str]:
    tree = ast.parse(text)
    flags: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
            names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
                     and a.value.startswith("--")]
            flags.update(names)
            if _is_bool_optional(node):
                flags.update("--no-" + n[2:] for n in names)
        if isinstance(node, ast.ClassDef) and node.name == "FrontendArgs":
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    flags.add("--" + item.target.id.replace("_", "-"))
    return flags


def extract(wheel: str) -> dict[str, object]:
    name = "vllm" if "vllm" in wheel.rsplit("/", 1)[-1] else "sglang"
    version = re.search(r"-(\d+\.\d+\.\d+[^-]*)-", wheel.rsplit("/", 1)[-1])
    flags: set[str] = set()
    with zipfile.ZipFile(wheel) as zf:
        for path in SOURCES[name]:
            flags |= flags_of_source(zf.read(path).decode("utf-8"))
    return {"engine": name, "version": version.group(1) if version else "?",
            "source": f"https://pypi.org/project/{name}/{version.group(1) if version else ''}/ wheel: "
                      + ", ".join(SOURCES[name]),
            "flags": sorted(flags)}


def main(argv: list[str]) -> None:
    out = {e["engine"]: e for e in (extract(w) for w in argv)}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
