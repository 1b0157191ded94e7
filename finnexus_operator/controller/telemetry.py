"""The operator's own Prometheus metrics (served on ``--metrics-port`` at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from finnexus_operator.models.phases import Phase

__all__ = [
    "DECISION_TO_ROUTE",
    "MEASUREMENTS",
    "PHASE",
    "RECONCILE_DURATION",
    "RECONCILE_ERRORS",
    "ROLLOUTS",
    "set_phase",
]

ROLLOUTS = Counter("finnexus_rollouts", "Rollouts that ended, by result.",
                   ["namespace", "name", "result"])
RECONCILE_ERRORS = Counter("finnexus_reconcile_errors", "Reconcile passes that failed.",
                           ["namespace", "name"])
RECONCILE_DURATION = Histogram("finnexus_reconcile_duration_seconds",
                               "Duration of one reconcile pass (probes included).")
PHASE = Gauge("finnexus_phase", "1 for the current phase of each FinNexusDeployment.",
              ["namespace", "name", "phase"])
MEASUREMENTS = Counter("finnexus_analysis_measurements", "Metric measurements, by verdict.",
                       ["namespace", "name", "metric", "verdict"])
DECISION_TO_ROUTE = Histogram(
    "finnexus_decision_to_route_seconds",
    "From a probe or measurement result to the traffic switch being accepted by the API.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


def set_phase(namespace: str, name: str, phase: Phase | None) -> None:
    for candidate in Phase:
        PHASE.labels(namespace, name, candidate.value).set(1 if candidate is phase else 0)
