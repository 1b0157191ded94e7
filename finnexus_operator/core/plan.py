"""plan(): the whole rollout policy of DESIGN.md §2 as one pure function.

``plan(spec, status, observed, now) -> Plan`` reads nothing but its arguments. It decides the
next status (phase, counters, history, conditions), the Events to record and the *ensure*
actions that make the cluster match that status. Actions are derived from the final status
(level-based), so a pass that is repeated after a crash asks for the same, already-true things.

The ladder (:func:`ladder`) is the order of the rules, in one place: an invalid spec first
(touch nothing), then a request, then the candidate's situation (none, rolling back,
superseded, in progress), then the scale-down expiry. The rules are in ``rules.py`` and
``requests.py``, the state they share in ``rollout.py``, and what a decided status asks of the
cluster in ``output.py``; when a pass is next needed is ``schedule.py``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from finnexus_operator.core import hooks, output, routes, rules, schedule
from finnexus_operator.core.actions import Action
from finnexus_operator.core.invalid import InvalidPass, invalid
from finnexus_operator.core.observed import Observed
from finnexus_operator.core.requests import handle_request
from finnexus_operator.core.revision import revision_of
from finnexus_operator.core.rollout import Event, Rollout
from finnexus_operator.core.validation import InvalidSpec, ParsedSpec
from finnexus_operator.models.phases import Phase, Result
from finnexus_operator.models.status import FinNexusDeploymentStatus

__all__ = ["Plan", "ladder", "plan"]


@dataclass(frozen=True)
class Plan:
    """What one pass decided."""

    status: FinNexusDeploymentStatus
    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()
    requeue_after: float | None = None  # seconds until the next pass is needed
    # §2.1 rule 2: a decision that moves traffic away from a candidate, to be recorded before
    # any action is applied (phase RollingBack, rejectedRevision, the reason; activeColor
    # still where traffic is). A crash or a failed action after it resumes the rollback.
    decision: FinNexusDeploymentStatus | None = None


def ladder(r: Rollout) -> None:
    """The rules of one pass, in order (a valid spec; the order matters)."""
    hooks.refresh(r)  # hook Jobs that ended since the last pass, in any phase
    handle_request(r)  # abort/undo first: they win over anything the phase would do
    st = r.st
    if st.candidate_color is None:
        rules.idle(r)
    elif st.phase is Phase.ROLLING_BACK:
        rules.rolling_back(r)  # a decided rollback is finished, never reconsidered
    elif (st.candidate_revision != r.rev and not st.candidate_undo) or (
        st.candidate_revision is None  # a hand-edited status: start over, never raise
    ):
        rules.supersede(r)
    else:
        rules.progress(r)
    if st.candidate_color is None and st.phase is Phase.STABLE:
        hooks.post_promotion(r)  # in the promoting pass too: no wait for another event
    rules.expire_scale_down(r)


def plan(spec: ParsedSpec, status: FinNexusDeploymentStatus, observed: Observed,
         now: datetime) -> Plan:
    """Decide the next status, Events and ensure-actions. Pure; never raises on bad input."""
    st = status.model_copy(deep=True)
    if isinstance(spec, InvalidSpec):
        decided = invalid(st, spec.reason, observed, now)
        return Plan(status=decided.status, actions=tuple(decided.actions),
                    events=tuple(decided.events), requeue_after=_invalid_requeue(decided),
                    decision=decided.decision)
    r = Rollout(spec=spec, st=st, obs=observed, now=now, rev=revision_of(spec.template))
    st.template_revision = r.rev  # what Git declares, beside what runs (Argo CD's health)
    if st.phase is Phase.INVALID:
        # Valid again: Invalid overwrote the phase, so recover the one the bookkeeping implies
        # (a rollback in progress must not restart the rejected candidate as Deploying).
        st.phase = _resume_phase(st)
    ladder(r)
    routes.note(r)
    output.conditions(r)
    st.observed_generation = observed.generation
    if st.phase is None:
        st.phase = Phase.PENDING
    return Plan(status=st, actions=tuple(output.actions(r)), events=tuple(r.events),
                requeue_after=schedule.requeue_after(spec, st, observed, now,
                                                     decided_events=bool(r.events)),
                decision=_decision(status, st))


def _decision(before: FinNexusDeploymentStatus, after: FinNexusDeploymentStatus
              ) -> FinNexusDeploymentStatus | None:
    """The write-ahead record of a rollback decided in this pass (None: nothing to record)."""
    if after.phase is not Phase.ROLLING_BACK or before.phase is Phase.ROLLING_BACK:
        return None
    return after.model_copy(update={"active_color": before.active_color})


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


def _invalid_requeue(decided: InvalidPass) -> float | None:
    """Invalid waits for an edit (a watch event), unless traffic still waits to return."""
    st = decided.status
    waiting = st.candidate_color is not None and st.active_color == st.candidate_color
    return schedule.POLL_SECONDS if waiting and st.stable_revision is not None else None
