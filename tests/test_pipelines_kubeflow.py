"""plan_kubeflow_training: every manifest against the pinned CRDs (strict schema + CEL), core objects with
kubernetes-validate --strict, the SDK call with the real kubeflow SDK (recorder backend), sizing from the planner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.k8s import KUBERNETES_VERSION
from ml_expert_mcp.tools.pipelines.inputs import PlanKubeflowTrainingRequest
from ml_expert_mcp.tools.pipelines.kubeflow import plan_kubeflow_training
from ml_expert_mcp.tools.training.inputs import ClusterSpec, ModelSpec, TrainingSpec
from ml_expert_mcp.tools.training.strategy import SelectDistributionRequest, best_layout
from tests.kube_crd import load_crd, validate

ROOT = Path(__file__).resolve().parent.parent
TRAINER = ROOT / "knowledge" / "schemas" / "kubeflow-trainer-v2.3.0"
TRAINJOB_CRD = TRAINER / "trainer.kubeflow.org_trainjobs.yaml"
RUNTIME_CRD = TRAINER / "trainer.kubeflow.org_clustertrainingruntimes.yaml"
NS_RUNTIME_CRD = TRAINER / "trainer.kubeflow.org_trainingruntimes.yaml"
PYTORCHJOB_CRD = ROOT / "knowledge" / "schemas" / "kubeflow-training-operator-v1.9.0" / "kubeflow.org_pytorchjobs.yaml"
VENV_PY = ROOT / ".venv-pipelines" / "bin" / "python"

CASES = {
    "stock-1node": {"model": {"preset": "llama-3.1-8b"}},
    "custom-2node-kueue": {"model": {"preset": "llama-3.1-8b"}, "nodes": 2, "runtime": "custom", "queue": "team-a",
                           "priority_class": "high", "dataset_pvc": "corpus", "checkpoint_pvc": "ckpt"},
    "deepspeed": {"model": {"preset": "llama-3.1-8b"}, "framework": "deepspeed", "nodes": 2, "queue": "q"},
    "torchtune-3b": {"model": {"preset": "llama-3.2-3b"}, "runtime": "torchtune-llama3.2-3b", "queue": "ft",
                     "node": {"gpu": "A100-SXM-40GB", "gpus": 8, "memory_gib": 1000, "cpu_cores": 96}},
    "offload-images": {"model": {"params": 2e9, "activation_bytes_per_sample": 5e8, "flops_per_sample": 1e11},
                       "allow_cpu_offload": True, "gpus_per_node": 1, "sample_mib": 0.6, "dataloader_workers": 12,
                       "node": {"gpu": "A100-SXM-40GB", "gpus": 8, "memory_gib": 1000, "cpu_cores": 96}},
}


def _plan(name: str):
    return plan_kubeflow_training(PlanKubeflowTrainingRequest.model_validate(CASES[name]))


def _one(text: str) -> dict:
    [doc] = list(yaml.safe_load_all(text))
    return doc


@pytest.mark.parametrize("name", sorted(CASES))
def test_manifests_valid_against_trainer_v2_3_0_crds(name: str) -> None:
    plan = _plan(name)
    job = _one(plan.artifacts.trainjob_yaml)
    report = validate(TRAINJOB_CRD, job)
    assert report.problems == []
    assert report.rules_evaluated >= 2  # the root name rules ran through CEL
    if plan.artifacts.runtime_yaml:
        runtime = _one(plan.artifacts.runtime_yaml)
        rep = validate(RUNTIME_CRD, runtime)
        assert rep.problems == [] and rep.rules_evaluated >= 1
        assert job["spec"]["runtimeRef"]["name"] == runtime["metadata"]["name"]
    else:  # a stock runtime: it must exist in the release, with the replicated job and container we patch
        stock = yaml.safe_load((TRAINER / "runtimes" / f"{plan.runtime}.yaml").read_text())
        jobs = {j["name"]: j for j in stock["spec"]["template"]["spec"]["replicatedJobs"]}
        containers = [c["name"] for c in jobs["node"]["template"]["spec"]["template"]["spec"]["containers"]]
        assert "node" in containers
    legacy = _one(plan.artifacts.pytorchjob_yaml)
    assert validate(PYTORCHJOB_CRD, legacy).problems == []
    assert "legacy" in json.dumps(legacy["metadata"]).lower() and any("LEGACY" in c for c in plan.caveats)


@pytest.mark.parametrize("name", sorted(CASES))
def test_core_objects_pass_kubernetes_validate_strict(name: str) -> None:
    """The pod the runtime patch and trainer fields produce, as a core v1 Pod (volumes, mounts, resources)."""
    plan = _plan(name)
    job = _one(plan.artifacts.trainjob_yaml)
    patch = job["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    pod_spec = patch["template"]["spec"]["template"]["spec"]
    trainer = job["spec"]["trainer"]
    image = trainer.get("image") or "ghcr.io/kubeflow/trainer/torchtune-trainer:v2.3.0"  # builtin: the runtime's
    container = {"name": "node", "image": image, "command": trainer["command"], "args": trainer.get("args", []),
                 "env": trainer.get("env", []), "resources": trainer["resourcesPerNode"],
                 "volumeMounts": pod_spec["containers"][0]["volumeMounts"]}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "node-0", "namespace": job["metadata"]["namespace"]},
           "spec": {"containers": [container], "volumes": pod_spec["volumes"]}}
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    legacy = _one(plan.artifacts.pytorchjob_yaml)
    for spec in legacy["spec"]["pytorchReplicaSpecs"].values():
        template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t", "namespace": "ml"},
                    "template": spec["template"]}
        kubernetes_validate.validate(template, KUBERNETES_VERSION, strict=True)


def test_validator_refuses_unknown_fields_and_failed_cel_rules() -> None:
    """The checker itself: stock runtimes pass; an unknown field, a bad name (CEL) and two policies (CEL) fail."""
    for path in sorted((TRAINER / "runtimes").glob("*.yaml")):
        assert validate(RUNTIME_CRD, yaml.safe_load(path.read_text())).problems == [], path.name
    job = _one(_plan("stock-1node").artifacts.trainjob_yaml)
    job["spec"]["trainer"]["resourcesPerNodes"] = {}
    assert any("resourcesPerNodes" in p for p in validate(TRAINJOB_CRD, job).problems)
    job = _one(_plan("stock-1node").artifacts.trainjob_yaml)
    job["metadata"]["name"] = "9train"  # DNS-1123 subdomain (ObjectMeta) but not RFC 1035: only the CEL rule refuses
    problems = validate(TRAINJOB_CRD, job).problems
    assert problems and all("RFC 1035" in p for p in problems)
    job = _one(_plan("stock-1node").artifacts.trainjob_yaml)
    job["spec"]["managedBy"] = "someone-else"
    assert any("managedBy" in p for p in validate(TRAINJOB_CRD, job).problems)
    runtime = _one(_plan("custom-2node-kueue").artifacts.runtime_yaml)
    runtime["spec"]["mlPolicy"]["mpi"] = {}
    assert any("Only one of the policy" in p for p in validate(RUNTIME_CRD, runtime).problems)
    runtime["metadata"]["namespace"] = "ml"
    assert any("cluster-scoped" in p for p in validate(RUNTIME_CRD, runtime).problems)
    assert load_crd(str(NS_RUNTIME_CRD)).scope == "Namespaced"


def test_validator_honours_preserve_unknown_fields(tmp_path: Path) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "spec": {"group": "x.io", "scope": "Namespaced", "names": {"kind": "Thing"}, "versions": [{
               "name": "v1", "served": True, "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                   "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                   "spec": {"type": "object", "properties": {
                       "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                                "properties": {"n": {"type": "integer"}}},
                       "closed": {"type": "object", "properties": {"a": {"type": "string"}}},
                       "embedded": {"type": "object", "x-kubernetes-embedded-resource": True,
                                    "x-kubernetes-preserve-unknown-fields": True}}}}}}}]}}
    path = tmp_path / "crd.yaml"
    path.write_text(yaml.safe_dump(crd))
    base = {"apiVersion": "x.io/v1", "kind": "Thing", "metadata": {"name": "t", "namespace": "a"}}
    ok = {**base, "spec": {"free": {"n": 1, "anything": {"deep": [1]}},
                           "embedded": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}}}
    assert validate(path, ok).problems == []
    assert validate(path, {**base, "spec": {"free": {"n": "one"}}}).problems  # listed fields still typed
    assert validate(path, {**base, "spec": {"closed": {"b": "x"}}}).problems  # no preserve: unknown refused


def _fits(preset: str, gpus: int, nodes: int) -> bool:
    return best_layout(SelectDistributionRequest(model=ModelSpec(preset=preset), training=TrainingSpec(),
                                                 cluster=ClusterSpec(gpus_per_node=gpus, nodes=nodes),
                                                 allow_cpu_offload=False)) is not None


def test_model_that_needs_8_gpus_per_node_asks_for_8_and_the_planned_memory() -> None:
    # the training planner itself decides the case: fewest nodes where 4 GPUs per node do not fit and 8 do
    nodes = next(n for n in range(2, 9) if not _fits("llama-3.1-70b", 4, n) and _fits("llama-3.1-70b", 8, n))
    plan = plan_kubeflow_training(PlanKubeflowTrainingRequest(model=ModelSpec(preset="llama-3.1-70b"), nodes=nodes))
    job = _one(plan.artifacts.trainjob_yaml)
    res = job["spec"]["trainer"]["resourcesPerNode"]
    assert res["requests"]["nvidia.com/gpu"] == "8" and res["limits"] == res["requests"]
    assert res["requests"]["memory"] == f"{int(plan.host_memory_gib.total)}Gi"
    assert job["spec"]["trainer"]["numNodes"] == nodes
    parts = plan.host_memory_gib
    assert parts.total >= parts.rank_processes + parts.dataloader_workers + parts.shm + parts.weights_load
    assert parts.weights_load > 100  # a bf16 copy of 70B weights while loading: ~131 GiB
    assert plan.smaller_counts_rejected == [1, 2, 4]
    shm = [v for v in job["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
           ["template"]["spec"]["template"]["spec"]["volumes"] if v["name"] == "dshm"][0]
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": f"{int(plan.shm_gib)}Gi"}


def test_torchtune_job_uses_the_entrypoint_the_controller_completes() -> None:
    """The stock runtime's node command begins with the entrypoint the TrainJob carries (the torch plugin appends
    recipe and config); the layout is what full_finetune_distributed runs: FSDP only."""
    plan = _plan("torchtune-3b")
    trainer = _one(plan.artifacts.trainjob_yaml)["spec"]["trainer"]
    stock = yaml.safe_load((TRAINER / "runtimes" / "torchtune-llama3.2-3b.yaml").read_text())
    node = next(j for j in stock["spec"]["template"]["spec"]["replicatedJobs"] if j["name"] == "node")
    command = node["template"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:len(trainer["command"])] == trainer["command"] == ["tune", "run"]
    assert trainer["args"] == ["dtype=bf16", f"batch_size={plan.layout.micro_batch_size}"]
    lay = plan.layout
    assert lay.tensor_parallel == lay.pipeline_parallel == lay.context_parallel == 1 and not lay.cpu_offload
    assert lay.zero_stage == 3 or lay.data_parallel == 1
    assert "image" not in trainer and "env" not in trainer


def test_offload_is_budgeted_in_host_memory() -> None:
    plan = _plan("offload-images")
    assert plan.host_memory_gib.dataloader_workers == 12 * 0.5
    if plan.layout.cpu_offload:
        assert plan.host_memory_gib.cpu_offload > 0
    assert plan.cpu_per_node == plan.gpus_per_node * (12 + 1)


@pytest.mark.parametrize(("args", "field"), [
    ({"runtime": "torch-distributed-v9"}, "runtime"),
    ({"runtime": "torchtune-llama3.2-1b"}, "model.preset"),  # the runtime fine-tunes Llama 3.2 1B only
    ({"runtime": "torchtune-qwen2.5-1.5b"}, "runtime"),  # no catalogue preset to size it with
    ({"runtime": "mlx-distributed"}, "runtime"),
    ({"gpus_per_node": 16}, "gpus_per_node"),
    ({"node": {"gpus": 8, "memory_gib": 16}}, "node.memory_gib"),
    ({"node": {"gpu": "Z80"}}, "node.gpu"),
    ({"dataloader_workers": 64, "gpus_per_node": 8}, "dataloader_workers"),
])
def test_bad_input_names_the_field(args: dict, field: str) -> None:
    with pytest.raises(PlanInputError) as err:
        plan_kubeflow_training(PlanKubeflowTrainingRequest.model_validate({"model": {"preset": "llama-3.1-8b"}, **args}))
    assert err.value.field == field


def _venv_python() -> Path:
    if not VENV_PY.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(".venv-pipelines is missing: run scripts/setup_pipelines")
        pytest.skip(".venv-pipelines not set up (scripts/setup_pipelines)")
    return VENV_PY


@pytest.mark.slow
@pytest.mark.parametrize("name", ["stock-1node", "custom-2node-kueue", "deepspeed", "torchtune-3b"])
def test_sdk_call_submits_the_same_trainjob(name: str, tmp_path: Path) -> None:
    python = _venv_python()
    plan = _plan(name)
    job = _one(plan.artifacts.trainjob_yaml)
    runtime_yaml = plan.artifacts.runtime_yaml or (TRAINER / "runtimes" / f"{plan.runtime}.yaml").read_text()
    (tmp_path / "sdk.py").write_text(plan.artifacts.sdk_python)
    (tmp_path / "runtime.yaml").write_text(runtime_yaml)
    subprocess.run([str(python), str(ROOT / "tests" / "pipelines_sdk_recorder.py"), str(tmp_path / "sdk.py"),
                    str(tmp_path / "runtime.yaml"), job["metadata"]["namespace"], str(tmp_path / "out.json")],
                   check=True, timeout=300, cwd=tmp_path)
    record = json.loads((tmp_path / "out.json").read_text())
    assert (record["group"], record["version"], record["plural"]) == ("trainer.kubeflow.org", "v1alpha1", "trainjobs")
    assert record["namespace"] == job["metadata"]["namespace"]
    expected = {**job, "metadata": {k: v for k, v in job["metadata"].items() if k != "namespace"}}
    assert record["body"] == expected
    assert validate(TRAINJOB_CRD, {**record["body"], "metadata": job["metadata"]}).problems == []


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
