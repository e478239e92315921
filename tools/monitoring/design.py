"""design_model_monitoring: drift checks sized so a stated shift is caught with a stated power at a stated
false-alarm rate, performance checks that wait for labels, alert rules and the retraining trigger.

Sizing (per feature, closed form, no simulation): a binned two-sample statistic on B bins is, with no shift,
PSI ~ (1/n + 1/m) chi2(B-1), Jensen-Shannon ~ (1/n + 1/m) chi2(B-1) / 8 and Pearson X2 ~ chi2(B-1). The alarm
threshold is the (1 - alpha) quantile of that law, so the false-alarm rate is alpha whatever n is. With a shift,
the statistic is noncentral with noncentrality N_eff * d, N_eff = 1 / (1/n + 1/m) and d the chi-squared
divergence (midpoint) of the shift; d is taken from the PSI the caller states through the hardest shape of that
PSI on B equal bins (all of it moved between two bins). The noncentrality that gives the power fixes N_eff, hence
the window n for a reference m. tests/test_monitoring_design.py checks power and false alarms by Monte Carlo.
"""

from __future__ import annotations

import math

from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.monitoring import artifacts, stats
from ml_expert_mcp.tools.monitoring.facts import cite
from ml_expert_mcp.tools.monitoring.inputs import DesignMonitoringRequest, MonitoredFeature, PerformanceMetric
from ml_expert_mcp.tools.monitoring.plans import (
    FeatureCheck,
    MonitoringDesign,
    PerformancePlan,
    RetrainingTrigger,
    WindowPlan,
)

PIPELINE_TOOL = "design_ml_pipeline"
STATISTIC = {"numeric": "psi", "count": "chi_squared", "categorical": "jensen_shannon", "boolean": "chi_squared"}
QUANTILE_BINS = 10  # deciles of the reference, the PSI convention (source psi_deciles)
MAX_CATEGORY_BINS = 20
MIN_EXPECTED_PER_BIN = 5  # the chi-squared approximation's usual floor
EXACT_BINOMIAL_MAX = 20_000  # labels up to which the performance test counts the exact binomial tail
REFERENCE_PER_WINDOW = 4  # default reference: 4 windows, so its noise costs 25% of N_eff


def bins_for(feature: MonitoredFeature) -> int:
    if feature.type == "boolean":
        return 2
    if feature.type == "categorical":
        return min(feature.categories, MAX_CATEGORY_BINS)
    return QUANTILE_BINS


def binning_text(feature: MonitoredFeature, bins: int) -> str:
    if feature.type == "numeric":
        return f"{bins} equal-frequency bins at the reference deciles; values outside go to the end bins"
    if feature.type == "count":
        return f"up to {bins} bins at the reference deciles; tied edges merge (the job recomputes the threshold for the bins left)"
    if feature.type == "boolean":
        return "2 bins: false, true"
    if feature.categories > bins:
        return f"the {bins - 1} most frequent reference categories + one 'other' bin for the rest and unseen values"
    return f"{bins} reference categories; unseen values go to an 'other' bin"


def midpoint_divergence(psi: float, bins: int) -> float:
    """Chi-squared divergence (midpoint) of the shift with this PSI that moves mass between two of B equal bins."""
    p = 1.0 / bins

    def psi_of(eps: float) -> float:
        return eps * math.log((p + eps) / p) + eps * math.log(p / (p - eps))

    if psi_of(p * (1 - 1e-12)) < psi:  # PSI beyond any two-bin move: fall back to the PSI itself
        return psi
    lo, hi = 0.0, p * (1 - 1e-12)
    while lo < (mid := (lo + hi) / 2) < hi:  # bisection to the last bit
        lo, hi = (mid, hi) if psi_of(mid) < psi else (lo, mid)
    eps = hi
    return eps**2 / (p + eps / 2) + eps**2 / (p - eps / 2)


def _alarm_level(statistic: str, critical: float, n: int, m: int) -> float:
    if statistic == "psi":
        return critical * (1 / n + 1 / m)
    if statistic == "jensen_shannon":
        return critical * (1 / n + 1 / m) / 8
    return critical


def _performance(req: DesignMonitoringRequest, metric: PerformanceMetric, alpha: float) -> PerformancePlan:
    z_a, z_b = stats.z(1 - alpha), stats.z(req.power)
    sign = -1.0 if metric.higher_is_better else 1.0
    worse = metric.baseline + sign * metric.min_change
    if metric.kind == "proportion":
        if not 0 < metric.baseline < 1:
            raise PlanInputError("performance.baseline", f"a proportion lies in (0, 1), got {metric.baseline}")
        if not 0 < worse < 1:
            raise PlanInputError("performance.min_change", f"baseline {sign:+.0f} min_change leaves (0, 1): {worse}")
        sd0, sd1 = math.sqrt(metric.baseline * (1 - metric.baseline)), math.sqrt(worse * (1 - worse))
    else:
        if metric.per_example_std is None:
            raise PlanInputError("performance.per_example_std", "kind 'mean' needs the per-example loss std (> 0)")
        sd0 = sd1 = metric.per_example_std
    labels = max(30, math.ceil(((z_a * sd0 + z_b * sd1) / metric.min_change) ** 2))
    level = metric.baseline + sign * z_a * sd0 / math.sqrt(labels)
    method = "normal approximation"
    if metric.kind == "proportion" and labels <= EXACT_BINOMIAL_MAX:
        # exact binomial: the normal approximation's lower tail is too thin near 0 or 1 (1.2% instead of 1% at
        # accuracy 0.9 by Monte Carlo), so count the tail instead
        good0 = metric.baseline if metric.higher_is_better else 1 - metric.baseline
        good1 = worse if metric.higher_is_better else 1 - worse
        labels, k = stats.binomial_drop_test(good0, good1, alpha, req.power, labels)
        level = k / labels if metric.higher_is_better else 1 - k / labels
        method = "exact binomial tail"
    rate = req.predictions_per_hour * req.sample_rate * req.label_fraction
    window = max(req.min_window_hours, labels / rate)
    delay = req.label_delay_hours
    handling = [
        f"Each check scores the predictions of [t - {delay:g} h - {window:.3g} h, t - {delay:g} h]: the label delay "
        "shifts the window back so it only holds predictions whose labels can have arrived.",
        f"Labels per window: {labels} (one-sided test at {alpha:g}, {method}, power {req.power:g}, drop of "
        f"{metric.min_change:g}); "
        f"at {rate:.4g} labelled predictions/h the window is {window:.3g} h.",
        f"A drop is seen {delay + window:.3g} h after it starts; until then the drift checks are the early warning.",
    ]
    if req.label_fraction < 1:
        handling.append(f"Only {req.label_fraction:.0%} of predictions get labels: check that the labelled ones are "
                        "not a biased subset (e.g. only approved loans), or the metric is not the production one.")
    return PerformancePlan(metric=metric.name, labels_per_window=labels, window_hours=round(window, 4),
                           detection_delay_hours=round(delay + window, 4),
                           alarm_below=round(level, 6) if metric.higher_is_better else None,
                           alarm_above=None if metric.higher_is_better else round(level, 6),
                           label_delay_handling=handling)


def _power_text(power: float) -> str:
    """Power as a reader should see it: 0.9996 is not 'power >= 1'."""
    return f"{power:.3g}" if power < 0.995 else ("0.9999" if power >= 0.9999 else f"{power:.4f}")

@tool("Design model monitoring")
def design_model_monitoring(req: DesignMonitoringRequest) -> MonitoringDesign:
    """Drift and performance monitoring for a deployed model: statistic, bins, window, reference size and
    thresholds sized for a stated shift, power and false-alarm rate; alert rules, drift job, retraining trigger."""
    names = [f.name for f in req.features]
    if len(set(names)) != len(names):
        raise PlanInputError("features", "feature names must be unique")
    alpha = req.false_alarm_rate / len(req.features)
    if req.power <= req.false_alarm_rate:
        raise PlanInputError("power", f"must exceed false_alarm_rate ({req.false_alarm_rate:g}); got {req.power:g}")
    max_bins = max(bins_for(f) for f in req.features)
    df = max_bins - 1
    nc = stats.noncentrality_for_power(df, alpha, req.power)
    divergence = midpoint_divergence(req.min_psi, max_bins)
    n_eff = nc / divergence
    if req.reference_size is None:
        n = math.ceil(n_eff * (1 + 1 / REFERENCE_PER_WINDOW))
        m = REFERENCE_PER_WINDOW * n
    else:
        m = req.reference_size
        if m <= n_eff * 1.05:
            raise PlanInputError("reference_size", f"needs more than {math.ceil(n_eff * 1.05)} rows to catch PSI "
                                 f"{req.min_psi:g} with power {req.power:g} at {alpha:.3g} per feature; got {m}")
        n = math.ceil(n_eff * m / (m - n_eff))
    n = max(n, MIN_EXPECTED_PER_BIN * max_bins)
    rate = req.predictions_per_hour * req.sample_rate
    window_hours = n / rate
    if window_hours < req.min_window_hours:
        window_hours = req.min_window_hours
        n = math.ceil(rate * window_hours)
        if req.reference_size is None:
            m = max(m, REFERENCE_PER_WINDOW * n)
    checks = 24 / window_hours
    why = [
        f"alpha per feature = {req.false_alarm_rate:g} / {len(req.features)} features = {alpha:.3g} (Bonferroni).",
        f"Power {req.power:g} at alpha {alpha:.3g} with {df} degrees of freedom needs noncentrality {nc:.4g}; "
        f"PSI {req.min_psi:g} concentrated on 2 of {max_bins} bins has chi-squared divergence {divergence:.4g}, "
        f"so N_eff = 1/(1/n + 1/m) >= {n_eff:.1f}.",
        f"m = {m} reference rows, n = {n} rows per window (at least {MIN_EXPECTED_PER_BIN} expected per bin); "
        f"{rate:.4g} captured rows/h fill it in {window_hours:.3g} h.",
        f"{checks:.3g} checks/day x {req.false_alarm_rate:g} = {checks * req.false_alarm_rate:.3g} false alarms/day expected "
        "for the model; the retraining trigger needs two consecutive alarms.",
    ]
    window = WindowPlan(sample_size=n, reference_size=m, window_hours=round(window_hours, 4),
                        checks_per_day=round(checks, 4), alpha_per_feature=alpha,
                        expected_false_alarms_per_day=round(checks * req.false_alarm_rate, 5),
                        noncentrality=round(nc, 4), why=why)
    checks_out = []
    divergences = {b: midpoint_divergence(req.min_psi, b) for b in {bins_for(f) for f in req.features}}
    for f in req.features:
        bins = bins_for(f)
        stat = STATISTIC[f.type]
        fdf = bins - 1
        critical = stats.chi2_ppf(1 - alpha, fdf)
        power = stats.power_at(fdf, alpha, divergences[bins] / (1 / n + 1 / m))
        checks_out.append(FeatureCheck(
            name=f.name, type=f.type, statistic=stat, binning=binning_text(f, bins), bins=bins,
            threshold=round(_alarm_level(stat, critical, n, m), 6), power_at_min_psi=round(power, 4),
            ks_threshold=round(stats.ks_critical(alpha, n, m), 5) if f.type == "numeric" else None))
    performance = _performance(req, req.performance, req.false_alarm_rate) if req.performance else None
    trigger = RetrainingTrigger(
        pipeline_tool=PIPELINE_TOOL, pipeline_name=req.pipeline_name,
        condition="drift alarm on any feature in two consecutive windows (false-alarm rate alpha^2 per feature), "
                  "or one performance alarm",
        event=artifacts.trigger_event(req),
        delivery=["Prometheus alerts RetrainingTriggered / ModelPerformanceDegraded (label action=retrain) -> "
                  "Alertmanager webhook -> a relay that POSTs the event above to GitHub "
                  "/repos/{owner}/{repo}/dispatches: the 'drift-alert' repository_dispatch the workflow of "
                  f"{PIPELINE_TOOL} listens for (Alertmanager's own body is not that event).",
                  "SageMaker: the Model Monitor CloudWatch metrics -> CloudWatch alarm -> EventBridge rule -> "
                  "StartPipelineExecution with the event fields as pipeline parameters."])
    caveats = [
        "Thresholds assume rows within a window are independent; bursts of one user or session shrink the "
        "effective sample and raise false alarms: sample one row per entity per window if that bites.",
        "Power is for a shift of exactly PSI min_psi concentrated on two bins; spread shifts with the same PSI are "
        "caught slightly more often, smaller shifts less often.",
        "The drift job recomputes the threshold for each window's actual n, m and occupied bins; the numbers here "
        "are for the planned sizes.",
        "Amazon SageMaker Model Monitor is closed to new customers (existing ones keep it); its built-in "
        "baseline_drift_check uses its own distance and fixed comparison_threshold, not these calibrated "
        "thresholds: use the drift job for the calibrated checks.",
        "SageMaker Model Monitor reads the endpoint's captured data: the endpoint needs DataCaptureConfig "
        "(capture percentage = sample_rate) and a baselining job that writes statistics.json/constraints.json.",
        "Drift is not harm: a drift alarm starts an investigation or the pipeline; the performance check on labels "
        "is the ground truth.",
    ]
    if req.label_delay_hours > 0 and performance is None:
        caveats.append("A label delay is given but no performance metric: only drift is watched.")
    summary = (
        f"Watch {len(req.features)} feature(s) of {req.model_name} in windows of n = {n} captured rows "
        f"({window_hours:.3g} h at {f'{rate:,.0f}' if rate >= 100 else f'{rate:.3g}'} rows/h) against a reference of m = {m} rows: a shift of PSI "
        f"{req.min_psi:g} is caught with power >= {_power_text(min(c.power_at_min_psi for c in checks_out))} per check at "
        f"{req.false_alarm_rate:g} false alarms per check for the model ({alpha:.3g} per feature). Statistics: "
        + ", ".join(sorted({f"{c.type} -> {c.statistic}" for c in checks_out})) + "."
        + (f" Performance: {performance.labels_per_window} labels per window, a drop of "
           f"{req.performance.min_change:g} seen after {performance.detection_delay_hours:.3g} h."
           if performance and req.performance else "")
        + f" Retraining: two consecutive drift alarms or one performance alarm start {req.pipeline_name} "
        f"({PIPELINE_TOOL}).")
    plan_arts = artifacts.build(req, window, checks_out, performance)
    return MonitoringDesign(
        summary=summary, caveats=caveats, window=window, features=checks_out, performance=performance,
        retraining_trigger=trigger,
        sources=cite("psi_chi2", "psi_deciles", "gtest_js", "ks_asymptotic", "model_monitor_availability",
                     "model_monitor_images", "model_quality_offsets", "model_monitor_schedule"),
        artifacts=plan_arts)
