"""Copy the Kubeflow CRDs and stock runtimes the pipelines tests validate against out of git snapshots.

Usage: python scripts/extract_kubeflow_schemas.py TRAINER_GIT_DIR TRAINING_OPERATOR_GIT_DIR
(git directories of github.com/kubeflow/trainer and github.com/kubeflow/training-operator). The CRDs are copied
verbatim; the stock ClusterTrainingRuntimes are Helm templates in the chart, rendered here the way the chart's
helpers render them with default values (labels from runtimes.commonLabels, image tag v<chart version>).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "knowledge" / "schemas"
TRAINER_TAG = "v2.3.0"
OPERATOR_TAG = "v1.9.0"
IMAGE_REPOS = {"deepspeedDistributed": "kubeflow/trainer/deepspeed-runtime", "mlxDistributed": "kubeflow/trainer/mlx-runtime",
               "xgboostDistributed": "kubeflow/trainer/xgboost-runtime",
               "torchtuneDistributed": "kubeflow/trainer/torchtune-trainer"}


def show(git_dir: str, tag: str, path: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, "show", f"{tag}:{path}"], check=True, capture_output=True,
                          text=True).stdout


def render_runtime(text: str) -> str:
    tag = TRAINER_TAG
    out = []
    for line in text.splitlines():
        if line.strip().startswith("{{- with .Values.runtimes.commonLabels"):
            out.append(line.split("{{")[0] + "trainer.kubeflow.org/webhook-validation: disabled")
            continue
        if re.fullmatch(r"\s*\{\{-.*\}\}\s*", line):  # toYaml/end/trainer.labels lines
            continue
        m = re.search(r'\{\{ include "trainer.runtimeImage" \(list \.Values\.runtimes\.(\w+)\.image \.\) \}\}', line)
        if m:
            line = line.replace(m.group(0), f"ghcr.io/{IMAGE_REPOS[m.group(1)]}:{tag}")
        m = re.search(r'\{\{ printf "([^"]+):%s" \(include "trainer.defaultImageTag" \.\) \}\}', line)
        if m:
            line = line.replace(m.group(0), f"{m.group(1)}:{tag}")
        m = re.search(r'\{\{ include "trainer.runtimeImage" \(list \.Values\.dataCache\.cacheImage \.\) \| quote \}\}', line)
        if m:
            line = line.replace(m.group(0), f'"ghcr.io/kubeflow/trainer/data-cache:{tag}"')
        if "{{" in line:
            raise SystemExit(f"unrendered template line: {line}")
        out.append(line)
    return "\n".join(out) + "\n"


def main(trainer_git: str, operator_git: str) -> None:
    trainer_dir = ROOT / f"kubeflow-trainer-{TRAINER_TAG}"
    (trainer_dir / "runtimes").mkdir(parents=True, exist_ok=True)
    for kind in ("trainjobs", "clustertrainingruntimes", "trainingruntimes"):
        name = f"trainer.kubeflow.org_{kind}.yaml"
        (trainer_dir / name).write_text(show(trainer_git, TRAINER_TAG, f"manifests/base/crds/{name}"))
    listing = subprocess.run(["git", "--git-dir", trainer_git, "ls-tree", "--name-only", TRAINER_TAG,
                              "charts/kubeflow-trainer/files/runtimes/"], check=True, capture_output=True,
                             text=True).stdout.split()
    for path in listing:
        (trainer_dir / "runtimes" / Path(path).name).write_text(render_runtime(show(trainer_git, TRAINER_TAG, path)))
    operator_dir = ROOT / f"kubeflow-training-operator-{OPERATOR_TAG}"
    operator_dir.mkdir(parents=True, exist_ok=True)
    name = "kubeflow.org_pytorchjobs.yaml"
    (operator_dir / name).write_text(show(operator_git, OPERATOR_TAG, f"manifests/base/crds/{name}"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
