"""design_ml_pipeline: a model-lifecycle pipeline with two gates, emitted for KFP v2, TFX, SageMaker Pipelines and
GitHub Actions. The training step is sized by the training planner (through plan_kubeflow_training on one node for
Kubeflow, and the cheapest catalogue instance with a fitting layout for SageMaker)."""

from __future__ import annotations

from typing import Any

from ml_expert_mcp.knowledge import instance_catalog
from ml_expert_mcp.tools.common.aws import require_valid
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.pipelines import artifacts
from ml_expert_mcp.tools.pipelines.inputs import DesignMlPipelineRequest, NodeShape, PlanKubeflowTrainingRequest
from ml_expert_mcp.tools.pipelines.kubeflow import plan_kubeflow_training
from ml_expert_mcp.tools.pipelines.plans import MlPipelinePlan, PipelineArtifacts, Stage, TrainingStep
from ml_expert_mcp.tools.training.inputs import ClusterSpec, TrainingSpec
from ml_expert_mcp.tools.training.strategy import SelectDistributionRequest, any_layout_fits

TFX_STATUS = ("TFX is still released (tfx 1.21.0 on PyPI, June 2026; classifier 'Production/Stable'), but narrowed: "
              "KubeflowDagRunner (KFP v1) and Estimator support are deprecated since 1.16 (github.com/tensorflow/tfx/"
              "pull/7726, 2024-12-04); it pins one TensorFlow minor (tensorflow>=2.21,<2.22) and its own release "
              "train (ml-metadata, tfx-bsl, TFDV, TFMA 1.21). As of 2026-11-27 ml-metadata 1.21 has no distribution "
              "on the package index this project installs from (newest 1.17.1), so tfx 1.21 cannot be installed here.")
CPU_STEP = {"gpus": 0, "cpu": 4, "memory": "16Gi"}


def _training(req: DesignMlPipelineRequest) -> TrainingSpec:
    return TrainingSpec(sequence_length=req.sequence_length)


def _kubeflow_step(req: DesignMlPipelineRequest) -> tuple[dict[str, Any], str, float]:
    if req.model is None:
        return CPU_STEP, "single process (CPU)", 16.0
    try:
        plan = plan_kubeflow_training(PlanKubeflowTrainingRequest(model=req.model, sequence_length=req.sequence_length,
                                                                  node=NodeShape(gpu=req.gpu, gpus=req.gpus),
                                                                  nodes=1, legacy_pytorchjob=False))
    except PlanInputError as exc:
        field = {"nodes": "gpus", "gpus_per_node": "gpus", "node.gpu": "gpu"}.get(exc.field, exc.field)
        raise PlanInputError(field, f"the training step must fit one node (a KFP task is one pod): {exc}; for "
                                    "multi-node training launch a TrainJob from plan_kubeflow_training") from exc
    memory = plan.host_memory_gib.total
    return ({"gpus": plan.gpus_per_node, "cpu": plan.cpu_per_node, "memory": f"{int(memory)}Gi"}, plan.strategy,
            memory)


def _sagemaker_instance(req: DesignMlPipelineRequest) -> tuple[str, int]:
    catalog = [i for i in instance_catalog().values() if i.training]
    if req.model is None:
        cpu = sorted((i for i in catalog if i.gpu is None and i.memory_gib >= 16),
                     key=lambda i: i.training_usd_per_hour or 0)
        return cpu[0].id, 1
    options: list[tuple[float, str, int]] = []
    for inst in catalog:
        if inst.gpu is None:
            continue
        for count in (1, 2, 4, 8):
            if options and (inst.training_usd_per_hour or 0) * count > min(options)[0]:
                break  # dearer than an option already found, whether it fits or not
            cluster = ClusterSpec(gpu=inst.gpu, gpus_per_node=inst.gpu_count, nodes=count,
                                  inter_node_gbps=inst.network_gbps / 8 / inst.gpu_count)
            try:
                fits = any_layout_fits(SelectDistributionRequest(model=req.model, training=_training(req), cluster=cluster,
                                                                 allow_cpu_offload=False))
            except PlanInputError:  # e.g. the GPU lacks the requested precision: not an option
                break
            if fits:
                options.append(((inst.training_usd_per_hour or 0) * count, inst.id, count))
                break
    if not options:
        raise PlanInputError("model", "no SageMaker training instance in the catalogue fits this model on up to 8 instances")
    _, inst_id, count = min(options)
    return inst_id, count


def _stages(req: DesignMlPipelineRequest) -> list[Stage]:
    gate, bless = req.data_gate, req.blessing
    after_data = ["engineer-features", "train-model", "champion-metric", "evaluate", "register-model", "deploy-model"]
    return [
        Stage(name="ingest", does=f"copy {req.data_uri} into the artifact store", gate=None, blocks=[]),
        Stage(name="validate-data", does="schema (expected columns, numeric values) and statistics",
              gate=(f"rows >= {gate.min_rows} and missing <= {gate.max_missing_fraction} per column and minority "
                    f"label >= {gate.min_minority_fraction} and schema ok"), blocks=after_data),
        Stage(name="engineer-features", does="standardise with train statistics; 80/20 split", gate=None, blocks=[]),
        Stage(name="train-model", does="training step sized by the training planner", gate=None, blocks=[]),
        Stage(name="champion-metric", does=f"read the '{req.alias}' version's {bless.metric} from MLflow", gate=None,
              blocks=[]),
        Stage(name="evaluate", does=f"{bless.metric} on the held-out split",
              gate=f"{bless.metric} >= {bless.min_value} and {bless.metric} >= champion + {bless.min_improvement}",
              blocks=["register-model", "deploy-model"]),
        Stage(name="register-model", does=f"MLflow model '{req.registry_model_name}', alias '{req.alias}' moved",
              gate=None, blocks=[]),
        Stage(name="deploy-model", does=f"roll out to {req.serving_target}", gate=None, blocks=[]),
    ]


@tool("Design an ML training pipeline")
def design_ml_pipeline(req: DesignMlPipelineRequest) -> MlPipelinePlan:
    """Model-lifecycle pipeline (ingest, data validation gate, features, planner-sized training, evaluation vs the
    champion with blessing thresholds, MLflow registration with alias, deployment, triggers) as KFP v2, TFX,
    SageMaker Pipelines and a GitHub Actions workflow.
    """
    resources, strategy, memory = _kubeflow_step(req)
    instance, count = _sagemaker_instance(req)
    definition = artifacts.sagemaker_definition(req, instance, count)
    create = artifacts.create_pipeline_request(req, definition)
    require_valid("sagemaker", "CreatePipeline", create, "name")
    triggers = []
    if req.triggers.schedule_cron:
        triggers.append(f"schedule: cron '{req.triggers.schedule_cron}' (UTC)")
    if req.triggers.on_new_data:
        triggers.append("new data: repository_dispatch 'new-data' (e.g. from an S3 event via EventBridge)")
    if req.triggers.on_drift_alert:
        triggers.append("drift alert: repository_dispatch 'drift-alert' from the monitoring alert webhook")
    triggers.append("manual: workflow_dispatch with data_uri")
    stages = _stages(req)
    bless = req.blessing
    summary = (f"Pipeline '{req.name}': {len(stages)} stages, 2 gates. Data gate (schema + statistics) blocks "
               f"features, training, evaluation, registration and deployment; blessing gate ({bless.metric} >= "
               f"{bless.min_value} and >= champion + {bless.min_improvement}) blocks registration in MLflow "
               f"(alias '{req.alias}') and deployment to {req.serving_target}. Training step: "
               + (f"{resources['gpus']} GPU(s), {resources['cpu']} CPUs, {memory:g} GiB ({strategy})"
                  if resources["gpus"] else "CPU, 4 cores, 16 GiB")
               + f"; SageMaker: {count} x {instance}. Triggers: {', '.join(t.split(':')[0] for t in triggers)}.")
    caveats = [
        "train-model is a baseline trainer (logistic regression in the standard library) so the pipeline runs end to "
        "end; replace its body with your training code (resources stay as planned).",
        "The KFP IR YAML comes from the real compiler: run the kfp_compile command (the server does not import kfp).",
        "SageMaker: a failing ValidateData job stops the run (the data gate); the blessing gate reads the training "
        "job's final metric, so train.py must print 'accuracy=<value>' on the validation split; whoever starts an "
        "execution sets ChampionMetricPlusGain from the MLflow champion (the default is the floor).",
        "TFX: ExampleValidator records anomalies but does not stop the run by itself; the Evaluator's blessing does "
        "gate the Pusher. The TFX code is not executed here (see tfx_status).",
        "The GitHub workflow passes every input through env; KFP_HOST is a repository variable.",
        f"deploy-model writes the rollout request for {req.serving_target}; applying it is the CD job's step "
        "(size the serving side with plan_tf_serving, plan_llm_serving or plan_sagemaker_endpoint).",
    ]
    if req.model is not None and resources["gpus"]:
        caveats.append("A KFP task is one pod: the training step runs on one node; for more nodes submit the "
                       "TrainJob from plan_kubeflow_training inside the step.")
    sources = ["KFP v2 DSL and local runner: https://www.kubeflow.org/docs/components/pipelines/ (kfp 2.17.3, "
               "2026-11-27)",
               "SageMaker pipeline definition schema: https://github.com/aws-sagemaker-mlops/sagemaker-model-building-"
               "pipeline-definition-JSON-schema (commit b4012b0, 2025-04-03)",
               "TFX status: https://pypi.org/project/tfx/1.21.0/ and https://github.com/tensorflow/tfx/pull/7726 "
               "(checked 2026-11-27)"]
    arts = PipelineArtifacts(
        kfp_python=artifacts.kfp_program(req, resources),
        kfp_compile="kfp dsl compile --py pipeline.py --output pipeline.yaml",
        tfx_python=artifacts.tfx_program(req), sagemaker_create_pipeline=create,
        github_workflow=artifacts.github_workflow(req))
    return MlPipelinePlan(
        summary=summary, caveats=caveats, stages=stages, triggers=triggers,
        training=TrainingStep(gpus=int(resources["gpus"]), cpu=int(resources["cpu"]), memory_gib=memory,
                              strategy=strategy, sagemaker_instance=instance, sagemaker_instance_count=count),
        tfx_status=TFX_STATUS, sources=sources, artifacts=arts)
