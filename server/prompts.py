"""MCP prompts: typed arguments in, a rendered template from `prompts/` out."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ml_expert_mcp.prompts import render


def plan_distributed_training(
    model: Annotated[str, Field(description="Model preset or name, e.g. llama-3.1-70b.")],
    gpu: Annotated[str, Field(description="GPU id, e.g. H100-SXM-80GB.")] = "H100-SXM-80GB",
    num_gpus: Annotated[str, Field(description="Total GPUs, e.g. 64.")] = "8",
    framework: Annotated[str, Field(description="pytorch_fsdp, deepspeed, megatron, accelerate, lightning or tensorflow.")] = "pytorch_fsdp",
    goal: Annotated[str, Field(description="Optional goal, e.g. 'pre-training 1T tokens'.")] = "",
) -> str:
    """Plan a distributed training run with the training tools, in order."""
    return render("plan_distributed_training", model=model, gpu=gpu, num_gpus=num_gpus, framework=framework, goal=goal)


def review_serving_setup(
    model_name: Annotated[str, Field(description="Served model name.")],
    setup: Annotated[str, Field(description="The current setup: configs, server, hardware, autoscaling.")],
    latency_sla_ms: Annotated[str, Field(description="p95 latency target, ms.")] = "100",
    peak_rps: Annotated[str, Field(description="Peak requests per second.")] = "100",
) -> str:
    """Review a model-serving setup against a latency SLA and current best practice."""
    return render("review_serving_setup", model_name=model_name, setup=setup, latency_sla_ms=latency_sla_ms,
                  peak_rps=peak_rps)


def design_mlops_platform(
    team_size: Annotated[str, Field(description="People using the platform.")] = "10",
    cloud: Annotated[str, Field(description="Where it runs: aws, gcp, azure, kubernetes, single VM.")] = "kubernetes",
    constraints: Annotated[str, Field(description="Optional constraints (compliance, budget, existing tools).")] = "",
) -> str:
    """Design an MLOps platform (tracking, registry, CI/CD, serving, monitoring) with the tools."""
    return render("design_mlops_platform", team_size=team_size, cloud=cloud, constraints=constraints)


PROMPTS = (plan_distributed_training, review_serving_setup, design_mlops_platform)
