"""``status`` of a FinNexusDeployment (DESIGN.md §2), plus the operator's own bookkeeping.

Fields beyond the contract (timestamps, ``scaleDown``, ``previousStable*``) are what makes the
reconcile level-based: everything ``plan()`` needs to remember between passes lives here, so a
restarted operator resumes exactly where it stopped.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from finnexus_operator.models.hooks import HooksStatus
from finnexus_operator.models.phases import Phase
from finnexus_operator.models.template import TemplateMetricSpec

__all__ = [
    "AnalysisStatus",
    "AnalysisTemplatesStatus",
    "ConditionStatus",
    "FinNexusDeploymentStatus",
    "GateMetric",
    "HealthStatus",
    "HistoryEntry",
    "HookRecord",
    "MetricStatus",
    "ReleaseRecord",
    "ScaleDown",
    "TemplateSnapshot",
]


class _StatusModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class HealthStatus(_StatusModel):
    """Health checks of the current candidate."""

    consecutive_successes: int = Field(
        0, description="Consecutive rounds in which every candidate pod answered 2xx.",
    )
    consecutive_failures: int = Field(0, description="Consecutive failed health-check rounds.")
    last_error: str | None = Field(
        None, description="The last health-check failure (pod, address, reason).",
    )
    last_probe_time: str | None = Field(None, description="When the last health-check round ran.")
    pods: str | None = Field(
        None, description="Bookkeeping: fingerprint of the candidate pods (UIDs) the streak "
        "belongs to; when the pods change, the passing streak starts again.",
    )
    # -- the release record (issue 11 item 5) --
    rounds_passed: int = Field(0, description="Health-check rounds passed by this candidate.")
    rounds_failed: int = Field(0, description="Health-check rounds failed by this candidate.")


class MetricStatus(_StatusModel):
    """The last measurement of one metric and its counters."""

    name: str = Field(description="The metric (spec.analysis.metrics[].name).")
    value: float | None = Field(
        None, description="The last measured value (absent for NoData/Error).",
    )
    verdict: str | None = Field(None, description="Pass, Fail, NoData or Error.")
    detail: str | None = Field(
        None, description="Why the measurement was NoData or Error (Prometheus's own message).",
    )
    failures: int = Field(0, description="Failed measurements so far (compared with failureLimit).")
    no_data: int = Field(0, description="Consecutive NoData results (compared with noDataLimit).")
    errors: int = Field(0, description="Consecutive Error results (compared with errorLimit).")
    baseline: float | None = Field(
        None, description="With a relative bound: the stable revision's value of the same "
        "query at the switch time (measured once per rollout).",
    )
    bound: float | None = Field(
        None, description="With a relative bound: the highest value the baseline allows.",
    )
    baseline_query: str | None = Field(
        None, description="Bookkeeping: fingerprint of the rendered baseline query and time "
        "the baseline belongs to (a changed query is measured again).",
    )
    check_failed: bool = Field(
        False, description="Bookkeeping: a breach check since the last round failed and was "
        "counted in failures (the round of the same period does not count it again).",
    )


class AnalysisStatus(_StatusModel):
    """Progress of the Prometheus gate."""

    round: int = Field(0, description="Measurement rounds taken since the switch.")
    passed: int = Field(
        0, description="Rounds in which every metric passed (promotion needs checks of them).",
    )
    checks: int = Field(0, description="Passing rounds needed (spec.analysis.checks).")
    metrics: list[MetricStatus] = Field(
        default_factory=list, description="The last measurement of each metric.",
    )
    last_round_time: str | None = Field(None, description="When the last round was measured.")
    last_check_at: str | None = Field(
        None, description="When the last breach check (a measurement between rounds) ran.",
    )
    breach_checks: int = Field(
        0, description="Breach checks since the switch (they never count toward checks).",
    )
    paused_rounds: int = Field(
        0, description="Rounds measured while paused (they never make the analysis inconclusive).",
    )


class ConditionStatus(_StatusModel):
    """A metav1.Condition."""

    type: str = Field(description="Available, Progressing or Degraded.")
    status: str = Field(description="True, False or Unknown.")
    reason: str = Field(description="A CamelCase reason.")
    message: str = Field("", description="Human-readable detail.")
    last_transition_time: str = Field(description="When status last changed.")
    observed_generation: int | None = Field(
        None, description="The generation the condition was computed for.",
    )


class GateMetric(_StatusModel):
    """One metric's last measurement in a release, with the bounds it was gated on."""

    name: str = Field(description="The metric.")
    value: float | None = Field(None, description="Its last measured value.")
    verdict: str | None = Field(None, description="Pass, Fail, NoData or Error.")
    min: float | None = Field(None, description="The lower bound in force.")
    max: float | None = Field(None, description="The upper bound in force.")
    bound: float | None = Field(
        None, description="With a relative bound: the highest value the stable baseline allowed.",
    )


class HookRecord(_StatusModel):
    """One hook Job of the release (filled by the Job hooks, issue 11 item 1)."""

    name: str = Field(description="The Job.")
    result: str = Field(description="Succeeded, Failed or DeadlineExceeded.")
    message: str = Field("", description="The Job's last message.")


class ReleaseRecord(_StatusModel):
    """What gated a release: health rounds, hook Jobs, analysis rounds, each metric's final
    value and verdict (what a compliance reviewer asks for)."""

    health_passed: int = Field(0, description="Health-check rounds the candidate passed.")
    health_failed: int = Field(0, description="Health-check rounds the candidate failed.")
    analysis_rounds: int = Field(0, description="Analysis rounds measured after the switch.")
    analysis_passed: int = Field(0, description="Analysis rounds in which every metric passed.")
    metrics: list[GateMetric] = Field(
        default_factory=list, max_length=20, description="Each metric's final measurement.",
    )
    hooks: list[HookRecord] = Field(
        default_factory=list, max_length=20, description="The hook Jobs run, in order.",
    )


class HistoryEntry(_StatusModel):
    """How one revision's rollout ended."""

    revision: str = Field(
        description="The revision (first 10 hex digits of sha256 of the template).",
    )
    color: str = Field(description="The colour it ran as.")
    result: str = Field(description="Promoted, RolledBack, Superseded or Failed.")
    reason: str = Field("", description="Why it ended so.")
    started_at: str | None = Field(None, description="When its rollout started.")
    finished_at: str | None = Field(None, description="When its rollout ended.")
    undo: bool = Field(
        False, description="True for an undo: the previous stable revision restored by request.",
    )
    reason_kind: str | None = Field(
        None, description="For RolledBack and Failed: why, as a kind (health, deadline, "
        "metric, abort, invalid or hook).",
    )
    gates: ReleaseRecord | None = Field(None, description=ReleaseRecord.__doc__)


class TemplateSnapshot(_StatusModel):
    """One FinNexusAnalysisTemplate as the current rollout started with it."""

    name: str = Field(description="The template (spec.analysis.templates[]).")
    generation: int | None = Field(None, description="Its metadata.generation then.")
    fingerprint: str = Field(description="Hash of its metrics then (core.slo.fingerprint).")
    metrics: list[TemplateMetricSpec] = Field(
        default_factory=list, description="Its metrics then: the rollout is gated on these "
        "even when the template changes before it ends.",
    )


class AnalysisTemplatesStatus(_StatusModel):
    """The templates in force for the rollout of ``revision`` started at ``since``."""

    revision: str = Field(description="The candidate revision they were fixed for.")
    since: str | None = Field(None, description="When that candidate's rollout started.")
    templates: list[TemplateSnapshot] = Field(default_factory=list, description="The templates.")


class ScaleDown(_StatusModel):
    """A colour to scale to zero once ``after`` has passed."""

    color: str = Field(description="The colour to scale to 0.")
    after: str = Field(description="Not before this time.")


class FinNexusDeploymentStatus(_StatusModel):
    """Observed state of a FinNexusDeployment, written only through the status subresource."""

    observed_generation: int | None = Field(
        None, description="The metadata.generation this status reflects.",
    )
    phase: Phase | None = Field(
        None, description="Where the rollout stands: Pending, Deploying, Verifying, "
        "AwaitingPromotion, Analyzing, Stable, RollingBack, RolledBack, Failed or Invalid.",
    )
    message: str = Field("", description="What is happening now, or why the last rollout ended.")
    active_color: str | None = Field(None, description="The colour with production traffic.")
    stable_revision: str | None = Field(None, description="The last promoted revision.")
    candidate_color: str | None = Field(
        None, description="The colour of the revision being rolled out.",
    )
    candidate_revision: str | None = Field(None, description="The revision being rolled out.")
    rejected_revision: str | None = Field(
        None, description="The last revision rolled back; not retried until the "
        "template changes or a retry request.",
    )
    health_check: HealthStatus = Field(
        default_factory=HealthStatus, description="Health checks of the current candidate.",
    )
    analysis: AnalysisStatus | None = Field(None, description="Progress of the Prometheus gate.")
    conditions: list[ConditionStatus] = Field(
        default_factory=list, description="Available, Progressing and Degraded (metav1.Condition).",
    )
    history: list[HistoryEntry] = Field(
        default_factory=list, description="The last 10 rollouts and how they ended.",
    )
    template_revision: str | None = Field(
        None, description="The revision of the current spec.template (what Git declares); "
        "differs from stableRevision after a rollback or an undo.",
    )
    # Bookkeeping (not part of the DESIGN contract, documented in the README):
    candidate_since: str | None = Field(
        None, description="Bookkeeping: when the current candidate's rollout "
        "started (progressDeadlineSeconds).",
    )
    candidate_undo: bool = Field(
        False, description="Bookkeeping: the candidate is an undo to the previous stable revision.",
    )
    switched_at: str | None = Field(
        None, description="Bookkeeping: when traffic switched to the candidate.",
    )
    paused_since: str | None = Field(
        None, description="Bookkeeping: since when the candidate's progress is paused.",
    )
    paused_seconds: float = Field(
        0.0, description="Bookkeeping: paused time before the switch (not counted toward "
        "progressDeadlineSeconds).",
    )
    previous_stable_revision: str | None = Field(
        None, description="Bookkeeping: the stable revision before the current one (undo target).",
    )
    scale_down: ScaleDown | None = Field(
        None, description="Bookkeeping: a colour waiting for its scale-down delay.",
    )
    # -- shared SLO templates (issue 11 item 2) --
    analysis_templates: AnalysisTemplatesStatus | None = Field(
        None, description="Bookkeeping: the FinNexusAnalysisTemplates (content) fixed when the "
        "current candidate started; a template edited later applies from the next rollout.",
    )
    # spec.hooks (issue 11 item 1)
    hooks: HooksStatus | None = Field(
        None, description="The hook Jobs of the candidate (preSwitch) or of the promoted "
        "revision (postPromotion) and their results.",
    )
