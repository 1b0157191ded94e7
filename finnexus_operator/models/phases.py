"""Phases, condition types and condition/event reasons: one module, one vocabulary.

It sits with the models (below the core) because the status model is typed by :class:`Phase`;
every Event reason and condition reason the operator writes is a member of :class:`Reason`.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ROUTINE", "Condition", "Phase", "Reason", "RejectionKind", "Request", "Result"]


class Phase(StrEnum):
    """Where a FinNexusDeployment's rollout stands (DESIGN.md §2)."""

    PENDING = "Pending"  # seen, nothing done yet
    DEPLOYING = "Deploying"  # candidate colour scaling up, waiting for Ready pods
    VERIFYING = "Verifying"  # HTTP health checks of every candidate pod
    AWAITING_PROMOTION = "AwaitingPromotion"  # healthy; waiting for a promote request
    ANALYZING = "Analyzing"  # traffic switched; Prometheus gate running
    STABLE = "Stable"  # the current template is promoted and serving
    ROLLING_BACK = "RollingBack"  # returning traffic to the stable colour
    ROLLED_BACK = "RolledBack"  # candidate rejected; traffic on the stable colour
    FAILED = "Failed"  # candidate rejected and no stable revision to return to
    INVALID = "Invalid"  # the spec cannot be acted on; nothing was touched

    @property
    def in_progress(self) -> bool:
        """A candidate is being rolled out (the operator re-checks on a timer)."""
        return self in _IN_PROGRESS


_IN_PROGRESS = frozenset(
    {Phase.DEPLOYING, Phase.VERIFYING, Phase.AWAITING_PROMOTION, Phase.ANALYZING,
     Phase.ROLLING_BACK}
)


class Condition(StrEnum):
    """metav1.Condition types the operator maintains."""

    AVAILABLE = "Available"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"


class Result(StrEnum):
    """How one revision's rollout ended (status.history[].result)."""

    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    SUPERSEDED = "Superseded"
    FAILED = "Failed"


class RejectionKind(StrEnum):
    """Why a candidate was rejected, as a kind (status.history[].reasonKind; the ``reason``
    label of ``finnexus_rollbacks_total``): the free-text reason says the details."""

    HEALTH = "health"  # failed health rounds (before or after the switch)
    DEADLINE = "deadline"  # progressDeadlineSeconds passed
    METRIC = "metric"  # the analysis breached a metric's limits (or was inconclusive)
    ABORT = "abort"  # an abort request, or an undo during a rollout
    INVALID = "invalid"  # the spec became invalid after the switch
    HOOK = "hook"  # a hook Job failed (spec.hooks)


class Request(StrEnum):
    """Values of the finnexus.ai/request annotation."""

    PROMOTE = "promote"
    ABORT = "abort"
    RETRY = "retry"
    UNDO = "undo"


class Reason(StrEnum):
    """Condition and Event reasons (CamelCase, as Kubernetes expects)."""

    INVALID_SPEC = "InvalidSpec"
    NEW_REVISION = "NewRevision"
    DEPLOYING = "Deploying"
    CANDIDATE_READY = "CandidateReady"
    AWAITING_PROMOTION = "AwaitingPromotion"
    SWITCHED = "TrafficSwitched"
    ANALYSIS_STARTED = "AnalysisStarted"
    ANALYSIS_FAILED = "AnalysisFailed"
    ANALYSIS_PASSED = "AnalysisPassed"
    PROMOTED = "Promoted"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"
    SUPERSEDED = "Superseded"
    ABORTED = "Aborted"
    SCALED_DOWN = "OldColorScaledDown"
    PAUSED = "Paused"
    REQUEST = "Request"
    REQUEST_IGNORED = "RequestIgnored"
    UNDO = "Undo"
    STABLE = "Stable"
    OWNERSHIP_CONFLICT = "OwnershipConflict"  # an object of our name exists and is not ours
    STABLE_UNAVAILABLE = "StableUnavailable"  # the promoted colour has no Ready pods
    HOOK_RUNNING = "HookRunning"  # a hook Job runs (spec.hooks)
    HOOK_FAILED = "HookFailed"  # a postPromotion Job failed: Degraded, traffic unchanged
    # condition-only reasons (Available / Degraded)
    TRAFFIC_SERVED = "TrafficServed"
    NO_TRAFFIC = "NoTraffic"
    AS_EXPECTED = "AsExpected"


# Routine steps of a rollout: the status (phase, message) and the conditions say them; no
# Event is posted for them (issue 9: Events only for what a person wants to read). Posted:
# a new revision, the switch, the promotion, AwaitingPromotion (it waits for a person), a
# supersede, a rollback (Warning, with its reason) and its result, Failed, Invalid, requests
# accepted/refused, ownership conflicts, a stable colour without pods.
ROUTINE: frozenset[Reason] = frozenset({
    Reason.DEPLOYING, Reason.CANDIDATE_READY, Reason.ANALYSIS_STARTED, Reason.ANALYSIS_PASSED,
    Reason.SCALED_DOWN, Reason.PAUSED, Reason.STABLE, Reason.HOOK_RUNNING,
})
