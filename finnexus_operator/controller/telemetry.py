"""The operator's own Prometheus metrics (served on ``--metrics-port`` at /metrics).

Names and labels are contract (DESIGN §4; the README's metrics table): no revision hash is
ever a label. Every per-resource series (labels ``namespace``, ``name``) is removed when the
resource is deleted (:func:`forget`, called from the work queue), so a deleted resource's
last phase is not exported for ever.

:func:`observe_pass` is called once per written pass with the status before and after it: it
finds the rollout outcomes the pass recorded, each exactly once (also across passes and after
a status recovered from a failed write: the keys of the history entries already counted are
kept per resource), counts them, sets the analysis gauges, and returns the outcomes for the
notifier.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TypeVar

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from finnexus_operator import __version__
from finnexus_operator.core import notices
from finnexus_operator.core.clock import iso
from finnexus_operator.core.plan import Plan
from finnexus_operator.models.phases import Phase, RejectionKind, Result
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from finnexus_operator.models.status import AnalysisStatus, FinNexusDeploymentStatus

__all__ = [
    "BREACH_TO_ROLLBACK",
    "BUILD_INFO",
    "DECISION_TO_ROUTE",
    "HEALTH_ROUNDS",
    "MEASUREMENTS",
    "METRIC_BOUND",
    "METRIC_VALUE",
    "PHASE",
    "RECONCILE_DURATION",
    "RECONCILE_ERRORS",
    "ROLLBACKS",
    "ROLLOUTS",
    "ROLLOUT_DURATION",
    "forget",
    "health_round",
    "observe_pass",
    "route_accepted",
    "set_phase",
]

_RESOURCE = ("namespace", "name")
# metric -> its label names, for every metric with per-resource series (forget() removes them)
_PER_RESOURCE: dict[MetricWrapperBase, tuple[str, ...]] = {}


M = TypeVar("M", bound=MetricWrapperBase)


def _per_resource(metric: M, *extra: str) -> M:
    _PER_RESOURCE[metric] = (*_RESOURCE, *extra)
    return metric


ROLLOUTS = _per_resource(Counter("finnexus_rollouts", "Rollouts that ended, by result.",
                                 [*_RESOURCE, "result"]), "result")
ROLLBACKS = _per_resource(Counter(
    "finnexus_rollbacks", "Candidates rolled back (traffic returned to the stable revision), "
    "by reason kind: health, deadline, metric, abort, invalid or hook.",
    [*_RESOURCE, "reason"]), "reason")
RECONCILE_ERRORS = _per_resource(Counter(
    "finnexus_reconcile_errors", "Reconcile passes that failed.", list(_RESOURCE)))
RECONCILE_DURATION = Histogram("finnexus_reconcile_duration_seconds",
                               "Duration of one reconcile pass (probes included).")
PHASE = _per_resource(Gauge("finnexus_phase", "1 for the current phase of each "
                            "FinNexusDeployment.", [*_RESOURCE, "phase"]), "phase")
MEASUREMENTS = _per_resource(Counter(
    "finnexus_analysis_measurements", "Metric measurements, by verdict.",
    [*_RESOURCE, "metric", "verdict"]), "metric", "verdict")
METRIC_VALUE = _per_resource(Gauge(
    "finnexus_analysis_metric_value", "The last measured value of each analysis metric "
    "(NaN after a NoData or Error result).", [*_RESOURCE, "metric"]), "metric")
METRIC_BOUND = _per_resource(Gauge(
    "finnexus_analysis_metric_bound", "The bounds of each analysis metric (bound: min|max).",
    [*_RESOURCE, "metric", "bound"]), "metric", "bound")
HEALTH_ROUNDS = _per_resource(Counter(
    "finnexus_health_rounds", "Health-check rounds of candidates, by result (Pass|Fail).",
    [*_RESOURCE, "result"]), "result")
ROLLOUT_DURATION = Histogram(
    "finnexus_rollout_duration_seconds", "From a rollout's start to its end "
    "(status.history startedAt -> finishedAt), by result.", ["result"],
    buckets=(5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200))
DECISION_TO_ROUTE = Histogram(
    "finnexus_decision_to_route_seconds",
    "From a probe or measurement result to the traffic switch being accepted by the API.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
BREACH_TO_ROLLBACK = Histogram(
    "finnexus_breach_to_rollback_seconds",
    "From the arrival of the measurement that breached a metric to the API accepting the "
    "route back to the stable colour.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
BUILD_INFO = Gauge("finnexus_build_info", "1, labelled with the operator's version.",
                   ["version"])
BUILD_INFO.labels(__version__).set(1)

_known: dict[tuple[str, str], set[notices.EntryKey]] = {}


def set_phase(namespace: str, name: str, phase: Phase | None) -> None:
    for candidate in Phase:
        PHASE.labels(namespace, name, candidate.value).set(1 if candidate is phase else 0)


def health_round(namespace: str, name: str, ok: bool) -> None:
    HEALTH_ROUNDS.labels(namespace, name, "Pass" if ok else "Fail").inc()


def observe_pass(namespace: str, name: str, old: FinNexusDeploymentStatus,
                 new: FinNexusDeploymentStatus, spec: FinNexusDeploymentSpec | None,
                 ) -> list[notices.Outcome]:
    """Count what a written pass recorded; returns its new outcomes (oldest first)."""
    key = (namespace, name)
    known = _known.get(key)
    if known is None:  # first sight since start: what the status already holds is old news
        known = {notices.entry_key(h) for h in old.history}
    outcomes = notices.new_outcomes(namespace, name, known, old, new, spec, _now())
    for outcome in outcomes:
        if outcome.event == notices.INVALID:
            continue
        ROLLOUTS.labels(namespace, name, outcome.event).inc()
        duration = outcome.duration_seconds
        if duration is not None:
            ROLLOUT_DURATION.labels(outcome.event).observe(duration)
        if outcome.event == Result.ROLLED_BACK.value and outcome.reason_kind in _KINDS:
            ROLLBACKS.labels(namespace, name, outcome.reason_kind).inc()
    _known[key] = {notices.entry_key(h) for h in new.history}
    if spec is not None:
        _analysis_gauges(namespace, name, spec, new.analysis)
    return outcomes


_KINDS = frozenset(k.value for k in RejectionKind)


def route_accepted(decided: Plan, decided_at: float, routed_at: float | None) -> None:
    """A pass's first accepted traffic write: time it from the breach when the pass decided
    a metric rollback (the breaching measurement was its last input)."""
    decision = decided.decision
    if routed_at is None or decision is None or not decision.history:
        return
    if decision.history[-1].reason_kind == RejectionKind.METRIC.value:
        BREACH_TO_ROLLBACK.observe(max(0.0, routed_at - decided_at))


def _analysis_gauges(namespace: str, name: str, spec: FinNexusDeploymentSpec,
                     analysis: AnalysisStatus | None) -> None:
    values: dict[tuple[str, ...], float] = {}
    bounds: dict[tuple[str, ...], float] = {}
    if analysis is not None and spec.analysis is not None:
        for m in analysis.metrics:
            values[(namespace, name, m.name)] = math.nan if m.value is None else m.value
        for metric in spec.analysis.metrics:
            if metric.min is not None:
                bounds[(namespace, name, metric.name, "min")] = metric.min
            if metric.max is not None:
                bounds[(namespace, name, metric.name, "max")] = metric.max
    for gauge, wanted in ((METRIC_VALUE, values), (METRIC_BOUND, bounds)):
        for labels in _series(gauge, namespace, name):
            if labels not in wanted:
                gauge.remove(*labels)
        for labels, value in wanted.items():
            gauge.labels(*labels).set(value)


def _series(metric: MetricWrapperBase, namespace: str, name: str) -> list[tuple[str, ...]]:
    """The label values of every series of ``metric`` that belongs to the resource."""
    names = _PER_RESOURCE[metric]
    found: dict[tuple[str, ...], None] = {}
    for family in metric.collect():
        for sample in family.samples:
            if sample.labels.get("namespace") == namespace and sample.labels.get("name") == name:
                found[tuple(sample.labels[n] for n in names)] = None
    return list(found)


def forget(namespace: str, name: str) -> None:
    """The resource is gone: remove every series it had."""
    _known.pop((namespace, name), None)
    for metric in _PER_RESOURCE:
        for labels in _series(metric, namespace, name):
            metric.remove(*labels)


def _now() -> str:
    return iso(datetime.now(UTC))
