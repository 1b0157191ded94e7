"""``status`` of a FinNexusDeployment (DESIGN.md §2), plus the operator's own bookkeeping.

Fields beyond the contract (timestamps, ``scaleDown``, ``previousStable*``) are what makes the
reconcile level-based: everything ``plan()`` needs to remember between passes lives here, so a
restarted operator resumes exactly where it stopped.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from finnexus_operator.core.phases import Phase

__all__ = [
    "AnalysisStatus",
    "ConditionStatus",
    "FinNexusDeploymentStatus",
    "HealthStatus",
    "HistoryEntry",
    "MetricStatus",
    "ScaleDown",
]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class HealthStatus(_Model):
    """Health checks of the current candidate."""

    consecutive_successes: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    last_probe_time: str | None = None


class MetricStatus(_Model):
    """The last measurement of one metric and its counters."""

    name: str
    value: float | None = None
    verdict: str | None = None
    detail: str | None = None
    failures: int = 0
    no_data: int = 0
    errors: int = 0


class AnalysisStatus(_Model):
    """Progress of the Prometheus gate."""

    round: int = 0
    passed: int = 0
    checks: int = 0
    metrics: list[MetricStatus] = Field(default_factory=list)
    last_round_time: str | None = None


class ConditionStatus(_Model):
    """A metav1.Condition."""

    type: str
    status: str
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


class HistoryEntry(_Model):
    """How one revision's rollout ended."""

    revision: str
    color: str
    result: str
    reason: str = ""
    started_at: str | None = None
    finished_at: str | None = None


class ScaleDown(_Model):
    """A colour to scale to zero once ``after`` has passed."""

    color: str
    after: str


class FinNexusDeploymentStatus(_Model):
    """Observed state of a FinNexusDeployment, written only through the status subresource."""

    observed_generation: int | None = None
    phase: Phase | None = None
    message: str = ""
    active_color: str | None = None
    stable_revision: str | None = None
    candidate_color: str | None = None
    candidate_revision: str | None = None
    rejected_revision: str | None = None
    health_check: HealthStatus = Field(default_factory=HealthStatus)
    analysis: AnalysisStatus | None = None
    conditions: list[ConditionStatus] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    # Bookkeeping (not part of the DESIGN contract, documented in the README):
    candidate_since: str | None = None
    candidate_undo: bool = False
    switched_at: str | None = None
    previous_stable_revision: str | None = None
    scale_down: ScaleDown | None = None
    invalid_spec_hash: str | None = None
