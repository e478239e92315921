"""SageMaker Python SDK v3 code equivalent to a CreateTrainingJob request (v3 replaced Estimator by ModelTrainer).

Every value is written with repr(), so any string a user supplied is a Python literal that reads back intact.
"""

from __future__ import annotations

import json
from typing import Any

# Keys the SageMaker training toolkit reads; ModelTrainer sets its own equivalents (source_code, distributed).
TOOLKIT_KEYS = frozenset({"sagemaker_program", "sagemaker_submit_directory", "sagemaker_torch_distributed_enabled",
                          "sagemaker_multi_worker_mirrored_strategy_enabled"})


def _kwargs(pairs: list[tuple[str, Any]], indent: str) -> str:
    return ",\n".join(f"{indent}{k}={v!r}" for k, v in pairs if v is not None)


def model_trainer_code(job: dict[str, Any], entry_point: str, count: int) -> str:
    spec, res, stop = job["AlgorithmSpecification"], job["ResourceConfig"], job["StoppingCondition"]
    hp = {k: json.loads(v) for k, v in job["HyperParameters"].items() if k not in TOOLKIT_KEYS}
    distributed = any(k == "sagemaker_torch_distributed_enabled" for k in job["HyperParameters"])
    vpc = job.get("VpcConfig", {})
    inputs = [(c["ChannelName"], c["DataSource"]["S3DataSource"]["S3Uri"]) for c in job["InputDataConfig"]]
    lines = [
        "from sagemaker.train import ModelTrainer",
        "from sagemaker.train.configs import (",
        "    CheckpointConfig, Compute, InputData, Networking, OutputDataConfig, SourceCode, StoppingCondition,",
        ")",
    ]
    if distributed:
        lines.append("from sagemaker.train.distributed import Torchrun")
    lines += [
        "",
        "trainer = ModelTrainer(",
        f"    training_image={spec['TrainingImage']!r},",
        f"    role={job['RoleArn']!r},",
        f"    base_job_name={job['TrainingJobName']!r},",
        f"    training_input_mode={spec['TrainingInputMode']!r},",
        f"    source_code=SourceCode(source_dir='.', entry_script={entry_point!r}),",
        "    compute=Compute(",
        _kwargs([("instance_type", res["InstanceType"]), ("instance_count", count),
                 ("volume_size_in_gb", res["VolumeSizeInGB"]), ("volume_kms_key_id", res.get("VolumeKmsKeyId")),
                 ("enable_managed_spot_training", job["EnableManagedSpotTraining"])], "        ") + ",",
        "    ),",
        "    stopping_condition=StoppingCondition(",
        _kwargs([("max_runtime_in_seconds", stop["MaxRuntimeInSeconds"]),
                 ("max_wait_time_in_seconds", stop.get("MaxWaitTimeInSeconds"))], "        ") + ",",
        "    ),",
        "    output_data_config=OutputDataConfig(",
        _kwargs([("s3_output_path", job["OutputDataConfig"]["S3OutputPath"]),
                 ("kms_key_id", job["OutputDataConfig"].get("KmsKeyId"))], "        ") + ",",
        "    ),",
        f"    checkpoint_config=CheckpointConfig(s3_uri={job['CheckpointConfig']['S3Uri']!r}, "
        f"local_path={job['CheckpointConfig']['LocalPath']!r}),",
        "    networking=Networking(",
        _kwargs([("subnets", vpc.get("Subnets")), ("security_group_ids", vpc.get("SecurityGroupIds")),
                 ("enable_network_isolation", job["EnableNetworkIsolation"]),
                 ("enable_inter_container_traffic_encryption", job["EnableInterContainerTrafficEncryption"])],
                "        ") + ",",
        "    ),",
        f"    hyperparameters={hp!r},",
    ]
    if distributed:
        lines.append("    distributed=Torchrun(),")
    lines += [
        ")",
        "trainer.train(",
        "    input_data_config=[",
        *[f"        InputData(channel_name={name!r}, data_source={uri!r})," for name, uri in inputs],
        "    ],",
        "    wait=False,",
        ")",
    ]
    return "\n".join(lines) + "\n"
