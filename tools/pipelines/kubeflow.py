"""plan_kubeflow_training: a Kubeflow Trainer v2 TrainJob sized by the training planner's layout search.

The GPUs per node are the fewest (1, 2, 4, 8, ... up to the node's count) on which the training planner finds a
layout that fits, unless the caller fixes them; host memory, CPU and /dev/shm are budgeted from the layout and the
DataLoader settings (knowledge/kubeflow.toml, each constant with its source). The TrainJob references a stock
runtime of the pinned Trainer release (not re-emitted: torch-distributed, deepspeed-distributed, or a torchtune
fine-tuning runtime with its builtin trainer, the layout then restricted to what its FSDP recipe runs) or our own
ClusterTrainingRuntime ('custom', emitted).
Volumes go in through runtimePatches the way the Kubeflow SDK writes them, so the SDK call we emit submits the
same object.
"""

from __future__ import annotations

import math
from typing import Any

from ml_expert_mcp.knowledge import model_catalog
from ml_expert_mcp.tools.common.aliases import resolve_name
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.hardware import resolve_gpu
from ml_expert_mcp.tools.common.k8s import to_yaml
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.pipelines.facts import kubeflow_facts
from ml_expert_mcp.tools.pipelines.inputs import PlanKubeflowTrainingRequest
from ml_expert_mcp.tools.pipelines.plans import HostMemory, KubeflowArtifacts, KubeflowTrainingPlan
from ml_expert_mcp.tools.training.inputs import ClusterSpec, Layout, ModelSpec
from ml_expert_mcp.tools.training.plans import RankedLayout
from ml_expert_mcp.tools.training.strategy import SelectDistributionRequest, best_layout, select_distribution_strategy

API_VERSION = "trainer.kubeflow.org/v1alpha1"
SDK_MANAGER = "trainer.kubeflow.org/kubeflow-sdk"  # the manager the Kubeflow SDK's RuntimePatch writes
GPU_RESOURCE = "nvidia.com/gpu"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
GIB = 1024**3


def _params(model: ModelSpec) -> float:
    """Parameter count for the host-side terms (weights load, offload): dense estimate from the architecture."""
    if model.params:
        return model.params
    fields = model.model_dump(exclude_none=True)
    if model.preset:
        preset = model_catalog()[resolve_name("model", model.preset, model_catalog(), "model.preset")]
        fields = {**preset.model_dump(exclude_none=True), **fields}
    h, layers = fields.get("hidden_size"), fields.get("num_hidden_layers")
    if not h or not layers:
        raise PlanInputError("model", "give a preset, the HF fields (hidden_size, num_hidden_layers, ...) or params")
    heads = fields.get("num_attention_heads", max(1, h // 128))
    kv = fields.get("num_key_value_heads", heads)
    head_dim = fields.get("head_dim") or h // heads
    inter = fields.get("intermediate_size", 4 * h)
    experts = fields.get("num_local_experts", 1) or 1
    mlp = (3 if fields.get("gated_mlp", True) else 2) * h * inter * experts
    attn = h * head_dim * heads * 2 + h * head_dim * kv * 2
    vocab = fields.get("vocab_size", 32000)
    embed = vocab * h * (1 if fields.get("tie_word_embeddings") else 2)
    return float(layers * (attn + mlp) + embed)


def _choose_runtime(req: PlanKubeflowTrainingRequest) -> tuple[str, bool]:
    stock = kubeflow_facts().runtimes()
    if req.runtime == "auto":
        return ("deepspeed-distributed" if req.framework == "deepspeed" else "torch-distributed"), True
    if req.runtime == "custom":
        return f"{req.job_name}-torch", False
    if req.runtime not in stock:
        raise PlanInputError("runtime", f"no runtime {req.runtime!r} in Trainer {kubeflow_facts().trainer_release}; "
                             f"accepted: 'auto', 'custom', {', '.join(sorted(n for n, r in stock.items() if r.sized))}")
    chosen = stock[req.runtime]
    if not chosen.sized:
        raise PlanInputError("runtime", f"{req.runtime!r} is a {chosen.framework} runtime ({chosen.trainer} trainer) "
                             "this planner does not size; accepted: 'auto', 'custom', "
                             + ", ".join(sorted(n for n, r in stock.items() if r.sized)))
    if (chosen.framework == "deepspeed") != (req.framework == "deepspeed"):
        raise PlanInputError("runtime", f"{req.runtime!r} runs {chosen.framework}; framework is {req.framework}")
    if chosen.model_preset and req.model.preset != chosen.model_preset:
        raise PlanInputError("model.preset", f"{req.runtime!r} fine-tunes {chosen.model_preset}; got "
                             f"{req.model.preset!r}")
    if chosen.framework == "torchtune" and req.precision not in ("bf16", "amp_bf16", "fp32"):
        raise PlanInputError("precision", "torchtune runtimes take dtype bf16 or fp32")
    return req.runtime, True


def _fsdp_only(layout: Layout, gpus: int) -> bool:
    """What torchtune's full_finetune_distributed recipe runs: FSDP over all ranks, no TP/PP/CP, no offload."""
    return (layout.tensor_parallel == layout.pipeline_parallel == layout.context_parallel == 1
            and not layout.cpu_offload and (layout.zero_stage == 3 or layout.data_parallel == 1))


def _best(sreq: SelectDistributionRequest, torchtune: bool, gpus: int) -> RankedLayout | None:
    if not torchtune:
        return best_layout(sreq)
    plan = select_distribution_strategy(sreq.model_copy(update={"top_k": 10}))
    return next((r for r in plan.ranked if _fsdp_only(r.layout, gpus)), None)


def _search(req: PlanKubeflowTrainingRequest, torchtune: bool = False) -> tuple[int, RankedLayout, list[int]]:
    node = req.node
    if req.gpus_per_node is not None and req.gpus_per_node > node.gpus:
        raise PlanInputError("gpus_per_node", f"{req.gpus_per_node} is more than the node's {node.gpus} GPUs "
                             f"(node.gpus); accepted: 1-{node.gpus}")
    counts = [req.gpus_per_node] if req.gpus_per_node else \
        sorted({c for c in (1, 2, 4, 8, 16) if c <= node.gpus} | {node.gpus})
    rejected: list[int] = []
    for count in counts:
        cluster = ClusterSpec(gpu=node.gpu, gpus_per_node=count, nodes=req.nodes, inter_node_gbps=node.inter_node_gbps,
                              cpu_cores_per_node=node.cpu_cores)
        sreq = SelectDistributionRequest(model=req.model, training=req.training_spec(), cluster=cluster,
                                         framework=req.framework, allow_cpu_offload=req.allow_cpu_offload)
        best = _best(sreq, torchtune, count)
        if best is not None:
            return count, best, rejected
        rejected.append(count)
    fixes = select_distribution_strategy(sreq).to_make_it_fit
    raise PlanInputError("nodes", f"no layout fits {req.nodes} node(s) x {counts[-1]} {node.gpu}"
                         + (f"; {'; '.join(fixes[:3])}" if fixes else ""))


def _host_memory(req: PlanKubeflowTrainingRequest, gpus: int, best: RankedLayout, workers: int,
                 params: float) -> tuple[HostMemory, float]:
    facts = kubeflow_facts()
    ranks = gpus
    batch_gib = best.layout.micro_batch_size * req.sample_mib / 1024
    prefetch = facts.host("prefetch_factor")
    in_flight = ranks * workers * prefetch * batch_gib  # batches waiting in worker queues (in shared memory)
    shm = max(facts.host("shm_min_gib"), math.ceil(2 * in_flight))
    rank_gib = ranks * facts.host("rank_process_gib")
    worker_gib = ranks * workers * facts.host("dataloader_worker_gib")
    pinned = ranks * 2 * batch_gib + in_flight  # pin-memory thread copies plus the prefetched batches
    load = params * facts.host("weights_load_bytes_per_param") / GIB
    world = gpus * req.nodes
    offload = params * facts.host("offload_bytes_per_param") / GIB * ranks / world if best.layout.cpu_offload else 0.0
    subtotal = rank_gib + worker_gib + pinned + shm + load + offload
    headroom = subtotal * facts.host("headroom_fraction")
    total = math.ceil(subtotal + headroom)
    budget = HostMemory(rank_processes=round(rank_gib, 2), dataloader_workers=round(worker_gib, 2),
                        prefetch_and_pinned=round(pinned, 2), shm=float(shm), weights_load=round(load, 2),
                        cpu_offload=round(offload, 2), headroom=round(headroom, 2), total=float(total))
    allocatable = req.node.memory_gib * facts.host("allocatable_fraction")
    if total > allocatable:
        raise PlanInputError("node.memory_gib", f"the job needs {total} GiB host memory per node (weights load "
                             f"{load:.0f}, offload {offload:.0f}, shm {shm}); {req.node.memory_gib:g} GiB nodes leave "
                             f"~{allocatable:.0f} GiB allocatable")
    return budget, float(shm)


def _workers(req: PlanKubeflowTrainingRequest, gpus: int) -> int:
    spare = req.node.cpu_cores - 2  # kubelet and system daemons
    if req.dataloader_workers is not None:
        if gpus * (req.dataloader_workers + 1) > spare:
            raise PlanInputError("dataloader_workers", f"{gpus} GPUs x ({req.dataloader_workers} workers + 1 trainer "
                                 f"process) needs more than the node's {req.node.cpu_cores} cores minus 2")
        return req.dataloader_workers
    return max(0, min(8, spare // gpus - 1))


def _env(best: RankedLayout, gpus: int, req: PlanKubeflowTrainingRequest) -> dict[str, str]:
    lay = best.layout
    return {"TP_SIZE": str(lay.tensor_parallel), "PP_SIZE": str(lay.pipeline_parallel),
            "CP_SIZE": str(lay.context_parallel), "DP_SIZE": str(lay.data_parallel),
            "ZERO_STAGE": str(lay.zero_stage), "MICRO_BATCH_SIZE": str(lay.micro_batch_size),
            "GRAD_ACCUM_STEPS": str(lay.gradient_accumulation_steps),
            "ACTIVATION_CHECKPOINTING": lay.activation_checkpointing or "none",
            "CPU_OFFLOAD": "1" if lay.cpu_offload else "0", "PRECISION": req.precision,
            "SEQ_LEN": str(req.sequence_length), "NPROC_PER_NODE": str(gpus)}


def _volumes(req: PlanKubeflowTrainingRequest, shm_gib: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{int(shm_gib)}Gi"}}]
    mounts: list[dict[str, Any]] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    if req.dataset_pvc:
        volumes.append({"name": "dataset", "persistentVolumeClaim": {"claimName": req.dataset_pvc, "readOnly": True}})
        mounts.append({"name": "dataset", "mountPath": "/data", "readOnly": True})
    if req.checkpoint_pvc:
        volumes.append({"name": "checkpoints", "persistentVolumeClaim": {"claimName": req.checkpoint_pvc}})
        mounts.append({"name": "checkpoints", "mountPath": "/checkpoints"})
    return volumes, mounts


def _labels(req: PlanKubeflowTrainingRequest) -> dict[str, str]:
    labels = {}
    if req.queue:
        labels[QUEUE_LABEL] = req.queue
    if req.priority_class:
        labels[PRIORITY_LABEL] = req.priority_class
    return labels


def _trainjob(req: PlanKubeflowTrainingRequest, runtime: str, resources: dict[str, Any], env: dict[str, str],
              command: list[str], volumes: list[dict[str, Any]], mounts: list[dict[str, Any]],
              args: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": req.job_name, "namespace": req.namespace}
    if _labels(req):
        meta["labels"] = _labels(req)
    trainer: dict[str, Any] = {"numNodes": req.nodes, "resourcesPerNode": {"requests": resources, "limits": resources}}
    if args is None:  # a custom trainer container: our image, env and command
        trainer |= {"image": req.image, "env": [{"name": k, "value": v} for k, v in env.items()], "command": command}
    else:  # a builtin (torchtune) trainer: the runtime's command, overrides as key=value args (as the SDK writes)
        trainer |= {"command": command, "args": args}
    return {
        "apiVersion": API_VERSION, "kind": "TrainJob", "metadata": meta,
        "spec": {
            "runtimeRef": {"name": runtime, "kind": "ClusterTrainingRuntime"},
            "trainer": trainer,
            "runtimePatches": [{"manager": SDK_MANAGER, "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [
                {"name": "node", "template": {"spec": {"template": {"spec": {
                    "volumes": volumes, "containers": [{"name": "node", "volumeMounts": mounts}]}}}}}]}}}}],
        },
    }


def _custom_runtime(name: str, req: PlanKubeflowTrainingRequest) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION, "kind": "ClusterTrainingRuntime",
        "metadata": {"name": name, "labels": {"trainer.kubeflow.org/framework": "torch"}},
        "spec": {
            "mlPolicy": {"numNodes": req.nodes, "torch": {}},  # processes per node: the GPUs requested
            "template": {"spec": {"replicatedJobs": [{
                "name": "node",
                "template": {"metadata": {"labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}},
                             "spec": {"template": {"spec": {"containers": [{"name": "node", "image": req.image}]}}}},
            }]}},
        },
    }


def _pytorchjob(req: PlanKubeflowTrainingRequest, gpus: int, resources: dict[str, Any], env: dict[str, str],
                command: list[str], volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]) -> dict[str, Any]:
    def replica(count: int) -> dict[str, Any]:
        return {"replicas": count, "restartPolicy": "OnFailure", "template": {"spec": {
            "containers": [{"name": "pytorch", "image": req.image, "command": command,
                            "env": [{"name": k, "value": v} for k, v in env.items()],
                            "resources": {"requests": resources, "limits": resources}, "volumeMounts": mounts}],
            "volumes": volumes}}}

    specs = {"Master": replica(1)}
    if req.nodes > 1:
        specs["Worker"] = replica(req.nodes - 1)
    meta: dict[str, Any] = {"name": req.job_name, "namespace": req.namespace,
                            "annotations": {"ml-expert-mcp/legacy": "training-operator v1; prefer the TrainJob"}}
    if _labels(req):
        meta["labels"] = _labels(req)
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": meta,
            "spec": {"nprocPerNode": str(gpus), "runPolicy": {"cleanPodPolicy": "None"}, "pytorchReplicaSpecs": specs}}


def _sdk_code(req: PlanKubeflowTrainingRequest, runtime: str, sdk_resources: dict[str, Any], env: dict[str, str],
              command: list[str], volumes: list[dict[str, Any]], mounts: list[dict[str, Any]],
              torchtune: dict[str, Any] | None = None) -> str:
    labels = _labels(req)
    options = [f"Name({req.job_name!r})"]
    if labels:
        options.append(f"Labels({labels!r})")
    if torchtune is None:
        options.append(f"TrainerCommand({command!r})")
        trainer = (f"CustomTrainerContainer(\n            image={req.image!r},\n            num_nodes={req.nodes},\n"
                   f"            resources_per_node={sdk_resources!r},\n            env={env!r},\n        )")
    else:
        trainer = (f"BuiltinTrainer(config=TorchTuneConfig(\n            dtype=DataType.{torchtune['dtype'].upper()},\n"
                   f"            batch_size={torchtune['batch_size']},\n            num_nodes={req.nodes},\n"
                   f"            resources_per_node={sdk_resources!r},\n        ))")
    options.append("RuntimePatch(training_runtime_spec=TrainingRuntimeSpecPatch(template=JobSetTemplatePatch(\n"
                   "            spec=JobSetSpecPatch(replicated_jobs=[ReplicatedJobPatch(name=\"node\", template=JobTemplatePatch(\n"
                   "                spec=JobSpecPatch(template=PodTemplatePatch(spec=PodSpecPatch(\n"
                   f"                    volumes={volumes!r},\n"
                   f"                    containers=[ContainerPatch(name=\"node\", volume_mounts={mounts!r})],\n"
                   "                )))))]))))")
    opts = ",\n        ".join(options)
    return f'''"""Submit the planned TrainJob with the Kubeflow SDK (pip install 'kubeflow==0.5.*')."""
from kubeflow.common.types import KubernetesBackendConfig
from kubeflow.trainer import BuiltinTrainer, CustomTrainerContainer, DataType, TorchTuneConfig, TrainerClient
from kubeflow.trainer.options.common import Name
from kubeflow.trainer.options.kubernetes import (
    ContainerPatch, JobSetSpecPatch, JobSetTemplatePatch, JobSpecPatch, JobTemplatePatch, Labels, PodSpecPatch,
    PodTemplatePatch, ReplicatedJobPatch, RuntimePatch, TrainerCommand, TrainingRuntimeSpecPatch,
)


def submit(client: TrainerClient) -> str:
    return client.train(
        runtime={runtime!r},
        trainer={trainer},
        options=[
        {opts},
        ],
    )


if __name__ == "__main__":
    print(submit(TrainerClient(KubernetesBackendConfig(namespace={req.namespace!r}))))
'''


@tool("Plan a Kubeflow TrainJob")
def plan_kubeflow_training(req: PlanKubeflowTrainingRequest) -> KubeflowTrainingPlan:
    """Kubeflow Trainer v2 TrainJob (runtime, GPUs, host memory, CPU, /dev/shm, Kueue labels, volumes) sized by the
    training planner's layout search so it fits; with the Kubeflow SDK call and a legacy PyTorchJob.
    """
    resolve_gpu(req.node.gpu, "node.gpu")
    runtime, stock = _choose_runtime(req)
    tune = kubeflow_facts().runtimes().get(runtime) if stock else None
    torchtune = tune is not None and tune.framework == "torchtune"
    gpus, best, rejected = _search(req, torchtune)
    workers = _workers(req, gpus)
    params = _params(req.model)
    host, shm = _host_memory(req, gpus, best, workers, params)
    cpu = gpus * (workers + 1)
    resources = {GPU_RESOURCE: str(gpus), "cpu": str(cpu), "memory": f"{int(host.total)}Gi"}
    sdk_resources = {"gpu": str(gpus), "cpu": str(cpu), "memory": f"{int(host.total)}Gi"}
    env = _env(best, gpus, req)
    command = ["torchrun", req.script] if runtime != "deepspeed-distributed" else \
        ["mpirun", "--hostfile", "/etc/mpi/hostfile", "python", req.script, "--deepspeed"]
    tune_args = None
    if torchtune:
        assert tune is not None
        tune_args = {"dtype": "fp32" if req.precision == "fp32" else "bf16", "batch_size": best.layout.micro_batch_size}
        command = list(kubeflow_facts().torchtune_entrypoint)
    volumes, mounts = _volumes(req, shm)
    job = _trainjob(req, runtime, resources, env, command, volumes, mounts,
                    [f"{k}={v}" for k, v in tune_args.items()] if tune_args else None)
    custom = None if stock else _custom_runtime(runtime, req)
    legacy = _pytorchjob(req, gpus, resources, env, command if command[0] == "torchrun" else ["torchrun", req.script],
                         volumes, mounts) if req.legacy_pytorchjob else None
    facts = kubeflow_facts()
    sources = [f"Kubeflow Trainer {facts.trainer_release} CRDs and runtimes: {facts.trainer_release_source} "
               f"({facts.trainer_release_as_of})",
               f"training-operator {facts.legacy_operator_release} PyTorchJob CRD (legacy): "
               f"{facts.legacy_operator_source} ({facts.legacy_operator_as_of})"]
    sources += [f"{f.name}={f.value:g}: {f.source} ({f.as_of})" for f in facts.host_memory]
    summary = (f"TrainJob {req.namespace}/{req.job_name} on {runtime} ({'stock' if stock else 'custom, emitted'}): "
               f"{req.nodes} node(s) x {gpus} {req.node.gpu}, {best.strategy}, "
               f"{best.device_total_gib:.1f} GiB predicted per GPU, {best.tokens_per_s:,.0f} tokens/s. Per node: "
               f"{host.total:g} GiB memory (incl. {shm:g} GiB /dev/shm), {cpu} CPUs ({workers} DataLoader workers "
               f"per GPU)" + (f"; {rejected} GPUs per node did not fit" if rejected else "") + ".")
    caveats = [
        "Host memory is a budget from sourced constants plus stated assumptions (per-process RSS, worker RSS, "
        "10% headroom), not a measurement; datasets held in worker memory add to it.",
        "The memory-backed /dev/shm emptyDir counts against the container memory limit; it is included in the "
        "request.",
        "The training script must read the layout from the env (TP_SIZE, ZERO_STAGE, MICRO_BATCH_SIZE, ...).",
        "Kueue admits the job only if the LocalQueue's ClusterQueue has quota for the requested resources.",
    ]
    if legacy is not None:
        caveats.append("The PyTorchJob is LEGACY (training-operator v1, superseded by Trainer v2): use it only on "
                       "clusters that still run the v1 operator.")
    if torchtune:
        caveats.append(f"{runtime} runs torchtune's full_finetune_distributed (FSDP) on the runtime's default dataset "
                       "and model initializers; batch_size is the planner's micro-batch per GPU; the recipe config "
                       "decides activation checkpointing (the plan assumes the layout's setting).")
    if req.framework == "deepspeed":
        caveats.append("deepspeed-distributed runs an MPI launcher (sshd on the nodes); resources apply to the node "
                       "replicas.")
    artifacts = KubeflowArtifacts(
        trainjob_yaml=to_yaml([job]), runtime_yaml=to_yaml([custom]) if custom else None,
        sdk_python=_sdk_code(req, runtime, sdk_resources, env, command, volumes, mounts, tune_args),
        pytorchjob_yaml=to_yaml([legacy]) if legacy else None)
    return KubeflowTrainingPlan(
        summary=summary, caveats=caveats, runtime=runtime, runtime_is_stock=stock, nodes=req.nodes,
        gpus_per_node=gpus, strategy=best.strategy, layout=best.layout, gpu_memory_gib=best.device_total_gib,
        tokens_per_s=best.tokens_per_s, smaller_counts_rejected=rejected, dataloader_workers=workers,
        cpu_per_node=cpu, host_memory_gib=host, shm_gib=shm, sources=sources, artifacts=artifacts)
