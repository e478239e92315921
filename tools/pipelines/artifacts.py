"""Renderers for design_ml_pipeline: KFP program, SageMaker Pipelines definition, GitHub Actions workflow, TFX graph."""

from __future__ import annotations

import json
from typing import Any

from ml_expert_mcp.tools.common.k8s import to_yaml
from ml_expert_mcp.tools.pipelines.inputs import DesignMlPipelineRequest
from ml_expert_mcp.tools.pipelines.kfp_template import KFP_PROGRAM

DLC_ACCOUNT = "763104351884"  # AWS Deep Learning Containers registry
SKLEARN_ACCOUNT = "683313688378"  # SageMaker scikit-learn processing image registry (us-east-1)
PIPELINE_SCHEMA_VERSION = "2020-12-01"


def kfp_program(req: DesignMlPipelineRequest, train_resources: dict[str, str | int]) -> str:
    lines = [f'        trained.set_cpu_limit("{train_resources["cpu"]}").set_memory_limit("{train_resources["memory"]}")']
    if int(train_resources.get("gpus", 0)):
        lines[0] += f'.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit({int(train_resources["gpus"])})'
    gate = req.data_gate
    subs = {
        "TITLE": f"{req.name}: ingest, validate, features, train, evaluate vs champion, register, deploy",
        "FRAMEWORK": "pytorch" if req.model else "tabular", "METRIC": req.blessing.metric,
        "TARGET": req.serving_target, "NAME": req.name, "SOURCE": req.data_uri, "LABEL": gate.label_column,
        "COLUMNS": ",".join(gate.expected_columns), "MIN_ROWS": str(gate.min_rows),
        "MAX_MISSING": repr(gate.max_missing_fraction), "MIN_MINORITY": repr(gate.min_minority_fraction),
        "EPOCHS": "20", "MIN_METRIC": repr(req.blessing.min_value), "MIN_IMPROVEMENT": repr(req.blessing.min_improvement),
        "TRACKING_URI": "", "MODEL_NAME": req.registry_model_name, "ALIAS": req.alias,
        "ENDPOINT": req.name, "RESOURCES": "\n".join(lines),
    }
    text = KFP_PROGRAM
    for key, value in subs.items():
        text = text.replace(f"@@{key}@@", value)
    return text


def _processing(name: str, image: str, script: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]],
                instance: str, env: dict[str, Any], depends: list[str] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {
        "Name": name, "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": instance, "VolumeSizeInGB": 30}},
            "AppSpecification": {"ImageUri": image, "ContainerEntrypoint": ["python3", f"/opt/ml/processing/code/{script}"]},
            "RoleArn": {"Get": "Parameters.RoleArn"},
            "ProcessingInputs": inputs, "Environment": env,
        },
    }
    if outputs:
        step["Arguments"]["ProcessingOutputConfig"] = {"Outputs": outputs}
    if depends:
        step["DependsOn"] = depends
    return step


def _s3_in(name: str, uri: Any, local: str) -> dict[str, Any]:
    return {"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix",
                                          "S3InputMode": "File"}}


def _s3_out(name: str, uri: str, local: str) -> dict[str, Any]:
    return {"OutputName": name, "S3Output": {"S3Uri": uri, "LocalPath": local, "S3UploadMode": "EndOfJob"}}


def sagemaker_definition(req: DesignMlPipelineRequest, instance: str, instance_count: int) -> dict[str, Any]:
    """Pipeline definition (schema 2020-12-01): a failing validation job stops the run; a ConditionStep on the
    training job's final metric (>= floor and >= champion + gain) guards registration and deployment."""
    base = req.artifact_s3_uri.rstrip("/") + f"/{req.name}"
    sk_image = f"{SKLEARN_ACCOUNT}.dkr.ecr.{req.region}.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    device = "gpu" if instance.startswith(("ml.p", "ml.g")) else "cpu"
    train_image = f"{DLC_ACCOUNT}.dkr.ecr.{req.region}.amazonaws.com/pytorch-training:2.5.1-{device}-py311"
    code = _s3_in("code", f"{base}/code", "/opt/ml/processing/code")
    gate = req.data_gate
    metric = f"validation:{req.blessing.metric}"
    validate = _processing(
        "ValidateData", sk_image, "validate_data.py",
        [_s3_in("data", {"Get": "Parameters.InputData"}, "/opt/ml/processing/input"), code],
        [_s3_out("report", f"{base}/validation", "/opt/ml/processing/report")], "ml.m5.xlarge",
        {"LABEL_COLUMN": gate.label_column, "EXPECTED_COLUMNS": ",".join(gate.expected_columns),
         "MIN_ROWS": str(gate.min_rows), "MAX_MISSING_FRACTION": str(gate.max_missing_fraction),
         "MIN_MINORITY_FRACTION": str(gate.min_minority_fraction)})
    features = _processing(
        "EngineerFeatures", sk_image, "features.py",
        [_s3_in("data", {"Get": "Parameters.InputData"}, "/opt/ml/processing/input"), code],
        [_s3_out("train", f"{base}/features/train", "/opt/ml/processing/train"),
         _s3_out("test", f"{base}/features/test", "/opt/ml/processing/test")], "ml.m5.xlarge",
        {"LABEL_COLUMN": gate.label_column}, depends=["ValidateData"])
    train = {
        "Name": "Train", "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingImage": train_image, "TrainingInputMode": "File",
                                       "MetricDefinitions": [{"Name": metric, "Regex": f"{req.blessing.metric}=([0-9\\.]+)"}]},
            "RoleArn": {"Get": "Parameters.RoleArn"},
            "OutputDataConfig": {"S3OutputPath": f"{base}/model"},
            "ResourceConfig": {"InstanceCount": instance_count, "InstanceType": instance, "VolumeSizeInGB": 100},
            "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
            "HyperParameters": {"sagemaker_program": "train.py", "sagemaker_submit_directory": f"{base}/code/sourcedir.tar.gz"},
            "InputDataConfig": [
                {"ChannelName": "train", "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3DataDistributionType": "FullyReplicated",
                    "S3Uri": {"Get": "Steps.EngineerFeatures.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}}}},
                {"ChannelName": "validation", "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3DataDistributionType": "FullyReplicated",
                    "S3Uri": {"Get": "Steps.EngineerFeatures.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"}}}}],
        },
    }
    final = {"Get": f"Steps.Train.FinalMetricDataList['{metric}'].Value"}
    register_mlflow = _processing(
        "RegisterInMlflow", sk_image, "register_mlflow.py",
        [_s3_in("model", {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}, "/opt/ml/processing/model"), code],
        [], "ml.m5.xlarge",
        {"MLFLOW_TRACKING_URI": {"Get": "Parameters.MlflowTrackingUri"}, "MODEL_NAME": req.registry_model_name,
         "MODEL_ALIAS": req.alias})
    deploy = _processing(
        "Deploy", sk_image, "deploy.py", [code], [], "ml.m5.xlarge",
        {"SERVING_TARGET": req.serving_target, "MODEL_NAME": req.registry_model_name, "MODEL_ALIAS": req.alias},
        depends=["RegisterInMlflow"])
    gate_step = {
        "Name": "BlessingGate", "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {"Type": "GreaterThanOrEqualTo", "LeftValue": final, "RightValue": {"Get": "Parameters.MinMetric"}},
                {"Type": "GreaterThanOrEqualTo", "LeftValue": final,
                 "RightValue": {"Get": "Parameters.ChampionMetricPlusGain"}},
            ],
            "IfSteps": [register_mlflow, deploy],
            "ElseSteps": [{"Name": "NotBlessed", "Type": "Fail", "Arguments": {
                "ErrorMessage": "candidate below the blessing thresholds: not registered, not deployed"}}],
        },
    }
    return {
        "Version": PIPELINE_SCHEMA_VERSION,
        "Metadata": {},
        "Parameters": [
            {"Name": "InputData", "Type": "String", "DefaultValue": req.data_uri},
            {"Name": "RoleArn", "Type": "String", "DefaultValue": req.role_arn},
            {"Name": "MinMetric", "Type": "Float", "DefaultValue": req.blessing.min_value},
            {"Name": "ChampionMetricPlusGain", "Type": "Float", "DefaultValue": req.blessing.min_value},
            {"Name": "MlflowTrackingUri", "Type": "String", "DefaultValue": ""},
        ],
        "Steps": [validate, features, train, gate_step],
    }


def create_pipeline_request(req: DesignMlPipelineRequest, definition: dict[str, Any]) -> dict[str, Any]:
    return {"PipelineName": req.name, "PipelineDisplayName": req.name,
            "PipelineDefinition": json.dumps(definition, separators=(",", ":")),
            "PipelineDescription": f"{req.name}: validate, train, bless vs champion, register ({req.alias}), deploy",
            "RoleArn": req.role_arn, "ClientRequestToken": f"{req.name}-create-pipeline-v1".ljust(32, "0"),
            "Tags": [{"Key": "managed-by", "Value": "ml-expert-mcp"}]}


def github_workflow(req: DesignMlPipelineRequest) -> str:
    """Runs the pipeline's tests, compiles it, and starts a run; every input reaches the shell through env."""
    on: dict[str, Any] = {
        "workflow_dispatch": {"inputs": {
            "data_uri": {"description": "CSV to train on", "required": False, "default": req.data_uri, "type": "string"},
            "reason": {"description": "Why this run", "required": False, "default": "manual", "type": "string"}}},
        "pull_request": {"paths": ["pipelines/**"]},
    }
    if req.triggers.schedule_cron:
        on["schedule"] = [{"cron": req.triggers.schedule_cron}]
    events = [e for e, on_ in (("new-data", req.triggers.on_new_data), ("drift-alert", req.triggers.on_drift_alert)) if on_]
    if events:
        on["repository_dispatch"] = {"types": events}
    env_run = {
        "DATA_URI": "${{ github.event.inputs.data_uri || github.event.client_payload.data_uri || '" + req.data_uri + "' }}",
        "RUN_REASON": "${{ github.event.inputs.reason || github.event.action || github.event_name }}",
        "KFP_HOST": "${{ vars.KFP_HOST }}",
        "PIPELINE_NAME": req.name,
    }
    workflow = {
        "name": f"{req.name} pipeline",
        "on": on,
        "permissions": {"contents": "read"},
        "concurrency": {"group": f"{req.name}-pipeline", "cancel-in-progress": False},
        "jobs": {
            "test": {
                "runs-on": "ubuntu-latest",
                "steps": [
                    {"uses": "actions/checkout@v4"},
                    {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
                    {"name": "Install", "run": "pip install 'kfp==2.17.*' pytest"},
                    {"name": "Unit tests", "run": "pytest -q pipelines/tests"},
                    {"name": "Compile", "run": "kfp dsl compile --py pipelines/pipeline.py --output pipeline.yaml"},
                    {"uses": "actions/upload-artifact@v4", "with": {"name": "pipeline-ir", "path": "pipeline.yaml"}},
                ],
            },
            "trigger": {
                "needs": "test",
                "if": "github.event_name != 'pull_request'",
                "runs-on": "ubuntu-latest",
                "environment": "ml-production",
                "steps": [
                    {"uses": "actions/checkout@v4"},
                    {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
                    {"name": "Install", "run": "pip install 'kfp==2.17.*'"},
                    {"uses": "actions/download-artifact@v4", "with": {"name": "pipeline-ir"}},
                    {"name": "Start run", "env": env_run, "run": (
                        'python - <<\'PY\'\n'
                        'import os\n'
                        'import kfp\n'
                        'client = kfp.Client(host=os.environ["KFP_HOST"])\n'
                        'run = client.create_run_from_pipeline_package(\n'
                        '    "pipeline.yaml", arguments={"source_uri": os.environ["DATA_URI"]},\n'
                        '    run_name=f"{os.environ[\'PIPELINE_NAME\']}-{os.environ[\'RUN_REASON\']}"[:100])\n'
                        'print(run.run_id)\n'
                        'PY')},
                ],
            },
        },
    }
    return to_yaml([workflow])


def tfx_program(req: DesignMlPipelineRequest) -> str:
    gate = req.data_gate
    return f'''"""{req.name}: TFX 1.21 component graph (tfx.v1), for TensorFlow users. Local: LocalDagRunner; Kubeflow:
KubeflowV2DagRunner (the v1 KubeflowDagRunner is deprecated since TFX 1.16)."""
import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

PIPELINE_NAME = {req.name!r}
DATA_ROOT = "data/"  # directory with the CSV ({req.data_uri})
MODULE_FILE = "trainer_module.py"  # run_fn(fn_args) with your Keras model; preprocessing_fn for Transform
SERVING_DIR = "serving_model/{req.name}"


def create_pipeline(pipeline_root: str, metadata_path: str) -> tfx.dsl.Pipeline:
    example_gen = tfx.components.CsvExampleGen(input_base=DATA_ROOT)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(  # anomalies block Transform (data gate)
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    transform = tfx.components.Transform(examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
                                         module_file=MODULE_FILE)
    transform.add_upstream_node(example_validator)
    trainer = tfx.components.Trainer(
        module_file=MODULE_FILE, examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"], schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=1000), eval_args=tfx.proto.EvalArgs(num_steps=100))
    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing)).with_id("latest_blessed_model")
    eval_config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(label_key={gate.label_column!r})],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=[tfma.MetricConfig(
            class_name="BinaryAccuracy",
            threshold=tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(lower_bound={{"value": {req.blessing.min_value!r}}}),
                change_threshold=tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                    absolute={{"value": {req.blessing.min_improvement!r}}})))])])
    evaluator = tfx.components.Evaluator(  # blessing: floor and gain over the latest blessed model
        examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"], eval_config=eval_config)
    pusher = tfx.components.Pusher(  # pushes only a blessed model
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=SERVING_DIR)))
    return tfx.dsl.Pipeline(
        pipeline_name=PIPELINE_NAME, pipeline_root=pipeline_root,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path),
        components=[example_gen, statistics_gen, schema_gen, example_validator, transform, trainer, model_resolver,
                    evaluator, pusher])


if __name__ == "__main__":
    tfx.orchestration.LocalDagRunner().run(create_pipeline("pipeline_root", "metadata.db"))
'''
