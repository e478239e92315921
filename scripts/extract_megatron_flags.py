"""Extract the command-line flag table of a pinned Megatron-LM release into knowledge/megatron_args.json.

The table is what tests check every emitted Megatron flag against (megatron-lm's training package is not on
PyPI, so CI cannot import its parser). Run once per pin, from a checkout of the tag:

    git -C /path/to/Megatron-LM archive core_v0.19.0 megatron | tar -x -C /tmp/meg
    cd /tmp/meg && python /path/to/repo/scripts/extract_megatron_flags.py --tag core_v0.19.0 --commit <sha> \
        --out /path/to/repo/knowledge/megatron_args.json

Needs torch, triton, einops and packaging in the interpreter (Megatron imports them at module import), Python
3.11+ (typing.override is taken from typing_extensions on 3.11). It builds the parser with Megatron's own
`add_megatron_arguments` (megatron/training/arguments.py), so flags generated from config dataclasses are in.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from datetime import date

import typing_extensions

typing.override = getattr(typing, "override", typing_extensions.override)  # Python 3.11


def main() -> None:
    cli = argparse.ArgumentParser()
    cli.add_argument("--tag", required=True)
    cli.add_argument("--commit", required=True)
    cli.add_argument("--out", required=True)
    opts = cli.parse_args()
    sys.path.insert(0, ".")
    from megatron.training.arguments import add_megatron_arguments  # noqa: PLC0415

    parser = add_megatron_arguments(argparse.ArgumentParser(allow_abbrev=False))
    flags: dict[str, dict] = {}
    for action in parser._actions:  # noqa: SLF001 - argparse has no public accessor
        for option in action.option_strings:
            takes_value = action.nargs != 0
            kind = getattr(action.type, "__name__", None) if action.type is not None else ("str" if takes_value else None)
            flags[option] = {
                "takes_value": takes_value,
                "nargs": action.nargs if isinstance(action.nargs, (int, str)) else None,
                "type": kind if kind in ("int", "float", "str") else ("other" if takes_value else None),
                "choices": sorted(getattr(c, "name", str(c)) for c in action.choices) if action.choices else None,
                "dest": action.dest,
            }
    table = {
        "source": {"repository": "https://github.com/NVIDIA/Megatron-LM", "tag": opts.tag, "commit": opts.commit,
                   "path": "megatron/training/arguments.py (add_megatron_arguments)", "as_of": date.today().isoformat(),
                   "extracted_by": "scripts/extract_megatron_flags.py"},
        "flags": dict(sorted(flags.items())),
    }
    with open(opts.out, "w") as fh:
        json.dump(table, fh, indent=1, sort_keys=False)
        fh.write("\n")
    print(f"{len(flags)} flags written to {opts.out}")


if __name__ == "__main__":
    main()
