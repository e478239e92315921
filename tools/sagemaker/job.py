"""plan_sagemaker_job: the cheapest instance type and count the training plan fits on, and the API requests.

For each catalogue instance type, counts 1, 2, 4, ... are tried with the training planner's layout search
(`select_distribution_strategy`, the instance's GPUs and network as the cluster) until the plan fits and
finishes within max_hours; more instances only cost more at the same tokens (scaling is at best linear), so the
first such count is that type's answer. The cheapest answer wins. Time = tokens / predicted tokens/s plus
start-up and (File mode) the dataset copy; cost = time x count x on-demand price.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from ml_expert_mcp.knowledge import InstanceType, gpu_catalog, instance_catalog
from ml_expert_mcp.tools.common.aws import require_valid
from ml_expert_mcp.tools.common.bounded import BoundedFloat, BoundedInt, ShortStr
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.models import Plan, StrictModel
from ml_expert_mcp.tools.common.patterns import IMAGE_URI_PATTERN, S3_URI_PATTERN
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.sagemaker.artifacts import model_trainer_code
from ml_expert_mcp.tools.sagemaker.inputs import (
    JOB_NAME_PATTERN,
    AwsPlacement,
    require_priced_region,
)
from ml_expert_mcp.tools.training.inputs import ClusterSpec, ModelSpec, TrainingSpec
from ml_expert_mcp.tools.training.model_arch import resolve_model
from ml_expert_mcp.tools.training.step_time import model_caveats
from ml_expert_mcp.tools.training.strategy import SelectDistributionRequest, best_layout

__all__ = ["PlanSageMakerJobRequest", "SageMakerJobPlan", "plan_sagemaker_job"]

MAX_RUNTIME_S = 28 * 24 * 3600  # CreateTrainingJob's limit (28 days)
STARTUP_HOURS = 0.1  # provisioning and image pull, billed
S3_GBPS_PER_INSTANCE = 25.0  # File-mode copy rate cap, Gbit/s
FILE_MODE_MAX_GB = 50.0  # larger datasets of large files stream (FastFile) instead of being copied first
SMALL_FILE_MB = 4.0  # below this average object size, per-object S3 latency dominates streaming reads
FILE_MODE_MAX_SMALL_FILES_GB = 2000.0  # small files up to this size are copied once (File) rather than streamed
IMAGE_FILE_KB = 110.0  # average ImageNet JPEG when num_files is not given (1.28M files, ~140 GB)
# CPU JPEG decode + random-resized-crop + flip, per vCPU: rule of thumb 50-200 images/s per core depending on
# resolution (https://www.systemoverflow.com/learn/ml-cv-systems/image-preprocessing/production-data-pipeline-design-and-throughput,
# read 2026-11-27); we take 100 per vCPU and keep one vCPU per GPU for the training process itself.
JPEG_DECODE_PER_VCPU = 100.0
SPOT_TIME_MARGIN = 1.5  # on spot the predicted time must fit max_hours 1.5 times over (interruptions, capacity waits)
CHECKPOINT_BYTES_PER_PARAM = 16  # bf16 weights + fp32 master + Adam moments, whole training state
LOCAL_CHECKPOINT_DIR = "/opt/ml/checkpoints"
DLC_ACCOUNT = "763104351884"  # AWS Deep Learning Containers registry


class Workload(StrictModel):
    """A model for the training planner, or a custom workload stated by its GPU needs."""

    model: ModelSpec | None = Field(default=None, description="Model as in the training planner (preset or HF fields).")
    training: TrainingSpec = Field(default_factory=TrainingSpec, description="Precision, optimizer, sequence, batch.")
    train_tokens: float | None = Field(default=None, ge=1, le=1e15, description="Tokens to train on in all (non-transformers: samples).")
    gpu_memory_gib: float | None = Field(default=None, ge=0.1, le=1024, description="Custom workload: GPU memory each GPU needs, GiB.")
    gpu_count: int | None = Field(default=None, ge=1, le=1024, description="Custom workload: GPUs it needs.")
    runtime_hours: float | None = Field(default=None, ge=0.01, le=672, description="Custom workload: expected wall time, hours.")
    checkpoint_gb: float | None = Field(default=None, ge=0, le=100_000, description="Checkpoint size, GB; default from parameters.")

    @model_validator(mode="after")
    def _one_kind(self) -> Workload:
        custom = (self.gpu_memory_gib, self.gpu_count, self.runtime_hours)
        if self.model is not None:
            if any(v is not None for v in custom):
                raise ValueError("workload: give a model or gpu_memory_gib/gpu_count/runtime_hours, not both")
            if self.train_tokens is None:
                raise ValueError("workload.train_tokens: required with a model (the time estimate needs it)")
        elif any(v is None for v in custom):
            raise ValueError("workload: give a model, or all of gpu_memory_gib, gpu_count and runtime_hours")
        return self


class TrainingCode(StrictModel):
    framework: Literal["pytorch", "tensorflow"] = Field(default="pytorch")
    framework_version: str = Field(max_length=256, default="2.6.0", pattern=r"^\d+\.\d+(\.\d+)?$", description="Framework version of the DLC image.")
    py_version: str = Field(max_length=256, default="py312", pattern=r"^py3\d{1,2}$", description="Python version tag of the DLC image.")
    image_uri: str | None = Field(max_length=2048, default=None, pattern=IMAGE_URI_PATTERN, description="ECR image; default: AWS's DLC for the framework.")
    entry_point: str = Field(max_length=256, default="train.py", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,255}\.py$", description="Training script in the source archive.")
    source_s3_uri: str | None = Field(max_length=2048, default=None, pattern=S3_URI_PATTERN, description="sourcedir.tar.gz on S3; omit when the image holds the code.")


class Dataset(StrictModel):
    train_s3_uri: str = Field(max_length=2048, pattern=S3_URI_PATTERN, description="S3 prefix of the training data.")
    validation_s3_uri: str | None = Field(max_length=2048, default=None, pattern=S3_URI_PATTERN, description="S3 prefix of validation data.")
    size_gb: float = Field(ge=0.001, le=1_000_000, description="Training data size, GB.")
    input_mode: Literal["auto", "File", "FastFile", "Pipe"] = Field(default="auto", description="auto: File for small files or up to 50 GB, else FastFile.")
    num_files: int | None = Field(default=None, ge=1, le=10**10, description="Objects under the prefix; default from the sample format.")
    sample_format: Literal["auto", "jpeg", "tokens", "records"] = Field(default="auto", description="auto: jpeg for CNN/ViT models, else tokens; jpeg is decoded on the CPU.")


class Budget(StrictModel):
    max_hours: float = Field(default=72.0, ge=0.1, le=672, description="Longest acceptable wall time, hours (28 days max).")
    max_cost_usd: float | None = Field(default=None, ge=0.01, le=1e8, description="Most the run may cost on demand, USD.")


class Spot(StrictModel):
    use_spot: bool = Field(default=False, description="Managed spot training (needs checkpoints).")
    assumed_discount: float = Field(default=0.6, ge=0, le=0.9, description="Assumed spot saving vs on-demand (0.6 = 60% off).")


class ParameterRange(StrictModel):
    name: str = Field(max_length=256, pattern=r"^[A-Za-z0-9_.-]{1,256}$")
    kind: Literal["continuous", "integer", "categorical"] = Field(description="Range type.")
    min_value: float | None = Field(default=None, ge=-1e12, le=1e12, description="Lower bound (continuous/integer).")
    max_value: float | None = Field(default=None, ge=-1e12, le=1e12, description="Upper bound (continuous/integer).")
    values: list[ShortStr] = Field(default_factory=list, max_length=30)
    scaling: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = Field(default="Auto")

    @model_validator(mode="after")
    def _bounds(self) -> ParameterRange:
        if self.name.lower().startswith("sagemaker_"):
            raise ValueError(f"tuning.ranges.{self.name}: names starting with sagemaker_ are reserved for the toolkit")
        if self.kind == "categorical":
            if not self.values:
                raise ValueError(f"tuning.ranges.{self.name}: categorical needs values")
        elif self.min_value is None or self.max_value is None or self.min_value >= self.max_value:
            raise ValueError(f"tuning.ranges.{self.name}: needs min_value < max_value")
        return self


class Tuning(StrictModel):
    objective_metric: str = Field(max_length=256, pattern=r"^[A-Za-z0-9_.:/-]{1,255}$")
    objective_type: Literal["Maximize", "Minimize"] = Field(description="Direction.")
    metric_regex: str = Field(min_length=1, max_length=500, description="Regex with one group that finds the metric in the logs.")
    ranges: list[ParameterRange] = Field(min_length=1, max_length=20)
    max_jobs: int = Field(default=20, ge=1, le=500, description="Training jobs in all.")
    max_parallel: int = Field(default=2, ge=1, le=100, description="Jobs at once.")


class PlanSageMakerJobRequest(StrictModel):
    job_name: str = Field(max_length=256, pattern=JOB_NAME_PATTERN, description="Training job name (letters, digits, hyphens; 63 max).")
    workload: Workload = Field(description="Model + tokens, or a custom GPU workload.")
    code: TrainingCode = Field(default_factory=TrainingCode, description="Framework, version, image, entry point.")
    dataset: Dataset = Field(description="Where the data is, its size and input mode wish.")
    aws: AwsPlacement = Field(description="Region, role, KMS, VPC, isolation.")
    output_s3_uri: str = Field(max_length=2048, pattern=S3_URI_PATTERN, description="Where model artifacts go.")
    checkpoint_s3_uri: str | None = Field(max_length=2048, default=None, pattern=S3_URI_PATTERN, description="Checkpoints; default <output>/checkpoints.")
    budget: Budget = Field(default_factory=Budget, description="Max hours and cost.")
    spot: Spot = Field(default_factory=Spot, description="Managed spot wishes.")
    hyperparameters: dict[ShortStr, ShortStr | BoundedInt | BoundedFloat | bool] = Field(default_factory=dict, max_length=90, description="Script hyperparameters.")
    max_instances: int = Field(default=16, ge=1, le=64, description="Most instances to consider.")
    encrypt_inter_node: bool = Field(default=False, description="EnableInterContainerTrafficEncryption (multi-node).")
    tuning: Tuning | None = Field(default=None, description="Optional hyperparameter tuning job.")


class InstanceOption(BaseModel):
    instance_type: str
    instance_count: int
    strategy: str | None = Field(description="Distribution strategy of the plan on it.")
    hours: float | None = Field(description="Predicted wall time incl. start-up, hours.")
    on_demand_usd: float | None
    spot_usd: float | None = Field(description="At the assumed spot discount.")
    rejected: str | None = Field(description="Why it was not chosen; null for the choice.")


class SageMakerJobPlan(Plan):
    def headline(self) -> str:
        c = self.chosen
        if not self.feasible or c is None:
            fix = f" {self.to_make_feasible[0]}" if self.to_make_feasible else ""
            return f"No instance type meets the memory, time and cost limits.{fix}"
        cost = f"${c.on_demand_usd:,.2f} on demand" if c.on_demand_usd is not None else "cost unknown"
        spot = f", ${c.spot_usd:,.2f} on spot" if c.spot_usd is not None else ""
        hours = f"{c.hours:,.1f} h" if c.hours is not None else "time unknown"
        return (f"{c.instance_count} x {c.instance_type} ({c.strategy or 'single device'}): {hours}, {cost}{spot}; "
                f"input mode {self.input_mode}, {self.volume_size_gb} GB volume.")

    def standing_caveats(self) -> list[str]:
        return list(self.notes)

    feasible: bool = Field(description="An instance meets memory, time and cost limits.")
    chosen: InstanceOption | None
    alternatives: list[InstanceOption] = Field(description="Other instance types, cheapest first, with why not.")
    to_make_feasible: list[str] = Field(description="When infeasible: what would make it feasible.")
    tokens_per_s: float | None = Field(description="Predicted training throughput on the choice (non-transformers: samples/s).")
    data_loading_samples_per_s: float | None = Field(description="CPU JPEG decode bound on the choice (jpeg data only).")
    checkpoint_per_trial: str | None = Field(description="Where each tuning trial keeps its own checkpoints.")
    input_mode: str = Field(description="File, FastFile or Pipe.")
    input_mode_reason: str
    volume_size_gb: int = Field(description="ResourceConfig.VolumeSizeInGB.")
    volume_basis: str = Field(description="How the volume was sized.")
    max_runtime_s: int
    spot_discount_assumed: float
    create_training_job: dict[str, Any] | None = Field(description="CreateTrainingJob request (botocore-validated).")
    model_trainer_code: str | None = Field(description="SageMaker Python SDK v3 ModelTrainer equivalent.")
    create_tuning_job: dict[str, Any] | None = Field(description="CreateHyperParameterTuningJob request, when asked.")
    tuning_max_cost_usd: float | None = Field(description="max_jobs x one job's on-demand cost.")
    notes: list[str]


def _counts(limit: int) -> list[int]:
    out, n = [], 1
    while n <= limit:
        out.append(n)
        n *= 2
    if out[-1] != limit:
        out.append(limit)
    return out


def _sample_format(req: PlanSageMakerJobRequest) -> str:
    fmt = req.dataset.sample_format
    if fmt != "auto":
        return fmt
    model = req.workload.model
    if model is None:
        return "records"
    return "jpeg" if resolve_model(model).family in ("cnn", "vit") else "tokens"


def _average_file_mb(req: PlanSageMakerJobRequest) -> float | None:
    d = req.dataset
    if d.num_files:
        return d.size_gb * 1e3 / d.num_files
    return IMAGE_FILE_KB / 1e3 if _sample_format(req) == "jpeg" else None


def _input_mode(req: PlanSageMakerJobRequest) -> tuple[str, str]:
    wish, size = req.dataset.input_mode, req.dataset.size_gb
    avg_mb = _average_file_mb(req)
    small = avg_mb is not None and avg_mb < SMALL_FILE_MB
    avg_kb = (avg_mb or 0.0) * 1e3
    if wish == "Pipe":
        return "Pipe", "Pipe as asked; FastFile gives the same streaming without Pipe-aware readers"
    if wish != "auto":
        if wish == "FastFile" and small:
            return wish, (f"FastFile as asked, but the objects average {avg_kb:.0f} KB: every open is an S3 "
                          "request; shard into >= 100 MB record files (WebDataset/TFRecord) or use File")
        return wish, f"{wish} as asked"
    if small and size <= FILE_MODE_MAX_SMALL_FILES_GB:
        files = req.dataset.num_files or round(size * 1e6 / avg_kb)
        return "File", (f"{files:,} objects averaging {avg_kb:.0f} KB: streaming (FastFile) would pay an S3 request "
                        f"per file on every epoch; copied once to local storage instead (counted in the time)")
    if small:
        return "FastFile", (f"{size:g} GB of small objects ({avg_kb:.0f} KB) is too large to copy: shard into "
                            ">= 100 MB record files (WebDataset/TFRecord) before streaming them with FastFile")
    if size <= FILE_MODE_MAX_GB:
        return "File", f"{size:g} GB <= {FILE_MODE_MAX_GB:g} GB: copied once to local storage, fastest random reads"
    return "FastFile", f"{size:g} GB > {FILE_MODE_MAX_GB:g} GB of large files: streamed from S3, no copy first"


def _decode_bound(req: PlanSageMakerJobRequest, inst: InstanceType, count: int) -> float | None:
    """Samples/s the instances' CPUs can decode (JPEG data only): count x (vCPUs - GPUs) x rate per vCPU."""
    if _sample_format(req) != "jpeg":
        return None
    return count * max(1, inst.vcpus - inst.gpu_count) * JPEG_DECODE_PER_VCPU


def _option(inst: InstanceType, count: int, hours: float | None, strategy: str | None, discount: float,
            rejected: str | None) -> InstanceOption:
    price = (inst.training_usd_per_hour or 0) * count
    cost = round(hours * price, 2) if hours is not None else None
    return InstanceOption(instance_type=inst.id, instance_count=count, strategy=strategy,
                          hours=round(hours, 3) if hours is not None else None, on_demand_usd=cost,
                          spot_usd=round(cost * (1 - discount), 2) if cost is not None else None, rejected=rejected)


def _evaluate_type(req: PlanSageMakerJobRequest, inst: InstanceType, startup: float) -> tuple[InstanceOption, float | None]:
    """The first count that fits within max_hours, or why none does; with its tokens/s."""
    w = req.workload
    framework = "tensorflow" if req.code.framework == "tensorflow" else "pytorch_fsdp"
    last_reason = "does not fit"
    assert inst.gpu is not None
    counts = _counts(req.max_instances)
    limit = req.budget.max_hours / (SPOT_TIME_MARGIN if req.spot.use_spot else 1.0)
    # tokens/s that finishes within the limit: a count before the last needs no layout slower than this (only the
    # last count's shortfall is reported), so its search skips what cannot reach it
    needed = (w.train_tokens or 0.0) / ((limit - startup) * 3600) if limit > startup else math.inf
    searches: list[tuple[SelectDistributionRequest, float]] = []
    if w.model is not None:
        for count in counts:
            cluster = ClusterSpec(gpu=inst.gpu, gpus_per_node=inst.gpu_count, nodes=count,
                                  inter_node_gbps=inst.network_gbps / 8 / inst.gpu_count,
                                  cpu_cores_per_node=max(1, inst.vcpus // 2))
            searches.append((SelectDistributionRequest(model=w.model, training=w.training, cluster=cluster,
                                                       framework=framework, top_k=1),
                             needed * (1 - 1e-9) if count != counts[-1] else -math.inf))
    for i, count in enumerate(counts):
        if w.model is None:
            assert w.gpu_memory_gib and w.gpu_count and w.runtime_hours
            if gpu_catalog()[inst.gpu].usable_memory_gib < w.gpu_memory_gib:
                return _option(inst, count, None, None, req.spot.assumed_discount,
                               f"{inst.gpu} holds {gpu_catalog()[inst.gpu].usable_memory_gib:g} GiB < "
                               f"{w.gpu_memory_gib:g} GiB needed"), None
            if count * inst.gpu_count < w.gpu_count:
                last_reason = f"{count * inst.gpu_count} GPUs < {w.gpu_count} needed"
                continue
            hours = w.runtime_hours + startup
            if req.spot.use_spot and hours * SPOT_TIME_MARGIN > req.budget.max_hours:
                return _option(inst, count, hours, "as stated", req.spot.assumed_discount,
                               f"on spot {hours:.1f} h x {SPOT_TIME_MARGIN:g} margin > max_hours "
                               f"{req.budget.max_hours:g}: use on-demand or allow more time"), None
            return _option(inst, count, hours, "as stated", req.spot.assumed_discount, None), None
        try:  # the larger counts are searched alongside (one grid pass) for when this one falls short
            best = best_layout(*searches[i], then=searches[i + 1:])
        except PlanInputError as err:  # e.g. bf16 asked on a GPU without it: this type cannot run the plan
            return _option(inst, count, None, None, req.spot.assumed_discount, str(err)), None
        if best is None:
            last_reason = f"does not fit on {count} x {inst.id}"
            continue
        assert w.train_tokens is not None
        rate = best.tokens_per_s
        bound = _decode_bound(req, inst, count)
        strategy = best.strategy
        if bound is not None and bound < rate:
            rate, strategy = bound, f"{best.strategy}, CPU-decode bound"
        hours = w.train_tokens / rate / 3600 + startup
        if hours > limit:
            last_reason = (f"{hours:.1f} h on {count} x {inst.id} > max_hours {req.budget.max_hours:g}"
                           + (f" / {SPOT_TIME_MARGIN:g} spot margin" if req.spot.use_spot else ""))
            continue
        return _option(inst, count, hours, strategy, req.spot.assumed_discount, None), rate
    return _option(inst, req.max_instances, None, None, req.spot.assumed_discount, last_reason), None


def _checkpoint_gb(req: PlanSageMakerJobRequest) -> float:
    w = req.workload
    if w.checkpoint_gb is not None:
        return w.checkpoint_gb
    if w.model is None:
        return 10.0
    return resolve_model(w.model).total_params * CHECKPOINT_BYTES_PER_PARAM / 1e9


def _image(req: PlanSageMakerJobRequest, inst: InstanceType) -> str:
    if req.code.image_uri:
        return req.code.image_uri
    repo = "pytorch-training" if req.code.framework == "pytorch" else "tensorflow-training"
    device = "gpu" if inst.gpu else "cpu"
    return (f"{DLC_ACCOUNT}.dkr.ecr.{req.aws.region}.amazonaws.com/{repo}:"
            f"{req.code.framework_version}-{device}-{req.code.py_version}")


def _hyperparameters(req: PlanSageMakerJobRequest, gpus: int) -> dict[str, str]:
    """JSON-encoded values, as the SageMaker training toolkit in the DLC images decodes them."""
    reserved = sorted(k for k in req.hyperparameters if k.lower().startswith("sagemaker_"))
    if reserved:  # the toolkit downloads and runs sagemaker_submit_directory / sagemaker_program
        raise PlanInputError("hyperparameters", f"{reserved[0][:64]!r}: names starting with sagemaker_ are reserved "
                             "for the training toolkit; use code.source_s3_uri and code.entry_point")
    hp: dict[str, Any] = dict(req.hyperparameters)
    if req.code.source_s3_uri:
        hp["sagemaker_program"] = req.code.entry_point
        hp["sagemaker_submit_directory"] = req.code.source_s3_uri
    if gpus > 1:
        key = ("sagemaker_torch_distributed_enabled" if req.code.framework == "pytorch"
               else "sagemaker_multi_worker_mirrored_strategy_enabled")
        hp[key] = True
    return {k: json.dumps(v) for k, v in sorted(hp.items())}


def _training_job(req: PlanSageMakerJobRequest, inst: InstanceType, count: int, mode: str, volume: int,
                  max_runtime: int, checkpoint_uri: str) -> dict[str, Any]:
    channels = [("train", req.dataset.train_s3_uri)]
    if req.dataset.validation_s3_uri:
        channels.append(("validation", req.dataset.validation_s3_uri))
    resource: dict[str, Any] = {"InstanceType": inst.id, "InstanceCount": count, "VolumeSizeInGB": volume}
    if req.aws.kms_key_id and not inst.local_nvme:
        resource["VolumeKmsKeyId"] = req.aws.kms_key_id
    stopping: dict[str, Any] = {"MaxRuntimeInSeconds": max_runtime}
    if req.spot.use_spot:  # wall clock including spot waits: the time budget, never below the runtime
        stopping["MaxWaitTimeInSeconds"] = max(max_runtime, min(MAX_RUNTIME_S, math.ceil(req.budget.max_hours * 3600)))
    output: dict[str, Any] = {"S3OutputPath": req.output_s3_uri}
    if req.aws.kms_key_id:
        output["KmsKeyId"] = req.aws.kms_key_id
    job: dict[str, Any] = {
        "TrainingJobName": req.job_name,
        "RoleArn": req.aws.role_arn,
        "AlgorithmSpecification": {"TrainingImage": _image(req, inst), "TrainingInputMode": mode,
                                   "EnableSageMakerMetricsTimeSeries": True},
        "HyperParameters": _hyperparameters(req, count * inst.gpu_count),
        "InputDataConfig": [{"ChannelName": name, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}}}
            for name, uri in channels],
        "OutputDataConfig": output,
        "ResourceConfig": resource,
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": req.spot.use_spot,
        "CheckpointConfig": {"S3Uri": checkpoint_uri, "LocalPath": LOCAL_CHECKPOINT_DIR},
        "EnableNetworkIsolation": req.aws.network_isolation,
        "EnableInterContainerTrafficEncryption": req.encrypt_inter_node and count > 1,
        "Tags": [{"Key": "planned-by", "Value": "ml-expert-mcp"}],
    }
    vpc = req.aws.vpc_config()
    if vpc:
        job["VpcConfig"] = vpc
    return job


def _tuning_checkpoint_uri(req: PlanSageMakerJobRequest, job: dict[str, Any]) -> str:
    return f"{job['CheckpointConfig']['S3Uri'].rstrip('/')}/{_tuning_name(req)}"


def _tuning_name(req: PlanSageMakerJobRequest) -> str:
    return req.job_name[:32].rstrip("-")


def _tuning_job(req: PlanSageMakerJobRequest, job: dict[str, Any]) -> dict[str, Any]:
    t = req.tuning
    assert t is not None
    ranges: dict[str, list[dict[str, Any]]] = {"ContinuousParameterRanges": [], "IntegerParameterRanges": [],
                                               "CategoricalParameterRanges": []}
    for r in t.ranges:
        if r.kind == "categorical":
            ranges["CategoricalParameterRanges"].append({"Name": r.name, "Values": list(r.values)})
        else:
            lo, hi = (f"{r.min_value:g}", f"{r.max_value:g}") if r.kind == "continuous" else \
                (str(math.floor(r.min_value or 0)), str(math.ceil(r.max_value or 0)))
            key = "ContinuousParameterRanges" if r.kind == "continuous" else "IntegerParameterRanges"
            ranges[key].append({"Name": r.name, "MinValue": lo, "MaxValue": hi, "ScalingType": r.scaling})
    tuned = {r.name for r in t.ranges}
    definition = {k: job[k] for k in ("RoleArn", "InputDataConfig", "OutputDataConfig", "ResourceConfig",
                                      "StoppingCondition", "EnableManagedSpotTraining",
                                      "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption")}
    # One prefix per tuning job; each trial writes under its own training job name below it (see the plan's
    # checkpoint_per_trial), so parallel trials never resume from each other's checkpoints.
    definition["CheckpointConfig"] = {"S3Uri": _tuning_checkpoint_uri(req, job), "LocalPath": LOCAL_CHECKPOINT_DIR}
    if "VpcConfig" in job:
        definition["VpcConfig"] = job["VpcConfig"]
    spec = job["AlgorithmSpecification"]
    definition["AlgorithmSpecification"] = {
        "TrainingImage": spec["TrainingImage"], "TrainingInputMode": spec["TrainingInputMode"],
        "MetricDefinitions": [{"Name": t.objective_metric, "Regex": t.metric_regex}]}
    definition["StaticHyperParameters"] = {k: v for k, v in job["HyperParameters"].items() if k not in tuned}
    return {
        "HyperParameterTuningJobName": _tuning_name(req),
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": t.objective_type, "MetricName": t.objective_metric},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": t.max_jobs, "MaxParallelTrainingJobs": t.max_parallel},
            "ParameterRanges": ranges,
            "TrainingJobEarlyStoppingType": "Auto",
        },
        "TrainingJobDefinition": definition,
    }


@tool("Plan a SageMaker training job")
def plan_sagemaker_job(req: PlanSageMakerJobRequest) -> SageMakerJobPlan:
    """Cheapest ml.* instance type and count the training plan fits on within time and cost limits: CreateTrainingJob
    request (spot, checkpoints, input mode), ModelTrainer v3 code, cost, time, optional tuning job.
    """
    # Cheapest instance type and count that fits, its CreateTrainingJob request, ModelTrainer code, cost and time.
    require_priced_region(req.aws.region)
    if req.spot.use_spot and req.workload.model is None and req.workload.checkpoint_gb == 0:
        raise PlanInputError("spot.use_spot", "managed spot needs checkpoints; give workload.checkpoint_gb > 0")
    if req.tuning and req.tuning.max_parallel > req.tuning.max_jobs:
        raise PlanInputError("tuning.max_parallel", "must not exceed tuning.max_jobs")
    mode, mode_reason = _input_mode(req)
    options: list[tuple[InstanceOption, float | None, InstanceType]] = []
    for inst in instance_catalog().values():
        if not inst.training or inst.gpu is None:
            continue
        copy_hours = req.dataset.size_gb * 8 / min(inst.network_gbps, S3_GBPS_PER_INSTANCE) / 3600 if mode == "File" else 0
        option, tps = _evaluate_type(req, inst, STARTUP_HOURS + copy_hours)
        if option.rejected is None and req.budget.max_cost_usd is not None and \
                (option.on_demand_usd or 0) > req.budget.max_cost_usd:
            option = option.model_copy(update={"rejected": f"${option.on_demand_usd:,.0f} > max_cost_usd "
                                                           f"${req.budget.max_cost_usd:,.0f}"})
        options.append((option, tps, inst))
    ok = sorted((o for o in options if o[0].rejected is None), key=lambda o: (o[0].on_demand_usd, o[0].hours))
    rejected = sorted((o for o in options if o[0].rejected is not None),
                      key=lambda o: (o[0].on_demand_usd is None, o[0].on_demand_usd or 0, o[0].instance_type))
    notes = [f"prices: on-demand {req.aws.region} "
             "(knowledge/instances.toml, with sources); spot at the assumed discount, not a quote",
             *(model_caveats(resolve_model(req.workload.model)) if req.workload.model is not None else [])]
    ckpt_gb = _checkpoint_gb(req)
    if not ok:
        fixes = []
        priced = [o for o in rejected if o[0].on_demand_usd is not None]
        if priced:
            cheapest = priced[0][0]
            fixes.append(f"raise budget.max_cost_usd to ${cheapest.on_demand_usd:,.0f} ({cheapest.instance_count} x "
                         f"{cheapest.instance_type}, {cheapest.hours:.1f} h)")
        fixes.append(f"raise budget.max_hours above {req.budget.max_hours:g} or max_instances above {req.max_instances}")
        if req.workload.model is not None:
            fixes.append("shorten training (fewer train_tokens) or shrink the model / sequence length")
        return SageMakerJobPlan(
            feasible=False, chosen=None, alternatives=[o[0] for o in rejected][:12], to_make_feasible=fixes,
            tokens_per_s=None, data_loading_samples_per_s=None, checkpoint_per_trial=None,
            input_mode=mode, input_mode_reason=mode_reason, volume_size_gb=0, volume_basis="",
            max_runtime_s=0, spot_discount_assumed=req.spot.assumed_discount, create_training_job=None,
            model_trainer_code=None, create_tuning_job=None, tuning_max_cost_usd=None, notes=notes)
    chosen, tps, inst = ok[0]
    count = chosen.instance_count
    data_gb = req.dataset.size_gb if mode == "File" else 0.0
    volume = max(30, math.ceil(1.2 * (data_gb + 2 * ckpt_gb / count) + 10))
    basis = (f"1.2 x ({data_gb:g} GB data on disk + 2 checkpoints x {ckpt_gb / count:.1f} GB per instance) + 10 GB, "
             "at least 30")
    if inst.local_nvme:
        notes.append(f"{inst.id} has NVMe instance storage: SageMaker attaches no EBS volume, so VolumeSizeInGB is "
                     "not used and the volume is encrypted by the instance (no VolumeKmsKeyId)")
    assert chosen.hours is not None
    max_runtime = min(MAX_RUNTIME_S, math.ceil((chosen.hours * 1.25 + 0.25) * 3600),
                      math.ceil(req.budget.max_hours * 3600))
    checkpoint_uri = req.checkpoint_s3_uri or f"{req.output_s3_uri.rstrip('/')}/{req.job_name}/checkpoints"
    job = _training_job(req, inst, count, mode, volume, max_runtime, checkpoint_uri)
    require_valid("sagemaker", "CreateTrainingJob", job, "job_name")
    tuning = _tuning_job(req, job) if req.tuning else None
    if tuning is not None:
        require_valid("sagemaker", "CreateHyperParameterTuningJob", tuning, "tuning")
    if req.spot.use_spot:
        notes.append(f"managed spot: the script must resume from {LOCAL_CHECKPOINT_DIR}; types whose predicted time "
                     f"x {SPOT_TIME_MARGIN:g} exceeds max_hours were rejected (interruptions and capacity waits); "
                     "MaxWaitTimeInSeconds is the max_hours budget")
    decode = _decode_bound(req, inst, count)
    if decode is not None:
        notes.append(f"JPEG decode bound: {count} x ({inst.vcpus} vCPUs - {inst.gpu_count} for the trainer) x "
                     f"{JPEG_DECODE_PER_VCPU:g} images/s per vCPU = {decode:,.0f} images/s"
                     + (" (binding: GPU decode with DALI/nvJPEG or more vCPUs would go faster)" if tps and
                        decode <= tps + 1e-6 else ""))
    per_trial = None
    if tuning is not None:
        per_trial = (f"write and resume checkpoints in {LOCAL_CHECKPOINT_DIR}/$TRAINING_JOB_NAME (set by SageMaker "
                     f"in every trial's container): synced to {_tuning_checkpoint_uri(req, job)}/<trial job name>/")
        notes.append("tuning: " + per_trial)
    if mode == "Pipe":
        notes.append("Pipe mode is legacy: FastFile streams the same data through a file system interface")
    return SageMakerJobPlan(
        feasible=True, chosen=chosen, alternatives=[o[0].model_copy(update={"rejected": o[0].rejected or
                                                    f"costs ${o[0].on_demand_usd:,.0f} vs ${chosen.on_demand_usd:,.0f}"})
                                                    for o in ok[1:]][:8] + [o[0] for o in rejected][:6],
        to_make_feasible=[], tokens_per_s=round(tps, 1) if tps else None,
        data_loading_samples_per_s=round(decode, 1) if decode is not None else None, checkpoint_per_trial=per_trial,
        input_mode=mode,
        input_mode_reason=mode_reason, volume_size_gb=volume, volume_basis=basis, max_runtime_s=max_runtime,
        spot_discount_assumed=req.spot.assumed_discount, create_training_job=job,
        model_trainer_code=model_trainer_code(job, req.code.entry_point, count),
        create_tuning_job=tuning,
        tuning_max_cost_usd=round(req.tuning.max_jobs * (chosen.on_demand_usd or 0), 2) if req.tuning else None,
        notes=notes)
