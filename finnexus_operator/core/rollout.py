"""The one object of a plan() pass: its inputs, the status being decided, and the transitions.

:class:`Rollout` is mutable but never escapes ``plan()``: it holds the spec, a copy of the
status being decided, the observation, the clock value and the Events decided so far. Its
methods are the transitions every rule shares (start a candidate, switch, promote, reject);
they keep the status bookkeeping consistent. The rules themselves are plain functions of a
Rollout: ``rules.py`` (by phase), ``requests.py`` (the annotation requests); ``output.py`` turns
the decided status into actions and conditions; ``plan.py`` holds the ladder's order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from finnexus_operator.core import hooks
from finnexus_operator.core.clock import iso, seconds_since
from finnexus_operator.core.manifests import other
from finnexus_operator.core.observed import Observed
from finnexus_operator.core.record import release_record
from finnexus_operator.models.phases import ROUTINE, Phase, Reason, RejectionKind, Result
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from finnexus_operator.models.status import (
    AnalysisStatus,
    FinNexusDeploymentStatus,
    HealthStatus,
    HistoryEntry,
    ScaleDown,
)

__all__ = ["HISTORY_LIMIT", "Event", "Rollout"]

HISTORY_LIMIT = 10


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to record on the resource."""

    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass
class Rollout:
    """Mutable working state of one plan() call (never escapes it)."""

    spec: FinNexusDeploymentSpec
    st: FinNexusDeploymentStatus
    obs: Observed
    now: datetime
    rev: str
    events: list[Event] = field(default_factory=list)
    clear_request: str | None = None

    # -- small helpers -------------------------------------------------------------------
    @property
    def stable_color(self) -> str | None:
        """The colour holding the stable revision (the one traffic can return to)."""
        if self.st.stable_revision is None:
            return None
        if self.st.candidate_color is not None:
            return other(self.st.candidate_color)
        return self.st.active_color

    def event(self, reason: Reason, message: str, *, warning: bool = False) -> None:
        """Post an Event, unless the step is routine (the status says it: ``ROUTINE``)."""
        if reason in ROUTINE:
            return
        self.events.append(Event("Warning" if warning else "Normal", reason.value, message))

    def enter(self, phase: Phase, message: str, reason: Reason, *, warning: bool = False) -> None:
        changed = self.st.phase is not phase
        self.st.phase = phase
        self.st.message = message
        if changed:
            self.event(reason, f"{phase.value}: {message}", warning=warning)

    def elapsed(self, stamp: str | None) -> float:
        seconds = seconds_since(stamp, self.now)
        return 0.0 if seconds is None else seconds

    def progress_elapsed(self) -> float:
        """Seconds the candidate has been in progress, paused time not counted (§2.2)."""
        paused = self.st.paused_seconds + (
            self.elapsed(self.st.paused_since) if self.st.paused_since else 0.0)
        return max(0.0, self.elapsed(self.st.candidate_since) - paused)

    def track_pause(self) -> None:
        """Start or stop the paused clock of a candidate before its switch."""
        if self.spec.paused and self.st.paused_since is None:
            self.st.paused_since = iso(self.now)
        elif not self.spec.paused and self.st.paused_since is not None:
            self.st.paused_seconds += self.elapsed(self.st.paused_since)
            self.st.paused_since = None

    def colour_serves(self, color: str | None, revision: str | None) -> bool:
        """The colour's Deployment holds ``revision`` and has Ready pods (§2.1 rule 1)."""
        state = self.obs.deployments.get(color) if color else None
        return state is not None and state.revision == revision and state.ready >= 1

    def candidate_pods(self) -> str | None:
        """Fingerprint of the candidate pods counted as Ready (None: the pods are not known)."""
        cand = self.st.candidate_color
        state = self.obs.deployments.get(cand) if cand else None
        if state is None or not state.pods:
            return None
        return hashlib.sha256(",".join(sorted(state.pods)).encode()).hexdigest()[:12]

    def count_health_round(self) -> HealthStatus:
        """The health streaks with this pass's round (if one was taken) counted in.

        A streak belongs to a set of pods (§2.1 rule 4): when the candidate's pods changed
        since the last round, the passing streak starts again (failures are kept: pods that are
        replaced over and over never make a candidate healthy)."""
        hc = self.st.health_check
        pods = self.candidate_pods()
        successes = hc.consecutive_successes
        if pods is not None and hc.pods is not None and pods != hc.pods:
            successes = 0
        health = self.obs.health
        if health is None:
            return hc.model_copy(update={"consecutive_successes": successes})
        if health.ok:
            return HealthStatus(consecutive_successes=successes + 1, last_error=hc.last_error,
                                last_probe_time=iso(self.now), pods=pods,
                                rounds_passed=hc.rounds_passed + 1,
                                rounds_failed=hc.rounds_failed)
        return HealthStatus(consecutive_failures=hc.consecutive_failures + 1,
                            last_error=health.detail, last_probe_time=iso(self.now), pods=pods,
                            rounds_passed=hc.rounds_passed, rounds_failed=hc.rounds_failed + 1)

    def candidate_state_ready(self) -> tuple[bool, str]:
        cand, want = self.st.candidate_color, self.spec.replicas
        state = self.obs.deployments.get(cand) if cand else None
        if state is None or state.revision != self.st.candidate_revision:
            return False, f"0/{want} pods Ready"
        return state.ready >= want, f"{min(state.ready, want)}/{want} pods Ready"

    def record(self, result: Result, reason: str, *, undo: bool = False,
               kind: RejectionKind | None = None) -> None:
        entry = HistoryEntry(
            revision=self.st.candidate_revision or self.rev,
            color=self.st.candidate_color or "",
            result=result.value,
            reason=reason,
            started_at=self.st.candidate_since,
            finished_at=iso(self.now),
            undo=undo,
            reason_kind=None if kind is None else kind.value,
            gates=release_record(
                self.st, self.spec.analysis.metrics if self.spec.analysis else ()),
        )
        self.st.history = [*self.st.history, entry][-HISTORY_LIMIT:]

    # -- transitions ---------------------------------------------------------------------
    def begin_candidate(self, color: str, revision: str, *, undo: bool) -> None:
        """The bookkeeping every candidate starts with (a new revision or an undo)."""
        self.st.candidate_color = color
        self.st.candidate_revision = revision
        self.st.candidate_since = iso(self.now)
        self.st.candidate_undo = undo
        self.st.health_check = HealthStatus()
        self.st.paused_since = None
        self.st.paused_seconds = 0.0

    def start_candidate(self, color: str) -> None:
        """The current template becomes the candidate on ``color``."""
        self.begin_candidate(color, self.rev, undo=False)
        if self.st.rejected_revision != self.rev:
            # §2.2: a rejection blocks only that revision until another one is tried, so
            # R2 rejected -> R3 -> back to R2 deploys R2 again.
            self.st.rejected_revision = None
        self.st.analysis = None
        self.st.switched_at = None
        if self.st.scale_down is not None and self.st.scale_down.color == color:
            self.st.scale_down = None  # the colour is reused for the candidate
        first = self.st.stable_revision is None
        what = "first revision" if first else f"new revision (stable {self.st.stable_revision})"
        self.event(Reason.NEW_REVISION, f"deploying {what} {self.rev} as {color}")
        self.enter(Phase.DEPLOYING, f"deploying {self.rev} as {color}: 0/"
                   f"{self.spec.replicas} pods Ready", Reason.DEPLOYING)

    def clear_candidate(self) -> None:
        self.st.candidate_color = None
        self.st.candidate_revision = None
        self.st.candidate_since = None
        self.st.candidate_undo = False
        self.st.switched_at = None
        self.st.health_check = HealthStatus()
        self.st.paused_since = None
        self.st.paused_seconds = 0.0

    def switch(self) -> None:
        cand = self.st.candidate_color
        assert cand is not None
        self.st.active_color = cand
        self.st.switched_at = iso(self.now)
        self.event(Reason.SWITCHED, f"traffic switched to {cand} ({self.st.candidate_revision})")
        first = self.st.stable_revision is None
        if self.spec.analysis is None or first or self.st.candidate_undo:
            self.promote("switched" if not self.st.candidate_undo else "undo")
            return
        self.st.analysis = AnalysisStatus(checks=self.spec.analysis.checks)
        self.enter(Phase.ANALYZING, f"round 0/{self.spec.analysis.checks}: traffic on {cand}, "
                   f"first measurement in {self.spec.analysis.interval_seconds}s",
                   Reason.ANALYSIS_STARTED)

    def promote(self, why: str, *, run_hooks: bool = True) -> None:
        cand, cand_rev = self.st.candidate_color, self.st.candidate_revision
        assert cand is not None and cand_rev is not None
        old_color, old_rev = self.stable_color, self.st.stable_revision
        undo = self.st.candidate_undo
        self.record(Result.PROMOTED, why, undo=undo)
        self.st.active_color = cand
        self.st.stable_revision = cand_rev
        self.st.previous_stable_revision = old_rev
        if old_color is not None and old_color != cand:
            after = self.now + timedelta(seconds=self.spec.promotion.scale_down_delay_seconds)
            self.st.scale_down = ScaleDown(color=old_color, after=iso(after))
        undone = old_rev if undo and old_rev != cand_rev else None
        if undone is not None:
            # The revision the undo undid is the rejected one; a template applied while the
            # undo ran is a new candidate, never marked rejected unseen (§2.2).
            self.st.rejected_revision = undone
        self.clear_candidate()
        hooks.on_promote(self, cand_rev, run_hooks=run_hooks and not undo)
        message = f"{cand_rev} promoted on {cand} ({why})"
        if undo:
            message = f"undone to {cand_rev} on {cand}; {undone} will not be retried"
        self.enter(Phase.STABLE, message, Reason.PROMOTED)

    def reject(self, reason: str, kind: RejectionKind,
               result: Result = Result.ROLLED_BACK) -> None:
        cand_rev = self.st.candidate_revision
        self.st.rejected_revision = cand_rev
        if self.stable_color is None:
            self.record(Result.FAILED, reason, kind=kind)
            color = self.st.candidate_color
            self.clear_candidate()
            self.st.active_color = None
            self.enter(Phase.FAILED, f"{cand_rev} on {color} rejected: {reason}; no stable "
                       "revision to return to", Reason.FAILED, warning=True)
            return
        self.record(result, reason, kind=kind)
        self.enter(Phase.ROLLING_BACK, f"rolling back {cand_rev}: {reason}",
                   Reason.ROLLING_BACK, warning=True)
        self.route_back()

    def route_back(self) -> bool:
        """Traffic returns to the stable colour if it serves (§2.1 rule 1); else it stays where
        it is (an outage is never the rollback) and the message says what it waits for."""
        stable = self.stable_color
        if self.colour_serves(stable, self.st.stable_revision):
            self.st.active_color = stable
            return True
        if self.st.active_color != stable:
            note = (f"; waiting for Ready pods on {stable} ({self.st.stable_revision}) before "
                    f"moving traffic back from {self.st.active_color}")
            if not self.st.message.endswith(note):
                self.st.message = self.st.message.split("; waiting for Ready pods")[0] + note
        return False
