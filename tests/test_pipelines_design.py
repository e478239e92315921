"""design_ml_pipeline: KFP program compiled by the real kfp compiler (gates checked in the IR) and run end to end
with KFP's local runner (a failing gate blocks registration); SageMaker definition against botocore (strict walk),
the published pipeline-definition schema and moto; GitHub workflow against its JSON schema, inputs via env only;
TFX graph checked statically against the tfx 1.21.0 wheel's API (tfx cannot be installed here)."""

from __future__ import annotations

import ast
import json
import os
import random
import re
import subprocess
import zipfile
from pathlib import Path

import boto3
import jsonschema
import pytest
import yaml
from moto import mock_aws

from ml_expert_mcp.tools.common.aws import check_request
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.pipelines.inputs import DesignMlPipelineRequest
from ml_expert_mcp.tools.pipelines.pipeline import design_ml_pipeline

ROOT = Path(__file__).resolve().parent.parent
VENV_PY = ROOT / ".venv-pipelines" / "bin" / "python"
RUNNER = ROOT / "tests" / "pipelines_kfp_runner.py"
SM_SCHEMA = ROOT / "knowledge" / "schemas" / "sagemaker-pipeline-definition" / "pipeline-definition.schema.json"
TFX_WHEEL_DIR = ROOT / ".cache" / "pipelines"

REQUESTS = {
    "tabular": {"data_gate": {"min_rows": 50, "expected_columns": ["x1", "x2"]}},
    "llm-sagemaker": {"name": "llm-ft", "model": {"preset": "llama-3.1-8b"}, "serving_target": "sagemaker",
                      "triggers": {"schedule_cron": None, "on_new_data": True, "on_drift_alert": False}},
    "tf-serving": {"name": "ranker", "serving_target": "tf_serving", "blessing": {"min_value": 0.7, "min_improvement": 0.01}},
}


def _plan(name: str):
    return design_ml_pipeline(DesignMlPipelineRequest.model_validate(REQUESTS[name]))


def _venv() -> Path:
    if not VENV_PY.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(".venv-pipelines is missing: run scripts/setup_pipelines")
        pytest.skip(".venv-pipelines not set up (scripts/setup_pipelines)")
    return VENV_PY


def _csv(path: Path, rows: int, missing_every: int = 0) -> Path:
    rng = random.Random(7)
    lines = ["x1,x2,label"]
    for i in range(rows):
        y = i % 2
        x1 = "" if missing_every and i % missing_every == 0 else f"{rng.gauss(2 * y, 1):.3f}"
        lines.append(f"{x1},{rng.gauss(-y, 1):.3f},{y}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_kfp_program_compiles_and_ir_holds_the_gates(name: str, tmp_path: Path) -> None:
    python = _venv()
    plan = _plan(name)
    (tmp_path / "pipeline.py").write_text(plan.artifacts.kfp_python)
    subprocess.run([str(python), str(RUNNER), "compile", "pipeline.py", "pipeline.yaml"], cwd=tmp_path, check=True,
                   timeout=300)
    ir = yaml.safe_load((tmp_path / "pipeline.yaml").read_text())
    root_tasks = ir["root"]["dag"]["tasks"]
    data_gate = next(t for t in root_tasks.values() if t["taskInfo"]["name"] == "data-validation-gate")
    assert data_gate["triggerPolicy"]["condition"] == "inputs.parameter_values['pipelinechannel--validate-data-Output'] == true"
    assert set(root_tasks) == {"ingest", "validate-data", "condition-1"}  # everything else waits behind the data gate
    inner = ir["components"][data_gate["componentRef"]["name"]]["dag"]["tasks"]
    bless = next(t for t in inner.values() if t["taskInfo"]["name"] == "blessing-gate")
    assert bless["triggerPolicy"]["condition"] == "inputs.parameter_values['pipelinechannel--evaluate-Output'] == true"
    assert {"engineer-features", "train-model", "champion-metric", "evaluate"} <= set(inner)
    assert not {"register-model", "deploy-model"} & set(inner)  # only behind the blessing gate
    gated = ir["components"][bless["componentRef"]["name"]]["dag"]["tasks"]
    assert set(gated) == {"register-model", "deploy-model"}
    resources = ir["deploymentSpec"]["executors"]["exec-train-model"]["container"]["resources"]
    assert resources["resourceCpuLimit"] == str(plan.training.cpu)
    if plan.training.gpus:
        assert resources["accelerator"]["resourceCount"] == str(plan.training.gpus)
        assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert ir["root"]["inputDefinitions"]["parameters"]["min_metric"]["defaultValue"] == REQUESTS[name].get(
        "blessing", {}).get("min_value", 0.8)


def _local_run(tmp_path: Path, data: Path, **args: object) -> dict:
    python = _venv()
    (tmp_path / "pipeline.py").write_text(_plan("tabular").artifacts.kfp_python)
    (tmp_path / "root").mkdir()
    extra = [f"{k}={v}" for k, v in args.items()]
    subprocess.run([str(python), str(RUNNER), "run", "pipeline.py", "root", "out.json", f"source_uri={data}", *extra],
                   cwd=tmp_path, check=True, timeout=600, capture_output=True)
    return json.loads((tmp_path / "out.json").read_text())


@pytest.mark.slow
def test_local_run_end_to_end_registers_a_blessed_model(tmp_path: Path) -> None:
    tasks = _local_run(tmp_path, _csv(tmp_path / "data.csv", 300))
    assert set(tasks) == {"ingest", "validate-data", "engineer-features", "train-model", "champion-metric",
                          "evaluate", "register-model", "deploy-model"}
    accuracy = tasks["evaluate"]["artifacts"]["metrics"]["artifacts"][0]["metadata"]["accuracy"]
    assert accuracy >= 0.8  # separable classes: the baseline clears the default floor
    record = json.loads(tasks["register-model"]["files"]["registration"])
    assert record["alias"] == "champion" and record["accuracy"] == accuracy
    assert json.loads(tasks["deploy-model"]["files"]["deployment"])["target"] == "kserve"


@pytest.mark.slow
def test_local_run_failing_blessing_gate_blocks_registration(tmp_path: Path) -> None:
    tasks = _local_run(tmp_path, _csv(tmp_path / "data.csv", 300), champion_fallback=0.99)
    assert tasks["evaluate"]["parameterValues"]["Output"] is False
    assert "register-model" not in tasks and "deploy-model" not in tasks


@pytest.mark.slow
def test_local_run_failing_data_gate_blocks_training(tmp_path: Path) -> None:
    tasks = _local_run(tmp_path, _csv(tmp_path / "data.csv", 300, missing_every=5))  # 20% missing > 5%
    assert tasks["validate-data"]["parameterValues"]["Output"] is False
    assert set(tasks) == {"ingest", "validate-data"}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_sagemaker_pipeline_valid_for_botocore_and_the_definition_schema(name: str) -> None:
    plan = _plan(name)
    request = plan.artifacts.sagemaker_create_pipeline
    assert check_request("sagemaker", "CreatePipeline", request) == []
    definition = json.loads(request["PipelineDefinition"])
    schema = json.loads(SM_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(definition)]
    assert errors == []
    gate = next(s for s in definition["Steps"] if s["Type"] == "Condition")
    assert [s["Name"] for s in gate["Arguments"]["IfSteps"]] == ["RegisterInMlflow", "Deploy"]
    assert gate["Arguments"]["ElseSteps"][0]["Type"] == "Fail"
    lefts = {json.dumps(c["LeftValue"]) for c in gate["Arguments"]["Conditions"]}
    assert lefts == {json.dumps({"Get": "Steps.Train.FinalMetricDataList['validation:accuracy'].Value"})}
    train = next(s for s in definition["Steps"] if s["Type"] == "Training")
    assert train["Arguments"]["ResourceConfig"]["InstanceType"] == plan.training.sagemaker_instance
    broken = json.loads(request["PipelineDefinition"])
    broken["Steps"][0]["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceKind"] = "x"
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))  # the schema is strict: a typo fails


@mock_aws
def test_sagemaker_create_pipeline_round_trips_in_moto() -> None:
    plan = _plan("llm-sagemaker")
    client = boto3.client("sagemaker", region_name="us-east-1")
    arn = client.create_pipeline(**plan.artifacts.sagemaker_create_pipeline)["PipelineArn"]
    described = client.describe_pipeline(PipelineName="llm-ft")
    assert described["PipelineArn"] == arn
    assert json.loads(described["PipelineDefinition"]) == json.loads(
        plan.artifacts.sagemaker_create_pipeline["PipelineDefinition"])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_github_workflow_valid_and_inputs_only_via_env(name: str, tmp_path: Path) -> None:
    python = _venv()
    plan = _plan(name)
    path = tmp_path / "pipeline.yml"
    path.write_text(plan.artifacts.github_workflow)
    subprocess.run([str(python), "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
                   check=True, timeout=300, capture_output=True)
    workflow = yaml.safe_load(plan.artifacts.github_workflow)
    runs = [s["run"] for job in workflow["jobs"].values() for s in job["steps"] if "run" in s]
    assert runs and all("${{" not in r for r in runs)
    envs = [s["env"] for job in workflow["jobs"].values() for s in job["steps"] if "env" in s]
    assert any("github.event.inputs.data_uri" in v for e in envs for v in e.values())
    on = workflow["on"]
    triggers = REQUESTS[name].get("triggers", {})
    assert ("schedule" in on) == (triggers.get("schedule_cron", "x") is not None)
    assert set(on.get("repository_dispatch", {}).get("types", [])) == (
        {"new-data"} if triggers else {"new-data", "drift-alert"})


def test_github_workflow_check_refuses_expression_in_run() -> None:
    """The env-only rule has teeth: an expression spliced into run: is what the check above would catch."""
    workflow = yaml.safe_load(_plan("tabular").artifacts.github_workflow)
    step = workflow["jobs"]["trigger"]["steps"][-1]
    step["run"] = "echo ${{ inputs.data_uri }}"
    runs = [s["run"] for job in workflow["jobs"].values() for s in job["steps"] if "run" in s]
    assert not all("${{" not in r for r in runs)


def _tfx_wheel() -> zipfile.ZipFile:
    wheels = sorted(TFX_WHEEL_DIR.glob("tfx-1.21.0-*.whl"))
    if not wheels:
        if os.environ.get("CI") == "true":
            pytest.fail("tfx 1.21.0 wheel missing: run scripts/setup_pipelines")
        pytest.skip("tfx wheel not downloaded (scripts/setup_pipelines)")
    return zipfile.ZipFile(wheels[0])


def _imports(tree: ast.Module) -> dict[str, str]:
    """Names a module imports (also inside try/except) -> the module they come from."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                out[alias.asname or alias.name] = node.module or ""
    return out


def _exports(wheel: zipfile.ZipFile, module: str) -> dict[str, str]:
    path = module.replace(".", "/")
    names = wheel.namelist()
    source = wheel.read(f"{path}/__init__.py" if f"{path}/__init__.py" in names else f"{path}.py")
    return _imports(ast.parse(source))


def _init_params(wheel: zipfile.ZipFile, module: str, cls: str) -> set[str]:
    """Parameters of cls.__init__, following base classes through the module's imports."""
    tree = ast.parse(wheel.read(module.replace(".", "/") + ".py"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    return {a.arg for a in item.args.args + item.args.kwonlyargs}
            base = ast.unparse(node.bases[0]).split(".")
            imports = _imports(tree)
            if base[0] in imports:  # from x import Base
                return _init_params(wheel, imports[base[0]], base[-1])
            modules = {a.asname or a.name.split(".")[-1]: f"{n.module}.{a.name}" for n in ast.walk(tree)
                       if isinstance(n, ast.ImportFrom) for a in n.names}
            return _init_params(wheel, modules[base[0]], base[-1])  # from pkg import module; module.Base
    raise AssertionError(f"{cls} not found in {module}")


def test_tfx_graph_uses_the_tfx_1_21_api() -> None:
    """tfx cannot be installed here (see tfx_status): every tfx.v1 name the program uses must be exported by the
    1.21.0 wheel, and every component keyword must be a parameter of that component's __init__."""
    wheel = _tfx_wheel()
    plan = _plan("tf-serving")
    tree = ast.parse(plan.artifacts.tfx_python)
    components = _exports(wheel, "tfx.v1.components")
    used = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                ast.unparse(node.func).startswith("tfx.components."):
            used.append(node.func.attr)
            assert node.func.attr in components, node.func.attr
            params = _init_params(wheel, components[node.func.attr], node.func.attr)
            assert {k.arg for k in node.keywords} <= params, (node.func.attr, params)
    assert used == ["CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "Trainer",
                    "Evaluator", "Pusher"]
    for prefix, module in (("tfx.dsl.", "tfx.v1.dsl"), ("tfx.proto.", "tfx.v1.proto"),
                           ("tfx.orchestration.", "tfx.v1.orchestration"),
                           ("tfx.dsl.experimental.", "tfx.v1.dsl.experimental")):
        names = _exports(wheel, module)
        for chain in re.findall(re.escape(prefix) + r"([A-Za-z_]+)\b", plan.artifacts.tfx_python):
            if chain not in ("experimental", "metadata"):
                assert chain in names, f"{prefix}{chain}"
    assert "LocalDagRunner" in _exports(wheel, "tfx.v1.orchestration")
    assert "sqlite_metadata_connection_config" in wheel.read("tfx/v1/orchestration/metadata.py").decode()
    assert "ModelBlessing" in wheel.read("tfx/v1/types/standard_artifacts.py").decode()
    assert "KubeflowV2DagRunner" in wheel.read("tfx/v1/orchestration/experimental/__init__.py").decode()


def test_stages_and_summary_name_the_gates() -> None:
    plan = _plan("tf-serving")
    gates = [s for s in plan.stages if s.gate]
    assert [g.name for g in gates] == ["validate-data", "evaluate"]
    assert set(gates[1].blocks) == {"register-model", "deploy-model"}
    assert "0.7" in gates[1].gate and "0.01" in gates[1].gate
    assert "tf_serving" in plan.summary and "1.21" in plan.tfx_status


def test_training_step_sized_by_the_planner() -> None:
    plan = _plan("llm-sagemaker")
    assert plan.training.gpus >= 2  # an 8B full fine-tune does not fit one 80 GB GPU
    assert plan.training.memory_gib > 16 and "FSDP" in plan.training.strategy
    assert plan.training.sagemaker_instance.startswith(("ml.p", "ml.g"))


def test_model_too_big_for_one_node_names_the_field() -> None:
    with pytest.raises(PlanInputError) as err:
        design_ml_pipeline(DesignMlPipelineRequest(model={"preset": "llama-3.1-70b"}))
    assert err.value.field == "gpus"
