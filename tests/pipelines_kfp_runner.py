"""Compile or run an emitted KFP v2 program with the real kfp (run in .venv-pipelines: kfp pins protobuf<7).

    python tests/pipelines_kfp_runner.py compile PROGRAM.py OUT.yaml
    python tests/pipelines_kfp_runner.py run PROGRAM.py PIPELINE_ROOT OUT.json name=value ...
`run` uses KFP's local SubprocessRunner (use_venv=False: the components run with this interpreter) and writes
which task folders the run produced, i.e. which tasks executed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path


def _load(path: str):
    spec = importlib.util.spec_from_file_location("emitted_pipeline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv: list[str]) -> None:
    mode, program = argv[0], argv[1]
    module = _load(program)
    if mode == "compile":
        from kfp import compiler
        compiler.Compiler().compile(module.pipeline, argv[2])
        return
    import kfp.local
    root = Path(argv[2])
    kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    args = {k: _value(v) for k, v in (a.split("=", 1) for a in argv[4:])}
    module.pipeline(**args)
    [run_dir] = [p for p in root.iterdir() if p.is_dir()]
    tasks = {}
    for task in sorted(p for p in run_dir.iterdir() if p.is_dir()):
        out = task / "executor_output.json"
        tasks[task.name] = json.loads(out.read_text()) if out.exists() else {}
        for artifact in task.iterdir():
            if artifact.is_file() and artifact.name != "executor_output.json":
                tasks[task.name].setdefault("files", {})[artifact.name] = artifact.read_text()[:2000]
    Path(argv[3]).write_text(json.dumps(tasks))


if __name__ == "__main__":
    main(sys.argv[1:])
