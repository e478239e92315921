"""Output of plan_tf_serving: the batching decision, per-replica predictions, capacity, artifacts and rollout."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ml_expert_mcp.tools.common.models import Plan
from ml_expert_mcp.tools.serving.latency import OperatingPoint


class LatencyModel(BaseModel):
    source: str = Field(description="'measured' (your points) or 'estimated' (FLOPs on the catalogue hardware).")
    points_ms: list[list[float]] = Field(description="[batch_size, execution ms] pairs the model interpolates.")
    assumptions: list[str] = Field(description="What the curve rests on.")
    expected_error_factor: float = Field(default=1.0, description="Estimates: the error band (x either way) capacity is planned against; 1 for measured curves.")


class BatchingDecision(BaseModel):
    enabled: bool = Field(description="--enable_batching; off when it does not pay.")
    max_batch_size: int = Field(description="Examples per batch at most.")
    batch_timeout_micros: int = Field(description="Longest wait for a batch to fill, microseconds.")
    num_batch_threads: int = Field(description="Batches processed in parallel: 1, the model runs one batch at a time.")
    max_enqueued_batches: int = Field(description="Queue length in batches: those that can still meet the SLA.")
    allowed_batch_sizes: list[int] = Field(description="Padding targets, increasing, ending at max_batch_size; empty = none.")
    pad_variable_length_inputs: bool = Field(description="Pad variable-length inputs to batch them.")
    reason: str = Field(description="Why this setting, with the capacity figures.")
    guide: str = Field(description="The official batching guide followed.")


class ReplicaPrediction(BaseModel):
    arrival_rps: float = Field(description="Requests per second reaching one replica.")
    batch_examples: float = Field(description="Expected examples per executed batch (before padding).")
    executed_batch: int = Field(description="Batch size executed after padding.")
    execution_ms: float = Field(description="t(executed batch), ms.")
    fill_wait_ms: float = Field(description="Wait for the batch to fill or time out, ms.")
    device_wait_ms: float = Field(description="Wait for the device at the percentile, ms.")
    latency_ms: float = Field(description="Predicted server latency at the SLA percentile, ms.")
    percentile: str = Field(description="p95 or p99.")
    device_busy: float = Field(description="Fraction of time the device is executing.")
    load_fraction: float = Field(description="Arrival / throughput ceiling at max_batch_size.")
    regime: str = Field(description="timeout-bound, device-bound or full batches.")

    @classmethod
    def of(cls, point: OperatingPoint, request_examples: int, percentile: str) -> ReplicaPrediction:
        return cls(arrival_rps=round(point.arrival / request_examples, 3), batch_examples=round(point.batch, 3),
                   executed_batch=point.executed_batch, execution_ms=round(point.service_s * 1e3, 4),
                   fill_wait_ms=round(point.fill_s * 1e3, 4), device_wait_ms=round(min(point.wait_s, 1e9) * 1e3, 4),
                   latency_ms=round(min(point.latency_s, 1e9) * 1e3, 4), percentile=percentile,
                   device_busy=round(min(point.busy, 1.0), 4), load_fraction=round(point.load, 4), regime=point.regime)


class TFServingCandidate(BaseModel):
    max_batch_size: int = Field(description="Examples per batch at most.")
    batch_timeout_micros: int = Field(description="Batch timeout, microseconds.")
    sla_capacity_rps: float = Field(description="Highest requests/s per replica that meets the SLA.")


class CapacityPlan(BaseModel):
    sla_capacity_rps_per_replica: float = Field(description="Highest requests/s one replica serves within the SLA.")
    planned_rps_per_replica: float = Field(description="That times (1 - headroom): the load a replica is planned for.")
    headroom: float = Field(description="Share of SLA capacity kept free at peak.")
    replicas_at_peak: int = Field(description="Replicas for the peak load.")
    replicas_at_average: int = Field(description="Replicas the autoscaler settles at for the average load.")
    min_replicas: int = Field(description="HPA minReplicas.")
    max_replicas: int = Field(description="HPA maxReplicas.")
    load_fraction_at_peak: float = Field(description="Per-replica arrival over throughput ceiling, at peak.")


class TFServingArtifacts(BaseModel):
    models_config: str = Field(description="models.config (ModelServerConfig, text format).")
    batching_parameters: str | None = Field(description="batching_parameters.txt (BatchingParameters); null when off.")
    monitoring_config: str = Field(description="monitoring.config (MonitoringConfig): Prometheus on the REST port.")
    command: list[str] = Field(description="tensorflow_model_server argv.")
    command_line: str = Field(description="The same, shell-quoted.")
    kubernetes_yaml: str = Field(description="ConfigMap, Deployment, Service, HPA autoscaling/v2, PodDisruptionBudget.")
    prometheus_adapter_rules: str = Field(description="prometheus-adapter rules serving the HPA's custom metrics.")
    kubernetes_version: str = Field(description="Kubernetes schema version the manifests target.")


class RolloutStep(BaseModel):
    step: int
    action: str = Field(description="What to change.")
    versions: list[int] = Field(description="Versions loaded (model_version_policy specific).")
    labels: dict[str, int] = Field(description="version_labels after this step.")
    advance_when: str = Field(description="Condition to go to the next step.")


class WatchMetric(BaseModel):
    metric: str = Field(description="Prometheus metric exported by TF Serving.")
    promql: str = Field(description="Query to chart or alert on.")
    why: str


class TFServingPlan(Plan):
    def headline(self) -> str:
        b, c, p = self.batching, self.capacity, self.at_peak
        batching = (f"max_batch_size {b.max_batch_size}, timeout {b.batch_timeout_micros} us" if b.enabled
                    else "no server-side batching")
        verdict = "meets" if self.feasible else "does NOT meet"
        return (f"{c.replicas_at_peak} replica(s) at peak ({c.sla_capacity_rps_per_replica:,.0f} req/s each within "
                f"the SLA, planned at {c.planned_rps_per_replica:,.0f}); {batching}; {p.percentile} "
                f"{p.latency_ms:.1f} ms at peak, which {verdict} the SLA. Latency from {self.latency_model.source}.")

    def standing_caveats(self) -> list[str]:
        return list(self.warnings)

    feasible: bool = Field(description="False when no setting meets the SLA (see warnings).")
    latency_model: LatencyModel
    batching: BatchingDecision
    at_peak: ReplicaPrediction = Field(description="One replica at peak load with replicas_at_peak replicas.")
    at_average: ReplicaPrediction = Field(description="One replica at average load with replicas_at_average replicas.")
    candidates: list[TFServingCandidate] = Field(description="The chosen setting, then the best timeout of up to five other max_batch_size values.")
    capacity: CapacityPlan
    artifacts: TFServingArtifacts
    rollout: list[RolloutStep] = Field(description="Canary rollout with version labels.")
    monitoring: list[WatchMetric]
    warnings: list[str]
