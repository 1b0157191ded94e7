"""The phase rules of the ladder, grouped by phase; each is a function of the pass's Rollout.

``plan.ladder`` calls them in order (request, idle / rolling back / supersede / progress,
scale-down expiry); within a phase every rule is a guard ladder in which a rejection comes
before any promotion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from finnexus_operator import constants
from finnexus_operator.core import analysis, baseline, hooks, routes
from finnexus_operator.core.bounds import Baseline
from finnexus_operator.core.clock import iso
from finnexus_operator.core.manifests import other
from finnexus_operator.core.observed import MetricSample
from finnexus_operator.core.rollout import Rollout
from finnexus_operator.models.phases import Phase, Reason, RejectionKind, Result
from finnexus_operator.models.spec import AnalysisSpec
from finnexus_operator.models.status import HealthStatus

__all__ = [
    "analyzing",
    "deploying_or_verifying",
    "expire_scale_down",
    "idle",
    "progress",
    "rolling_back",
    "supersede",
    "watch_health",
]


# -- no candidate --------------------------------------------------------------------------
def idle(r: Rollout) -> None:
    """No candidate: settle, or start one."""
    rev = r.rev
    if rev == r.st.stable_revision or rev == r.st.rejected_revision:
        _settle(r)
    elif r.spec.paused:
        phase = r.st.phase if r.st.stable_revision else Phase.PENDING
        if phase is not None and phase.in_progress:
            # A paused supersede dropped the candidate: an in-progress phase without a
            # candidate would be a lie (and Progressing would disagree with it).
            phase = Phase.PENDING
        r.enter(phase or Phase.PENDING, f"paused: revision {rev} waits for "
                "spec.paused=false", Reason.PAUSED)
    elif _reverted_within_window(r):
        _switch_back(r)
    elif r.st.active_color is None:
        # No active colour on record. If the Service already routes somewhere (a first
        # switch whose status write was lost), build the candidate beside that colour
        # rather than replacing the template under live traffic.
        live = r.obs.active_service_color
        r.start_candidate(other(live) if live in constants.COLORS and live else constants.BLUE)
    else:
        r.start_candidate(other(r.st.active_color))


def _reverted_within_window(r: Rollout) -> bool:
    """The template went back to the previous stable revision while its colour still runs."""
    st, active = r.st, r.st.active_color
    if active is None or r.rev != st.previous_stable_revision or st.scale_down is None:
        return False
    previous = other(active)
    state = r.obs.deployments.get(previous)
    return st.scale_down.color == previous and state is not None and (
        state.revision == r.rev and state.ready >= r.spec.replicas)


def _switch_back(r: Rollout) -> None:
    """§2.2: an instant switch back to the previous revision (promoted once, still Ready)."""
    assert r.st.active_color is not None
    r.begin_candidate(other(r.st.active_color), r.rev, undo=False)
    r.st.active_color = r.st.candidate_color
    r.event(Reason.SWITCHED, f"traffic switched back to {r.st.candidate_color} ({r.rev}): "
            "the template is the previous stable revision again")
    r.promote("rollback to previous revision", run_hooks=False)


def _settle(r: Rollout) -> None:
    """Idle phase for the current template: Stable, RolledBack or Failed."""
    st = r.st
    if r.rev == st.stable_revision:
        if st.phase is not Phase.STABLE:
            r.enter(Phase.STABLE, f"{r.rev} stable on {st.active_color}", Reason.STABLE)
    elif st.stable_revision is None:
        if st.phase is not Phase.FAILED:
            r.enter(Phase.FAILED, f"{r.rev} was rejected; change the template or "
                    "request a retry", Reason.FAILED, warning=True)
    elif st.phase is Phase.STABLE and st.history and st.history[-1].undo:
        pass  # an undo promoted the previous revision; the template stays rejected
    elif st.phase is not Phase.ROLLED_BACK:
        r.enter(Phase.ROLLED_BACK, f"{r.rev} was rejected; traffic stays on "
                f"{st.active_color} ({st.stable_revision})", Reason.ROLLED_BACK, warning=True)


def expire_scale_down(r: Rollout) -> None:
    """Drop a pending scale-down once due (the actions then scale that colour to 0)."""
    sd = r.st.scale_down
    if sd is None:
        return
    if sd.color in (r.st.active_color, r.st.candidate_color):
        r.st.scale_down = None
    elif r.elapsed(sd.after) >= 0:
        r.event(Reason.SCALED_DOWN, f"scaled {sd.color} to 0 after the scale-down delay")
        r.st.scale_down = None


# -- a candidate that is no longer the template --------------------------------------------
def supersede(r: Rollout) -> None:
    """A new template replaces the candidate; after the switch traffic first returns to the
    stable colour, so that only once it serves (§2.1 rule 1): until then the candidate keeps
    traffic and its pods (the new template waits), and the stable colour is scaled up."""
    old = r.st.candidate_revision
    # traffic on the candidate colour (the status says so, or the routes do: a lost status
    # write) leaves it before its pods are replaced
    switched = r.st.active_color == r.st.candidate_color or (
        r.st.candidate_color in routes.live_colors(r))
    stable = r.stable_color
    if switched and stable is not None and not r.colour_serves(stable, r.st.stable_revision):
        note = (f"superseded by {r.rev}: waiting for Ready pods on {stable} "
                f"({r.st.stable_revision}) before moving traffic back from "
                f"{r.st.candidate_color}")
        if r.st.message != note:
            r.event(Reason.SUPERSEDED, note, warning=True)
            r.st.message = note
        return
    r.record(Result.SUPERSEDED, f"superseded by {r.rev}")
    r.event(Reason.SUPERSEDED, f"candidate {old} superseded by {r.rev}"
            + ("; traffic returned to the stable colour first" if switched else ""))
    if r.stable_color is not None:
        r.st.active_color = r.stable_color
    r.clear_candidate()
    r.st.analysis = None
    idle(r)


# -- RollingBack ---------------------------------------------------------------------------
def rolling_back(r: Rollout) -> None:
    """A decided rollback, carried out: traffic back on the stable colour once it serves
    (until then it stays where it is), then RolledBack once the routes say so and the
    candidate is scaled to 0."""
    stable, cand = r.stable_color, r.st.candidate_color
    if r.st.active_color != stable and not r.route_back():
        return
    ingress_ok = r.spec.ingress is None or r.obs.ingress_color == stable
    state = r.obs.deployments.get(cand) if cand else None
    if r.obs.active_service_color == stable and ingress_ok and (
        state is None or state.replicas == 0
    ):
        rev = r.st.candidate_revision
        last = r.st.history[-1] if r.st.history else None
        reason = last.reason if last is not None and last.revision == rev and (
            last.started_at == r.st.candidate_since) else r.st.message.removeprefix(
            f"rolling back {rev}: ")
        r.clear_candidate()
        r.enter(Phase.ROLLED_BACK, f"{rev} rolled back; traffic on {stable} "
                f"({r.st.stable_revision}): {reason}", Reason.ROLLED_BACK, warning=True)


# -- the candidate's own phases --------------------------------------------------------------
def progress(r: Rollout) -> None:
    phase = r.st.phase
    if phase in (Phase.DEPLOYING, Phase.VERIFYING):
        deploying_or_verifying(r)
    elif phase is Phase.AWAITING_PROMOTION:
        watch_health(r)  # waits for a promote (or abort) request, the candidate watched
    elif phase is Phase.ANALYZING:
        if not traffic_left_the_candidate(r):
            analyzing(r)
    else:  # a candidate with an unexpected phase (hand-edited status): start over
        r.enter(Phase.DEPLOYING, f"deploying {r.st.candidate_revision}", Reason.DEPLOYING)


def traffic_left_the_candidate(r: Rollout) -> bool:
    """After the switch the routes are found on the stable colour (a pass that moved them back
    lost its status write, or a hand edit) while the candidate no longer serves as verified:
    its Deployment holds another revision, not every pod is Ready, or no passing health round
    belongs to its current pods. Then the switch is undone in the status, never re-applied on
    an old verdict (§2.1 rule 1): traffic stays where it is and the candidate is checked again
    from Deploying. True: so decided. A candidate that still serves as verified gets its
    routes put back (drift, §2.1 rule 6)."""
    cand, stable = r.st.candidate_color, r.stable_color
    if cand is None or stable is None or r.st.active_color != cand:
        return False
    if r.obs.active_service_color != stable and (
        r.spec.ingress is None or r.obs.ingress_color != stable
    ):
        return False
    ready, _ = r.candidate_state_ready()
    hc = r.count_health_round()
    if ready and hc.consecutive_successes >= 1 and hc.consecutive_failures == 0:
        return False
    r.st.active_color = stable
    r.st.switched_at = None
    r.st.analysis = None
    r.st.health_check = HealthStatus()
    r.enter(Phase.DEPLOYING, f"traffic found on {stable}, off the candidate "
            f"{r.st.candidate_revision}, which no longer serves as verified: checking it again "
            "before any switch", Reason.DEPLOYING, warning=True)
    return True


def deploying_or_verifying(r: Rollout) -> None:
    """Deploying until every candidate pod is Ready, then Verifying by health rounds."""
    ready, pods = r.candidate_state_ready()
    deadline = r.spec.progress_deadline_seconds
    r.track_pause()
    if not ready:
        if r.st.phase is Phase.VERIFYING:
            r.st.health_check = HealthStatus()
        if not r.spec.paused and r.progress_elapsed() > deadline:
            r.reject(f"progress deadline exceeded: {pods} within {deadline}s",
                     RejectionKind.DEADLINE)
            return
        r.enter(Phase.DEPLOYING, f"deploying {r.st.candidate_revision} as "
                f"{r.st.candidate_color}: {pods}", Reason.DEPLOYING)
        return
    spec = r.spec.health_check
    hc = r.st.health_check = r.count_health_round()
    if hc.consecutive_failures >= spec.failure_threshold:
        r.reject(f"health checks failed {hc.consecutive_failures} consecutive rounds "
                 f"(failureThreshold {spec.failure_threshold}): {hc.last_error}",
                 RejectionKind.HEALTH)
        return
    if hc.consecutive_successes >= spec.success_threshold:
        _healthy(r)
        return
    if not r.spec.paused and r.progress_elapsed() > deadline:
        r.reject(f"progress deadline exceeded: not healthy within {deadline}s "
                 f"({hc.consecutive_successes}/{spec.success_threshold} passing rounds)",
                 RejectionKind.DEADLINE)
        return
    r.enter(Phase.VERIFYING, f"health checks {hc.consecutive_successes}/"
            f"{spec.success_threshold} passing rounds on {pods.split(' ')[0]} pods"
            + (f"; last error: {hc.last_error}" if hc.consecutive_failures else ""),
            Reason.CANDIDATE_READY)


def _healthy(r: Rollout) -> None:
    """Healthy: switch, wait for a promote request, or hold while paused."""
    first = r.st.stable_revision is None
    if not r.st.candidate_undo and hooks.hold_switch(r):
        return  # preSwitch Jobs run (or one failed) before any traffic moves
    # paused freezes the first revision's switch too (DESIGN §2: "freezes progress");
    # an undo is an explicit request and, like abort, is not held back by paused.
    if r.st.candidate_undo or (first and not r.spec.paused):
        r.switch()
    elif not first and not r.spec.promotion.auto:
        r.enter(Phase.AWAITING_PROMOTION, f"{r.st.candidate_revision} is healthy on "
                f"{r.st.candidate_color}; waiting for a promote request",
                Reason.AWAITING_PROMOTION)
    elif r.spec.paused:
        r.enter(Phase.VERIFYING, f"{r.st.candidate_revision} is healthy; paused "
                "before the traffic switch", Reason.PAUSED)
    else:
        r.switch()


def watch_health(r: Rollout) -> bool:
    """After the health checks passed, the candidate is still watched (§2.1 rule 3): health
    rounds go on, and ``failureThreshold`` failed rounds in a row reject it. False: rejected."""
    hc = r.st.health_check = r.count_health_round()
    threshold = r.spec.health_check.failure_threshold
    if hc.consecutive_failures >= threshold:
        r.reject(f"health checks failed {hc.consecutive_failures} consecutive rounds after "
                 f"the checks had passed (failureThreshold {threshold}): {hc.last_error}",
                 RejectionKind.HEALTH)
        return False
    return True


def analyzing(r: Rollout) -> None:
    """One measurement round or breach check (when one was taken): breach rejects, enough
    passing rounds promote. A round taken while the candidate is not fully Ready never counts
    toward ``checks``; a breach check never counts toward them at all (analysis.py)."""
    if not watch_health(r):
        return
    spec = r.spec.analysis
    if spec is None:  # analysis removed mid-rollout: nothing left to gate
        r.promote("analysis removed from the spec")
        return
    samples = r.obs.metrics
    if samples is None:
        return
    bases = baseline.resolve(spec, r.obs.namespace, r.obs.name, r.st, samples)
    if r.obs.breach_check and r.st.analysis is not None:
        _breach_check(r, spec, samples, bases)
        return
    ready, _ = r.candidate_state_ready()
    outcome = analysis.evaluate_round(spec, r.st.analysis, samples, iso(r.now),
                                      counts=ready, paused=r.spec.paused, baselines=bases)
    r.st.analysis = outcome.status
    label = analysis.round_label(outcome.status)
    if outcome.breach is not None:
        r.event(Reason.ANALYSIS_FAILED, outcome.breach, warning=True)
        r.reject(outcome.breach, RejectionKind.METRIC)
        return
    if outcome.done and not r.spec.paused:
        r.event(Reason.ANALYSIS_PASSED, f"{label}: {outcome.summary}")
        r.promote(f"analysis passed {outcome.status.passed}/{outcome.status.checks} rounds")
        return
    suffix = "; paused: not promoting" if outcome.done else ""
    r.st.message = f"{label}: {outcome.summary}{suffix}"


_CHECK_NOTE = "; breach check: "


def _breach_check(r: Rollout, spec: AnalysisSpec, samples: Sequence[MetricSample],
                  bases: Mapping[str, Baseline]) -> None:
    """A breach check between rounds: a Fail past failureLimit rejects at once (paused or
    not); a tolerated one is noted in the message until the next round."""
    assert r.st.analysis is not None
    outcome = analysis.evaluate_check(spec, r.st.analysis, samples, iso(r.now), baselines=bases)
    r.st.analysis = outcome.status
    if outcome.breach is not None:
        r.event(Reason.ANALYSIS_FAILED, outcome.breach, warning=True)
        r.reject(outcome.breach, RejectionKind.METRIC)
        return
    if outcome.failed:
        r.st.message = (r.st.message.split(_CHECK_NOTE)[0] + _CHECK_NOTE + outcome.failed
                        + f" (tolerated: failureLimit {spec.failure_limit})")
