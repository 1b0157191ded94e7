"""plan(): the whole rollout policy of DESIGN.md §2 as one pure function.

``plan(spec, status, observed, now) -> Plan`` reads nothing but its arguments. It decides the
next status (phase, counters, history, conditions), the Events to record and the *ensure*
actions that make the cluster match that status. Actions are derived from the final status
(level-based), so a pass that is repeated after a crash asks for the same, already-true things.

Decisions are guard ladders in a fixed order: an invalid spec first (touch nothing), then a
request, then superseding, then the phase's own rules; a rejection always wins over promotion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from finnexus_operator.constants import BLUE, GREEN
from finnexus_operator.core import analysis as an
from finnexus_operator.core.actions import (
    Action,
    ClearRequest,
    EnsureDeployment,
    EnsureServices,
    RoutePreview,
    RouteTraffic,
    ScaleDeployment,
)
from finnexus_operator.core.clock import iso, iso_seconds, parse, seconds_since
from finnexus_operator.core.observed import Observed
from finnexus_operator.core.phases import Condition, Phase, Reason, Request, Result
from finnexus_operator.core.revision import revision_of
from finnexus_operator.core.validation import validate_spec
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from finnexus_operator.models.status import (
    AnalysisStatus,
    ConditionStatus,
    FinNexusDeploymentStatus,
    HealthStatus,
    HistoryEntry,
    ScaleDown,
)

__all__ = ["HISTORY_LIMIT", "RESYNC_SECONDS", "Due", "Event", "Plan", "due", "other", "plan"]

HISTORY_LIMIT = 10
RESYNC_SECONDS = 60.0  # a pass at least this often, even with nothing in progress
POLL_SECONDS = 2.0  # readiness and rollback confirmation are polled at most this far apart


def other(color: str) -> str:
    """The other colour."""
    return GREEN if color == BLUE else BLUE


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to record on the resource."""

    type: str  # Normal | Warning
    reason: str
    message: str


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


@dataclass
class _Pass:
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

    def candidate_state_ready(self) -> tuple[bool, str]:
        cand, want = self.st.candidate_color, self.spec.replicas
        state = self.obs.deployments.get(cand) if cand else None
        if state is None or state.revision != self.st.candidate_revision:
            return False, f"0/{want} pods Ready"
        return state.ready >= want, f"{min(state.ready, want)}/{want} pods Ready"

    def record(self, result: Result, reason: str) -> None:
        entry = HistoryEntry(
            revision=self.st.candidate_revision or self.rev,
            color=self.st.candidate_color or "",
            result=result.value,
            reason=reason,
            started_at=self.st.candidate_since,
            finished_at=iso(self.now),
        )
        self.st.history = [*self.st.history, entry][-HISTORY_LIMIT:]

    # -- transitions ---------------------------------------------------------------------
    def start_candidate(self, color: str) -> None:
        self.st.candidate_color = color
        self.st.candidate_revision = self.rev
        self.st.candidate_since = iso(self.now)
        self.st.candidate_undo = False
        self.st.health_check = HealthStatus()
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

    def promote(self, why: str) -> None:
        cand, cand_rev = self.st.candidate_color, self.st.candidate_revision
        assert cand is not None and cand_rev is not None
        old_color, old_rev = self.stable_color, self.st.stable_revision
        undo = self.st.candidate_undo
        self.record(Result.PROMOTED, why)
        self.st.active_color = cand
        self.st.stable_revision = cand_rev
        self.st.previous_stable_revision = old_rev
        if old_color is not None and old_color != cand:
            after = self.now + timedelta(seconds=self.spec.promotion.scale_down_delay_seconds)
            self.st.scale_down = ScaleDown(color=old_color, after=iso(after))
        if undo and self.rev != cand_rev:
            self.st.rejected_revision = self.rev
        self.clear_candidate()
        message = f"{cand_rev} promoted on {cand} ({why})"
        if undo:
            message = f"undone to {cand_rev} on {cand}; {self.rev} will not be retried"
        self.enter(Phase.STABLE, message, Reason.PROMOTED)

    def reject(self, reason: str, result: Result = Result.ROLLED_BACK) -> None:
        cand_rev = self.st.candidate_revision
        self.st.rejected_revision = cand_rev
        if self.stable_color is None:
            self.record(Result.FAILED, reason)
            color = self.st.candidate_color
            self.clear_candidate()
            self.st.active_color = None
            self.enter(Phase.FAILED, f"{cand_rev} on {color} rejected: {reason}; no stable "
                       "revision to return to", Reason.FAILED, warning=True)
            return
        self.record(result, reason)
        self.st.active_color = self.stable_color
        self.enter(Phase.ROLLING_BACK, f"rolling back {cand_rev}: {reason}",
                   Reason.ROLLING_BACK, warning=True)

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

    # -- requests ------------------------------------------------------------------------
    def handle_request(self) -> None:
        raw = self.obs.request
        if raw is None:
            return
        self.clear_request = raw
        try:
            request = Request(raw.strip().lower())
        except ValueError:
            self.event(Reason.REQUEST_IGNORED, f"unknown request {raw!r}; expected one of "
                       "promote, abort, retry, undo", warning=True)
            return
        handler = {
            Request.PROMOTE: self.request_promote,
            Request.ABORT: self.request_abort,
            Request.RETRY: self.request_retry,
            Request.UNDO: self.request_undo,
        }[request]
        refusal = handler()
        if refusal:
            self.event(Reason.REQUEST_IGNORED, f"{request.value} request ignored: {refusal}",
                       warning=True)
        else:
            self.event(Reason.REQUEST, f"{request.value} request accepted")

    def request_promote(self) -> str:
        phase, cand_rev = self.st.phase, self.st.candidate_revision
        if self.st.candidate_color is None or cand_rev != self.rev:
            return "no rollout in progress"
        if self.spec.paused:  # paused freezes progress, requested or not
            return "the rollout is paused; set spec.paused to false first"
        if phase is Phase.AWAITING_PROMOTION:
            self.switch()
            return ""
        if phase is Phase.ANALYZING:
            self.promote("promoted by request, analysis skipped")
            return ""
        return f"candidate is {phase.value if phase else 'not ready'}; not healthy yet"

    def request_abort(self) -> str:
        if self.st.candidate_color is None or self.st.phase is Phase.ROLLING_BACK:
            return "no rollout in progress"
        self.event(Reason.ABORTED, f"rollout of {self.st.candidate_revision} aborted by request",
                   warning=True)
        self.reject("aborted by request")
        return ""

    def request_retry(self) -> str:
        if self.st.rejected_revision is None:
            return "no rejected revision"
        if self.st.candidate_color is not None:
            return "a rollout is in progress"
        self.st.rejected_revision = None
        return ""

    def request_undo(self) -> str:
        if self.st.candidate_color is not None:
            if self.st.phase is Phase.ROLLING_BACK:
                return "already rolling back"
            self.reject("undone by request")
            return ""
        active, prev = self.st.active_color, self.st.previous_stable_revision
        if active is None or prev is None:
            return "no previous stable revision"
        target = other(active)
        state = self.obs.deployments.get(target)
        if state is None or state.revision != prev:
            return f"Deployment of {target} no longer holds revision {prev}"
        self.st.candidate_color = target
        self.st.candidate_revision = prev
        self.st.candidate_since = iso(self.now)
        self.st.candidate_undo = True
        self.st.health_check = HealthStatus()
        self.st.scale_down = None
        self.event(Reason.UNDO, f"undo: returning to {prev} on {target}")
        self.enter(Phase.DEPLOYING, f"undo: scaling {target} ({prev}) up", Reason.DEPLOYING)
        return ""

    # -- output --------------------------------------------------------------------------
    def actions(self) -> list[Action]:
        st, spec, deps = self.st, self.spec, self.obs.deployments
        acts: list[Action] = [EnsureServices()]
        cand, stable, active = st.candidate_color, self.stable_color, st.active_color
        rolling_back = st.phase is Phase.ROLLING_BACK
        if stable is not None and st.stable_revision == self.rev:
            acts.append(EnsureDeployment(stable, self.rev, spec.template, spec.replicas))
        elif stable is not None and stable in deps:
            acts.append(ScaleDeployment(stable, spec.replicas))
        # Traffic away from the candidate is routed before the candidate is touched: after a
        # supersede that follows the switch, production traffic must leave the candidate
        # colour before its Deployment gets the new, unverified template (DESIGN §2 "traffic
        # first returns"). Traffic *to* the candidate is routed after it is ensured.
        route_first = active is not None and active != cand
        if active is not None and route_first:
            acts.append(RouteTraffic(active))
        if cand is not None and not rolling_back:
            if st.candidate_undo:
                acts.append(ScaleDeployment(cand, spec.replicas))
            else:
                acts.append(EnsureDeployment(cand, self.rev, spec.template, spec.replicas))
        if active is not None and not route_first:
            acts.append(RouteTraffic(active))
        preview = cand if cand is not None and not rolling_back else active
        if preview is not None:
            acts.append(RoutePreview(preview))
        # Scale-downs come last: traffic is already off the colour being scaled down.
        keep = {c for c in (stable, active) if c is not None}
        if cand is not None and not rolling_back:
            keep.add(cand)
        sd = st.scale_down
        if sd is not None:
            keep.add(sd.color)
        if active is None and self.obs.active_service_color is not None:
            # Without an active colour this pass routes nothing, so the colour the Service
            # still selects (a lost status write) keeps serving: never scale it to zero.
            keep.add(self.obs.active_service_color)
        for color in (BLUE, GREEN):
            if color not in keep and color in deps:
                acts.append(ScaleDeployment(color, 0))
        if self.clear_request is not None:
            acts.append(ClearRequest(self.clear_request))
        return acts

    def requeue_after(self) -> float:
        st, spec = self.st, self.spec
        waits = [RESYNC_SECONDS]
        if st.phase in (Phase.DEPLOYING, Phase.VERIFYING):
            interval = float(spec.health_check.interval_seconds)
            since = seconds_since(st.health_check.last_probe_time, self.now)
            waits.append(min(POLL_SECONDS, interval) if since is None else max(
                0.0, min(interval - since, POLL_SECONDS)))
            left = spec.progress_deadline_seconds - self.elapsed(st.candidate_since)
            waits.append(max(0.0, left) + 0.001)
        elif st.phase is Phase.ANALYZING and spec.analysis is not None:
            last = (st.analysis.last_round_time if st.analysis else None) or st.switched_at
            since = seconds_since(last, self.now) or 0.0
            waits.append(max(0.0, spec.analysis.interval_seconds - since))
        elif st.phase is Phase.ROLLING_BACK:
            waits.append(0.0 if self.events else POLL_SECONDS / 4)
        if st.scale_down is not None:
            after = parse(st.scale_down.after)
            if after is not None:
                waits.append(max(0.0, (after - self.now) / timedelta(seconds=1)))
        return min(waits)

    def conditions(self) -> None:
        st, now = self.st, iso_seconds(self.now)
        phase = st.phase.value if st.phase else "Pending"
        active = st.active_color
        state = self.obs.deployments.get(active) if active else None
        ready = state.ready if state else 0
        available = active is not None and ready >= 1
        degraded = st.phase in (Phase.ROLLED_BACK, Phase.FAILED, Phase.INVALID,
                                Phase.ROLLING_BACK)
        wanted = {
            Condition.AVAILABLE.value: (
                "True" if available else "False",
                "TrafficServed" if available else "NoTraffic",
                f"{ready}/{self.spec.replicas} pods Ready on {active}" if active
                else "no colour has production traffic yet",
            ),
            Condition.PROGRESSING.value: (
                "True" if st.candidate_color else "False", phase,
                st.message if st.candidate_color else f"no rollout in progress ({phase})",
            ),
            Condition.DEGRADED.value: (
                "True" if degraded else "False", phase if degraded else "AsExpected",
                st.message if degraded else "",
            ),
        }
        st.conditions = _merge_conditions(st.conditions, wanted, now, self.obs.generation)


def _merge_conditions(
    old: list[ConditionStatus], wanted: dict[str, tuple[str, str, str]], now: str,
    generation: int,
) -> list[ConditionStatus]:
    by_type = {c.type: c for c in old}
    out = []
    for ctype, (status, reason, message) in wanted.items():
        prev = by_type.get(ctype)
        since = prev.last_transition_time if prev and prev.status == status else now
        out.append(ConditionStatus(type=ctype, status=status, reason=reason, message=message,
                                   last_transition_time=since, observed_generation=generation))
    return out


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
        st.invalid_spec_hash = None
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
