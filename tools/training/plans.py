"""Output models shared by the training tools (memory breakdown, ranked layouts)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ml_expert_mcp.tools.common.models import Plan
from ml_expert_mcp.tools.training.inputs import Layout


class MemoryTerm(BaseModel):
    name: str = Field(description="Term of the breakdown.")
    gib: float = Field(description="GiB per GPU.")
    basis: str = Field(description="Formula or source, short.")


class MemoryEstimate(Plan):
    def headline(self) -> str:
        verdict = "fits" if self.fits else "does NOT fit"
        text = (f"This layout {verdict} on {self.gpu}: peak {self.peak_allocated_gib:,.1f} GiB allocated "
                f"({self.peak_reserved_gib:,.1f} reserved, {self.device_total_gib:,.1f} on the device, at "
                f"{self.peak_phase}) of {self.usable_gib:,.1f} GiB usable.")
        if self.step_time_s:
            text += (f" Predicted step {self.step_time_s:.3g} s for {self.global_batch_size} samples: "
                     f"{self.samples_per_s:,.1f} samples/s, {self.tokens_per_s:,.0f} tokens/s, MFU {self.mfu:.1%}.")
        if not self.fits and self.to_make_it_fit:
            text += f" To make it fit: {self.to_make_it_fit[0]}"
        return text

    gpu: str = Field(description="GPU id.")
    breakdown: list[MemoryTerm] = Field(description="Every term, GiB per GPU.")
    peak_phase: str = Field(description="Where the peak occurs: start_of_backward, end_of_backward, optimizer_step.")
    peak_allocated_gib: float = Field(description="Predicted torch.cuda.max_memory_allocated(), GiB.")
    peak_reserved_gib: float = Field(description="Predicted torch.cuda.max_memory_reserved(), GiB (allocator fragmentation included).")
    device_total_gib: float = Field(description="Reserved + CUDA context (+ NCCL buffers), what nvidia-smi shows, GiB.")
    usable_gib: float = Field(description="GPU memory the framework can use, GiB.")
    fits: bool = Field(description="device_total_gib <= usable_gib x (1 - memory_headroom).")
    memory_headroom: float = Field(default=0.06, description="Share of memory kept free.")
    headroom_gib: float = Field(description="Allowed minus device total, GiB (negative: short).")
    global_batch_size: int = Field(default=0, description="Samples per step.")
    step_time_s: float | None = Field(default=None, description="Predicted step time, s.")
    tokens_per_s: float | None = Field(default=None, description="Tokens/s (images/s for CNNs).")
    samples_per_s: float | None = Field(default=None, description="Samples/s.")
    mfu: float | None = Field(default=None, description="MFU, 0-1.")
    to_make_it_fit: list[str] = Field(default_factory=list, description="Changes that would fit, when it does not.")
    assumptions: list[str] = Field(description="What the estimate assumes.")


class RankedLayout(BaseModel):
    rank: int = Field(description="1 = best predicted throughput.")
    strategy: str = Field(description="Human name, e.g. 'FSDP full shard + TP2'.")
    layout: Layout
    peak_allocated_gib: float = Field(description="Predicted peak allocated memory per GPU, GiB.")
    device_total_gib: float = Field(description="Predicted device memory per GPU incl. context, GiB.")
    step_time_s: float = Field(description="Predicted optimizer-step time, seconds.")
    tokens_per_s: float = Field(description="Cluster tokens/s (images/s for CNNs).")
    samples_per_s: float = Field(default=0.0, description="Samples/s.")
    mfu: float = Field(description="Model FLOPs utilisation, 0-1 (6N + 12Lhs FLOPs per token).")
    step_breakdown_s: dict[str, float] = Field(description="compute, tensor_parallel, data_parallel_exposed, pipeline_bubble, other (s).")
    reasons: list[str] = Field(description="Why this layout.")
