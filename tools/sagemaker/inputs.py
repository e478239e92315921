"""Inputs shared by the SageMaker planners: where it runs (region, role, S3, KMS, VPC) and name rules."""

from __future__ import annotations

import re

from pydantic import Field

from ml_expert_mcp.knowledge import instance_catalog
from ml_expert_mcp.tools.common.bounded import ShortStr
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.models import StrictModel
from ml_expert_mcp.tools.common.patterns import ROLE_ARN_PATTERN

# Patterns from botocore's sagemaker model (anchored here; AWS applies them to the whole value).
JOB_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
KMS_KEY_PATTERN = r"^[a-zA-Z0-9:/_-]{1,2048}$"
SUBNET_PATTERN = r"^subnet-[0-9a-f]{8,17}$"
SECURITY_GROUP_PATTERN = r"^sg-[0-9a-f]{8,17}$"



class AwsPlacement(StrictModel):
    region: str = Field(max_length=256, default="us-east-1", pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="AWS region; prices are known for us-east-1.")
    role_arn: str = Field(max_length=2048, pattern=ROLE_ARN_PATTERN, description="SageMaker execution role ARN.")
    kms_key_id: str | None = Field(max_length=256, default=None, pattern=KMS_KEY_PATTERN, description="KMS key for outputs and volumes.")
    subnets: list[ShortStr] = Field(default_factory=list, max_length=16, description="VPC subnet ids (subnet-...).")
    security_group_ids: list[ShortStr] = Field(default_factory=list, max_length=5, description="Security group ids (sg-...).")
    network_isolation: bool = Field(default=False, description="EnableNetworkIsolation: no outbound network from the container.")

    def vpc_config(self) -> dict[str, list[str]] | None:
        if not self.subnets and not self.security_group_ids:
            return None
        if not self.subnets or not self.security_group_ids:
            raise PlanInputError("aws.subnets", "give both subnets and security_group_ids for a VPC, or neither")
        for s in self.subnets:
            if not re.fullmatch(SUBNET_PATTERN, s):
                raise PlanInputError("aws.subnets", f"{s!r} is not a subnet id (subnet-<hex>)")
        for g in self.security_group_ids:
            if not re.fullmatch(SECURITY_GROUP_PATTERN, g):
                raise PlanInputError("aws.security_group_ids", f"{g!r} is not a security group id (sg-<hex>)")
        return {"SecurityGroupIds": list(self.security_group_ids), "Subnets": list(self.subnets)}


def priced_regions() -> list[str]:
    return sorted({i.price_region for i in instance_catalog().values()})


def require_priced_region(region: str) -> None:
    if region not in priced_regions():
        raise PlanInputError("aws.region", f"no instance prices for {region!r}; accepted: {', '.join(priced_regions())}")
