"""Issue 15, findings 2, 3, 7 and 8: user strings stay literal once deployed, reserved SageMaker hyperparameters are
refused, outputs and the result cache are bounded, and the smaller input-handling gaps.

The deploy-time expansions are the real ones: compose files go through docker compose's own interpolation code
(Debian's docker-compose package, run by the system python3), container strings through a port of Kubernetes'
`$(VAR)` expansion (third_party/forked/golang/expansion/expand.go) that first passes Kubernetes' own test table.
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import subprocess
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.mlops.platform import DesignMLflowRequest, design_mlflow_platform

SYSTEM_PYTHON = "/usr/bin/python3"
SECRETS = {"MLFLOW_DB_PASSWORD": "hunter2-db", "MLFLOW_ADMIN_PASSWORD": "hunter2-admin", "MLFLOW_SECRET_KEY": "k3y",
           "S3_ACCESS_KEY": "AKIAEXAMPLE", "S3_SECRET_KEY": "s3-secret", "MLFLOW_BACKEND_STORE_URI": "mysql://x",
           "AZURE_STORAGE_CONNECTION_STRING": "azure-secret"}

_INTERPOLATE = """
import json, sys
from compose.config.environment import Environment
from compose.config.interpolation import interpolate_environment_variables
from compose.const import COMPOSE_SPEC
import yaml
for line in sys.stdin:
    text, env = json.loads(line)
    doc = yaml.safe_load(text)
    try:
        out = {k: interpolate_environment_variables(COMPOSE_SPEC, v, k, Environment(env)) if isinstance(v, dict)
               else v for k, v in doc.items()}
    except Exception as err:  # compose refuses the file (e.g. an invalid `$(` interpolation)
        out = {"compose_error": str(err)}
    print(json.dumps(out), flush=True)
"""
_interpolator: list[subprocess.Popen] = []


def compose_interpolate(text: str, env: dict[str, str]) -> dict[str, Any]:
    """The compose file as `docker compose` resolves it with `env` set (docker-compose 1.29's interpolation, in one
    long-lived system-python process: importing it costs seconds)."""
    if not _interpolator:
        probe = subprocess.run([SYSTEM_PYTHON, "-c", "import compose.config.interpolation"], capture_output=True)
        if probe.returncode != 0:
            if os.environ.get("CI") == "true":
                pytest.fail("docker compose's interpolation is missing: run scripts/setup_security")
            pytest.skip("Debian's docker-compose is not installed (scripts/setup_security)")
        _interpolator.append(subprocess.Popen([SYSTEM_PYTHON, "-c", _INTERPOLATE], stdin=subprocess.PIPE,
                                              stdout=subprocess.PIPE, text=True))
    proc = _interpolator[0]
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps([text, env]) + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    assert line, "the compose interpolation process ended"
    out = dict(json.loads(line))
    assert "compose_error" not in out, out["compose_error"]
    return out


@pytest.fixture(scope="module", autouse=True)
def _stop_interpolator() -> Any:
    yield
    for proc in _interpolator:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=30)
    _interpolator.clear()


def k8s_expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of command, args and env values: `$$` is `$`, `$(NAME)` is NAME's value when NAME is
    defined (else kept), any other `$` is kept with the character after it."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    out.append(env.get(name, f"$({name})"))
                    i = end + 1
                    continue
                out.append("$(")
                i += 2
                continue
            out.append("$" + nxt)
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


# Rows of Kubernetes' expand_test.go (doExpansionTest) with VAR_A=A, VAR_B=B, VAR_C=C, VAR_REF=$(VAR_A), VAR_EMPTY="".
K8S_CASES = [("$(VAR_A)", "A"), ("$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"), ("f000-$$VAR_A", "f000-$VAR_A"),
             ("$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"), ("$(VAR_REF)", "$(VAR_A)"), ("foo$(VAR_EMPTY)bar", "foobar"),
             ("foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"), ("$?_boo_$!", "$?_boo_$!"), ("$VAR_A", "$VAR_A"),
             ("$(VAR_DNE)", "$(VAR_DNE)"), ("$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"), ("$$$$$$$(VAR_A)", "$$$A"),
             ("$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"), ("${VAR_A}", "${VAR_A}"), ("$(VAR_C)_______$(", "C_______$("),
             ("$(VAR_A)foobarzab$", "Afoobarzab$"), ("--$($($($($--", "--$($($($($--"), ("$(foo$$var)", "$(foo$$var)")]


@pytest.mark.parametrize(("text", "expected"), K8S_CASES)
def test_the_expansion_port_passes_kubernetes_own_cases(text: str, expected: str) -> None:
    env = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}
    assert k8s_expand(text, env) == expected


def _container(kube_yaml: str) -> dict[str, Any]:
    deployment = next(d for d in yaml.safe_load_all(kube_yaml) if d["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _pod_env(container: dict[str, Any]) -> dict[str, str]:
    """What the kubelet can substitute: every env var of the container (secrets stand in with known values)."""
    return {e["name"]: e.get("value", f"secret-of-{e['name']}") for e in container["env"]}


def test_every_container_shape_to_yaml_knows_is_written_literally() -> None:
    from ml_expert_mcp.tools.common.k8s import to_yaml

    hostile = "$(SECRET)-${SECRET}-$$-$"
    env = [{"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}, {"name": "V", "value": hostile}]
    spec = {"command": ["run", hostile], "args": [hostile], "env": env}
    docs = [{"kind": "Deployment", "spec": {"template": {"spec": {"initContainers": [{"name": "i", **spec}],
                                                                  "containers": [{"name": "c", **spec}]}}}},
            {"kind": "TrainJob", "spec": {"trainer": spec}},
            {"kind": "InferenceService", "spec": {"predictor": {"model": {"modelFormat": {"name": "x"}, **spec}}}},
            {"kind": "Workflow", "spec": {"templates": [{"name": "t", "container": spec}]}}]
    back = list(yaml.safe_load_all(to_yaml(docs)))
    containers = [back[0]["spec"]["template"]["spec"]["initContainers"][0], back[0]["spec"]["template"]["spec"]["containers"][0],
                  back[1]["spec"]["trainer"], back[2]["spec"]["predictor"]["model"], back[3]["spec"]["templates"][0]["container"]]
    for container in containers:
        secrets = {"SECRET": "leaked", "V": hostile}
        assert [k8s_expand(a, secrets) for a in container["command"] + container["args"]] == ["run", hostile, hostile]
        assert k8s_expand(container["env"][1]["value"], secrets) == hostile


HOSTILE_URIS = ["s3://mlflow-bucket/${MLFLOW_DB_PASSWORD}", "s3://mlflow-bucket/$(PGPASSWORD)/x",
                "s3://mlflow-bucket/$MLFLOW_SECRET_KEY$$", "s3://mlflow-bucket/$(MLFLOW_AUTH_ADMIN_PASSWORD)"]


@pytest.mark.parametrize("uri", HOSTILE_URIS)
def test_compose_resolves_no_secret_into_a_user_string(uri: str) -> None:
    plan = design_mlflow_platform(DesignMLflowRequest(team_size=5, platform="vm", artifact_uri=uri,
                                                      s3_endpoint_url="https://minio.example:9000"))
    resolved = compose_interpolate(plan.deployment.docker_compose, SECRETS)
    mlflow = resolved["services"]["mlflow"]
    assert mlflow["command"] == plan.server.command  # the user's `$` came back as written
    assert mlflow["environment"]["PGPASSWORD"] == SECRETS["MLFLOW_DB_PASSWORD"]  # our own references still resolve
    text = json.dumps(mlflow["command"]) + json.dumps(resolved.get("configs", {}))
    assert not any(secret in text for secret in SECRETS.values())


@pytest.mark.parametrize("uri", HOSTILE_URIS)
def test_kubernetes_expands_no_secret_into_a_user_string(uri: str) -> None:
    plan = design_mlflow_platform(DesignMLflowRequest(team_size=5, platform="kubernetes", artifact_uri=uri))
    container = _container(plan.deployment.kubernetes_yaml)
    env = _pod_env(container)
    assert [k8s_expand(a, env) for a in container["command"]] == plan.server.command
    for e in container["env"]:
        if "value" in e:
            assert k8s_expand(e["value"], env) == next(v.value for v in plan.server.environment if v.name == e["name"])


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(suffix=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_any_accepted_artifact_uri_survives_compose_and_kubernetes(suffix: str) -> None:
    try:
        req = DesignMLflowRequest(team_size=5, platform="kubernetes", artifact_uri=f"s3://mlflow-bucket/{suffix}")
        plan = design_mlflow_platform(req)
    except (ValidationError, PlanInputError) as err:
        assert "artifact_uri" in str(err)
        return
    container = _container(plan.deployment.kubernetes_yaml)
    assert [k8s_expand(a, _pod_env(container)) for a in container["command"]] == plan.server.command
    vm = design_mlflow_platform(req.model_copy(update={"platform": "vm"}))
    assert compose_interpolate(vm.deployment.docker_compose, SECRETS)["services"]["mlflow"]["command"] == \
        vm.server.command


@pytest.mark.parametrize(("field", "value"), [
    ("s3_endpoint_url", "http://attacker.example/${MLFLOW_DB_PASSWORD}"),
    ("s3_endpoint_url", "http://attacker.example/$(PGPASSWORD)"),
    ("cors_origins", ["https://ok.example,https://evil.example"]),
    ("cors_origins", ["https://ok.example/${MLFLOW_SECRET_KEY}"]),
    ("cors_origins", ["javascript:alert(1)"]),
    ("data_dir", "/data/100%done"), ("data_dir", "/data/x?mode=ro"), ("data_dir", "/data/#frag"),
    ("hostname", "mlflow.example\n"),
])
def test_hostile_mlflow_strings_are_refused_by_name(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as err:
        DesignMLflowRequest(team_size=5, platform="vm", **{field: value})
    assert field in str(err.value)


@pytest.mark.parametrize("origin", ["https://mlflow.example.com", "http://localhost:5000", "http://*.example.com",
                                    "http://[::1]:3000", "http://localhost:*"])
def test_real_origins_pass_and_reach_mlflow_as_written(origin: str) -> None:
    plan = design_mlflow_platform(DesignMLflowRequest(team_size=5, platform="vm", cors_origins=[origin]))
    command = compose_interpolate(plan.deployment.docker_compose, SECRETS)["services"]["mlflow"]["command"]
    assert command[command.index("--cors-allowed-origins") + 1] == origin


@SETTINGS
@given(name=st.from_regex(r"[A-Za-z0-9_./ -]{1,40}", fullmatch=True))
def test_sqlite_data_dir_is_read_back_by_configparser_and_sqlalchemy(name: str) -> None:
    """MLflow reads basic_auth.ini with ConfigParser and opens the URI with SQLAlchemy: both give the path back."""
    from sqlalchemy.engine import make_url

    try:
        req = DesignMLflowRequest(team_size=2, platform="local", backend="sqlite", artifact_store="local",
                                  data_dir=f"/srv/{name}")
    except ValidationError as err:
        assert "data_dir" in str(err)
        return
    plan = design_mlflow_platform(req)
    parser = configparser.ConfigParser()  # what mlflow.server.auth.config.read_auth_config uses
    parser.read_string(plan.server.auth_config_ini or "")
    uri = parser["mlflow"]["database_uri"]
    assert make_url(uri).database == os.path.normpath(f"/srv/{name}/basic_auth.db").replace("//", "/")
    store = plan.server.command[plan.server.command.index("--backend-store-uri") + 1]
    assert make_url(store).database == os.path.normpath(f"/srv/{name}/mlflow.db").replace("//", "/")


def test_a_trailing_newline_no_longer_passes_the_uri_and_vpc_checks() -> None:
    with pytest.raises(PlanInputError) as err:
        design_mlflow_platform(DesignMLflowRequest(team_size=5, platform="kubernetes", artifact_uri="s3://bucket/x\n"))
    assert err.value.field == "artifact_uri"
    from ml_expert_mcp.tools.sagemaker.inputs import AwsPlacement

    placement = AwsPlacement(role_arn="arn:aws:iam::123456789012:role/x", subnets=["subnet-0123abcd\n"],
                             security_group_ids=["sg-0123abcd"])
    with pytest.raises(PlanInputError) as err:
        placement.vpc_config()
    assert err.value.field == "aws.subnets"


def test_a_long_model_name_gives_valid_kubernetes_names() -> None:
    """128 characters were accepted, then every derived name over 63 failed our own check as an internal error."""
    from ml_expert_mcp.tools.common.k8s import DNS_LABEL
    from ml_expert_mcp.tools.serving.tf_serving import plan_tf_serving
    from tests.test_tf_serving import request

    plan = plan_tf_serving(request(model={"name": "m" * 128, "base_path": "s3://models/resnet",
                                          "versions": [{"version": 1}]}, deployment={"tls": True}))
    names = []
    for doc in yaml.safe_load_all(plan.artifacts.kubernetes_yaml):
        names.append(doc["metadata"]["name"])
        for volume in doc.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", []):
            names.append(volume.get("configMap", volume.get("secret", {})).get("name") or
                         volume.get("secret", {}).get("secretName"))
    assert names and all(n is None or DNS_LABEL.fullmatch(n) for n in names), names


# --- 3. reserved SageMaker hyperparameters ---------------------------------------------------------------------

@pytest.mark.parametrize("key", ["sagemaker_submit_directory", "sagemaker_program", "SageMaker_Program",
                                 "sagemaker_torch_distributed_enabled"])
def test_reserved_sagemaker_hyperparameters_are_refused(key: str) -> None:
    from ml_expert_mcp.tools.sagemaker.job import plan_sagemaker_job
    from tests.test_sagemaker import job_request

    with pytest.raises(PlanInputError) as err:
        plan_sagemaker_job(job_request(workload={"gpu_memory_gib": 20, "gpu_count": 1, "runtime_hours": 1},
                                       hyperparameters={key: "s3://attacker/payload.tar.gz"}))
    assert err.value.field == "hyperparameters"


def test_a_reserved_name_cannot_come_in_through_tuning() -> None:
    from ml_expert_mcp.tools.sagemaker.job import ParameterRange

    with pytest.raises(ValidationError) as err:
        ParameterRange(name="sagemaker_submit_directory", kind="categorical", values=["s3://attacker/x.tar.gz"])
    assert "reserved" in str(err.value)


@pytest.mark.parametrize("gpus", [1, 8])
def test_code_and_request_carry_the_same_user_hyperparameters(gpus: int) -> None:
    from ml_expert_mcp.tools.sagemaker.job import plan_sagemaker_job
    from tests.test_sagemaker import job_request

    hp = {"lr": 0.001, "epochs": 3, "model": "bert", "flag": True}
    plan = plan_sagemaker_job(job_request(workload={"gpu_memory_gib": 20, "gpu_count": gpus, "runtime_hours": 1},
                                          hyperparameters=hp))
    request_hp = {k: json.loads(v) for k, v in plan.create_training_job["HyperParameters"].items()}
    trainer = next(n for n in ast.walk(ast.parse(plan.model_trainer_code))
                   if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "ModelTrainer")
    code_hp = ast.literal_eval(next(k for k in trainer.keywords if k.arg == "hyperparameters").value)
    assert code_hp == hp
    assert {k: v for k, v in request_hp.items() if not k.startswith("sagemaker_")} == hp


# --- 7. output amplification and the result cache ---------------------------------------------------------------

def test_tf_training_at_4096_nodes_answers_in_a_few_kilobytes() -> None:
    from ml_expert_mcp.tools.training.tensorflow import PlanTFTrainingRequest, plan_tf_training

    req = PlanTFTrainingRequest.model_validate(
        {"model": {"preset": "resnet-50"}, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 4096}})
    plan = plan_tf_training(req)
    assert len(plan.model_dump_json()) < 8_000
    namespace: dict[str, Any] = {}
    builder = next(line for line in plan.code.splitlines() if "TF_CONFIG" in line)
    os.environ["WORKER_INDEX"] = "4095"
    try:
        exec("import json, os\n" + builder, namespace)  # the template, filled for the last worker
        config = json.loads(os.environ.pop("TF_CONFIG"))
    finally:
        os.environ.pop("WORKER_INDEX", None)
    assert len(config["cluster"]["worker"]) == 4096 and config["task"] == {"type": "worker", "index": 4095}


class BigRequest(BaseModel):
    n: int


class BigResult(BaseModel):
    text: str


def big(req: BigRequest) -> BigResult:
    return BigResult(text=str(req.n % 10) * 200_000)  # ~200 KB each


def test_result_cache_is_bounded_by_bytes() -> None:
    from ml_expert_mcp.server import tool_adapter

    run = tool_adapter.mcp_tool_function("big", BigRequest, big, cache_size=256)
    for n in range(100):
        run(n=n, detail="full")
    cache = next(c.cell_contents for c in run.__closure__ if isinstance(c.cell_contents, dict))  # type: ignore[union-attr]
    held = sum(size for _, size in cache.values())
    assert held <= tool_adapter.CACHE_MAX_BYTES and 0 < len(cache) < 100
