"""plan(): the whole rollout policy of DESIGN.md §2 as one pure function.

``plan(spec, status, observed, now) -> Plan`` reads nothing but its arguments. It decides the
next status (phase, counters, history, conditions), the Events to record and the *ensure*
actions that make the cluster match that status. Actions are derived from the final status
(level-based), so a pass that is repeated after a crash asks for the same, already-true things.

Decisions are guard ladders in a fixed order: an invalid spec first (touch nothing), then a
request, then superseding, then the phase's own rules; a rejection always wins over promotion.
The shared state and transitions live in ``rollout.py``, the requests in ``requests.py`` and
what a decided status asks of the cluster (actions, requeue, conditions) in ``output.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from finnexus_operator.constants import BLUE, GREEN
from finnexus_operator.core import analysis as an
from finnexus_operator.core.actions import (
    Action,
)
from finnexus_operator.core.clock import iso, iso_seconds, seconds_since
from finnexus_operator.core.observed import Observed
from finnexus_operator.core.output import RESYNC_SECONDS, Output
from finnexus_operator.core.phases import Condition, Phase, Reason, Result
from finnexus_operator.core.requests import Requests
from finnexus_operator.core.revision import revision_of
from finnexus_operator.core.rollout import HISTORY_LIMIT, Event, other
from finnexus_operator.core.validation import validate_spec
from finnexus_operator.models.status import (
    ConditionStatus,
    FinNexusDeploymentStatus,
    HealthStatus,
)

__all__ = ["HISTORY_LIMIT", "RESYNC_SECONDS", "Due", "Event", "Plan", "due", "other", "plan"]


@dataclass(frozen=True)
class Plan:
    """What one pass decided."""

    status: FinNexusDeploymentStatus
    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()
    requeue_after: float | None = None  # seconds until the next pass is needed


@dataclass(frozen=True)
class Due:
    """Which probes the reconciler should run before calling plan() in this pass."""

    health: bool = False
    metrics: bool = False


def due(
    raw_spec: Mapping[str, Any] | None, status: FinNexusDeploymentStatus, observed: Observed,
    now: datetime,
) -> Due:
    """Whether a health round or a measurement round is due now (pure)."""
    spec = validate_spec(raw_spec)
    cand = status.candidate_color
    if isinstance(spec, str) or cand is None:
        return Due()
    if status.phase in (Phase.DEPLOYING, Phase.VERIFYING):
        state = observed.deployments.get(cand)
        ready = state is not None and state.revision == status.candidate_revision and (
            state.ready >= spec.replicas
        )
        elapsed = seconds_since(status.health_check.last_probe_time, now)
        interval = spec.health_check.interval_seconds
        return Due(health=ready and (elapsed is None or elapsed >= interval))
    if status.phase is Phase.ANALYZING and spec.analysis is not None:
        last = (status.analysis.last_round_time if status.analysis else None) or status.switched_at
        elapsed = seconds_since(last, now)
        return Due(metrics=elapsed is None or elapsed >= spec.analysis.interval_seconds)
    return Due()


class _Pass(Requests, Output):
    """The ladder: which rule applies to this pass, in order."""

    def supersede(self) -> None:
        old = self.st.candidate_revision
        switched = self.st.active_color == self.st.candidate_color
        self.record(Result.SUPERSEDED, f"superseded by {self.rev}")
        self.event(Reason.SUPERSEDED, f"candidate {old} superseded by {self.rev}"
                   + ("; traffic returned to the stable colour first" if switched else ""))
        if self.stable_color is not None:
            self.st.active_color = self.stable_color
        self.clear_candidate()
        self.st.analysis = None
        self.idle()

    # -- the ladder ----------------------------------------------------------------------
    def run(self) -> None:
        self.handle_request()
        if self.st.candidate_color is None:
            self.idle()
        elif self.st.phase is Phase.ROLLING_BACK:
            self.rolling_back()
        elif (self.st.candidate_revision != self.rev and not self.st.candidate_undo) or (
            self.st.candidate_revision is None  # a hand-edited status: start over, never raise
        ):
            self.supersede()
        else:
            self.progress()
        self.expire_scale_down()

    def expire_scale_down(self) -> None:
        """Drop a pending scale-down once due (actions() then scales that colour to 0)."""
        sd = self.st.scale_down
        if sd is None:
            return
        if sd.color in (self.st.active_color, self.st.candidate_color):
            self.st.scale_down = None
        elif self.elapsed(sd.after) >= 0:
            self.event(Reason.SCALED_DOWN, f"scaled {sd.color} to 0 after the scale-down delay")
            self.st.scale_down = None

    def idle(self) -> None:
        """No candidate: settle, or start one."""
        rev = self.rev
        if rev == self.st.stable_revision or rev == self.st.rejected_revision:
            self.settle()
        elif self.spec.paused:
            phase = self.st.phase if self.st.stable_revision else Phase.PENDING
            if phase is not None and phase.in_progress:
                # A paused supersede dropped the candidate: an in-progress phase without a
                # candidate would be a lie (and Progressing would disagree with it).
                phase = Phase.PENDING
            self.enter(phase or Phase.PENDING, f"paused: revision {rev} waits for "
                       "spec.paused=false", Reason.PAUSED)
        elif self.st.active_color is None:
            # No active colour on record. If the Service already routes somewhere (a first
            # switch whose status write was lost), build the candidate beside that colour
            # rather than replacing the template under live traffic.
            live = self.obs.active_service_color
            self.start_candidate(other(live) if live in (BLUE, GREEN) else BLUE)
        else:
            self.start_candidate(other(self.st.active_color))

    def settle(self) -> None:
        """Idle phase for the current template: Stable, RolledBack or Failed."""
        if self.rev == self.st.stable_revision:
            if self.st.phase is not Phase.STABLE:
                self.enter(Phase.STABLE, f"{self.rev} stable on {self.st.active_color}",
                           Reason.STABLE)
        elif self.st.stable_revision is None:
            if self.st.phase is not Phase.FAILED:
                self.enter(Phase.FAILED, f"{self.rev} was rejected; change the template or "
                           "request a retry", Reason.FAILED, warning=True)
        elif self.st.phase is Phase.STABLE and self.st.history and (
            self.st.history[-1].reason == "undo"
        ):
            pass  # an undo promoted the previous revision; the template stays rejected
        elif self.st.phase is not Phase.ROLLED_BACK:
            self.enter(Phase.ROLLED_BACK, f"{self.rev} was rejected; traffic stays on "
                       f"{self.st.active_color} ({self.st.stable_revision})",
                       Reason.ROLLED_BACK, warning=True)

    def rolling_back(self) -> None:
        stable, cand = self.stable_color, self.st.candidate_color
        ingress_ok = self.spec.ingress is None or self.obs.ingress_color == stable
        state = self.obs.deployments.get(cand) if cand else None
        if self.obs.active_service_color == stable and ingress_ok and (
            state is None or state.replicas == 0
        ):
            reason = self.st.message.removeprefix(f"rolling back {self.st.candidate_revision}: ")
            rev = self.st.candidate_revision
            self.clear_candidate()
            self.enter(Phase.ROLLED_BACK, f"{rev} rolled back; traffic on {stable} "
                       f"({self.st.stable_revision}): {reason}", Reason.ROLLED_BACK, warning=True)

    def progress(self) -> None:
        phase = self.st.phase
        if phase in (Phase.DEPLOYING, Phase.VERIFYING):
            self.deploying_or_verifying()
        elif phase is Phase.AWAITING_PROMOTION:
            pass  # waits for a promote (or abort) request
        elif phase is Phase.ANALYZING:
            self.analyzing()
        else:  # a candidate with an unexpected phase (hand-edited status): start over
            self.enter(Phase.DEPLOYING, f"deploying {self.st.candidate_revision}",
                       Reason.DEPLOYING)

    def deploying_or_verifying(self) -> None:
        ready, pods = self.candidate_state_ready()
        deadline = self.spec.progress_deadline_seconds
        if not ready:
            if self.st.phase is Phase.VERIFYING:
                self.st.health_check = HealthStatus()
            if not self.spec.paused and self.elapsed(self.st.candidate_since) > deadline:
                self.reject(f"progress deadline exceeded: {pods} within {deadline}s")
                return
            self.enter(Phase.DEPLOYING, f"deploying {self.st.candidate_revision} as "
                       f"{self.st.candidate_color}: {pods}", Reason.DEPLOYING)
            return
        if self.st.candidate_undo and self.st.phase is Phase.DEPLOYING and (
            self.st.health_check.consecutive_successes == 0 and self.obs.health is None
        ) and self.elapsed(self.st.candidate_since) == 0:
            self.switch()  # instant undo: the previous colour is still Ready
            return
        hc, spec = self.st.health_check, self.spec.health_check
        health = self.obs.health
        if health is not None:
            if health.ok:
                hc = HealthStatus(consecutive_successes=hc.consecutive_successes + 1,
                                  last_error=hc.last_error, last_probe_time=iso(self.now))
            else:
                hc = HealthStatus(consecutive_failures=hc.consecutive_failures + 1,
                                  last_error=health.detail, last_probe_time=iso(self.now))
            self.st.health_check = hc
        if hc.consecutive_failures >= spec.failure_threshold:
            self.reject(f"health checks failed {hc.consecutive_failures} consecutive rounds "
                        f"(failureThreshold {spec.failure_threshold}): {hc.last_error}")
            return
        if hc.consecutive_successes >= spec.success_threshold:
            self.healthy()
            return
        if not self.spec.paused and self.elapsed(self.st.candidate_since) > deadline:
            self.reject(f"progress deadline exceeded: not healthy within {deadline}s "
                        f"({hc.consecutive_successes}/{spec.success_threshold} passing rounds)")
            return
        self.enter(Phase.VERIFYING, f"health checks {hc.consecutive_successes}/"
                   f"{spec.success_threshold} passing rounds on {pods.split(' ')[0]} pods"
                   + (f"; last error: {hc.last_error}" if hc.consecutive_failures else ""),
                   Reason.CANDIDATE_READY)

    def healthy(self) -> None:
        first = self.st.stable_revision is None
        # paused freezes the first revision's switch too (DESIGN §2: "freezes progress");
        # an undo is an explicit request and, like abort, is not held back by paused.
        if self.st.candidate_undo or (first and not self.spec.paused):
            self.switch()
        elif not first and not self.spec.promotion.auto:
            self.enter(Phase.AWAITING_PROMOTION, f"{self.st.candidate_revision} is healthy on "
                       f"{self.st.candidate_color}; waiting for a promote request",
                       Reason.AWAITING_PROMOTION)
        elif self.spec.paused:
            self.enter(Phase.VERIFYING, f"{self.st.candidate_revision} is healthy; paused "
                       "before the traffic switch", Reason.PAUSED)
        else:
            self.switch()

    def analyzing(self) -> None:
        if self.spec.analysis is None:  # analysis removed mid-rollout: nothing left to gate
            self.promote("analysis removed from the spec")
            return
        samples = self.obs.metrics
        if samples is None:
            return
        outcome = an.evaluate_round(self.spec.analysis, self.st.analysis, samples, iso(self.now))
        self.st.analysis = outcome.status
        label = an.round_label(outcome.status)
        if outcome.breach is not None:
            self.event(Reason.ANALYSIS_FAILED, outcome.breach, warning=True)
            self.reject(outcome.breach)
            return
        if outcome.done and not self.spec.paused:
            self.event(Reason.ANALYSIS_PASSED, f"{label}: {outcome.summary}")
            self.promote(f"analysis passed {outcome.status.passed}/{outcome.status.checks} rounds")
            return
        suffix = "; paused: not promoting" if outcome.done else ""
        self.st.message = f"{label}: {outcome.summary}{suffix}"


def plan(
    raw_spec: Mapping[str, Any] | None, status: FinNexusDeploymentStatus, observed: Observed,
    now: datetime,
) -> Plan:
    """Decide the next status, Events and ensure-actions. Pure; never raises on bad input."""
    st = status.model_copy(deep=True)
    spec = validate_spec(raw_spec)
    if isinstance(spec, str):
        return _invalid(st, spec, observed, now)
    work = _Pass(spec=spec, st=st, obs=observed, now=now, rev=revision_of(spec.template))
    if st.phase is Phase.INVALID:
        # Valid again: Invalid overwrote the phase, so recover the one the bookkeeping implies
        # (a rollback in progress must not restart the rejected candidate as Deploying).
        st.phase = _resume_phase(st)
    work.run()
    work.conditions()
    st.observed_generation = observed.generation
    if st.phase is None:
        st.phase = Phase.PENDING
    return Plan(status=st, actions=tuple(work.actions()), events=tuple(work.events),
                requeue_after=work.requeue_after())


def _resume_phase(st: FinNexusDeploymentStatus) -> Phase | None:
    """The phase a candidate was in before an Invalid spec (None: let the ladder decide)."""
    if st.candidate_color is None:
        return None
    last = st.history[-1] if st.history else None
    if last is not None and last.result == Result.ROLLED_BACK.value and (
        last.revision == st.candidate_revision and last.started_at == st.candidate_since
    ):
        return Phase.ROLLING_BACK  # reject() recorded this candidate's RolledBack entry
    if st.switched_at is not None and st.active_color == st.candidate_color and (
        not st.candidate_undo
    ):
        return Phase.ANALYZING  # traffic is on the candidate: the gate continues
    return None  # before the switch: the candidate is checked again from Deploying


def _invalid(
    st: FinNexusDeploymentStatus, message: str, observed: Observed, now: datetime
) -> Plan:
    events: tuple[Event, ...] = ()
    if st.phase is not Phase.INVALID or st.message != message:
        events = (Event("Warning", Reason.INVALID_SPEC.value, message),)
    st.phase = Phase.INVALID
    st.message = message
    st.observed_generation = observed.generation
    stamp = iso_seconds(now)
    old = {c.type: c for c in st.conditions}
    prev = old.get(Condition.DEGRADED.value)
    old[Condition.DEGRADED.value] = ConditionStatus(
        type=Condition.DEGRADED.value, status="True", reason=Reason.INVALID_SPEC.value,
        message=message,
        last_transition_time=prev.last_transition_time if prev and prev.status == "True"
        else stamp, observed_generation=observed.generation,
    )
    st.conditions = list(old.values())
    return Plan(status=st, actions=(), events=events, requeue_after=None)
