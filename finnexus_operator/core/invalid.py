"""An Invalid spec (DESIGN §2.1 rule 5): report it, touch nothing, never strand traffic.

The spec cannot be acted on, so nothing is built from it. Only three things move, using the
objects as they stand: traffic on a candidate after the switch returns to the stable colour
(as an abort), and the ``abort`` and ``undo`` requests are honoured; every other request waits
(not removed) and says so in a Warning Event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from finnexus_operator.core.actions import Action, ClearRequest, RouteTraffic, ScaleDeployment
from finnexus_operator.core.clock import iso, iso_seconds
from finnexus_operator.core.manifests import other
from finnexus_operator.core.observed import Observed
from finnexus_operator.core.output import merge_conditions
from finnexus_operator.core.record import release_record
from finnexus_operator.core.rollout import HISTORY_LIMIT, Event
from finnexus_operator.models.phases import (
    Condition,
    Phase,
    Reason,
    RejectionKind,
    Request,
    Result,
)
from finnexus_operator.models.status import FinNexusDeploymentStatus, HealthStatus, HistoryEntry

__all__ = ["InvalidPass", "invalid"]


@dataclass
class InvalidPass:
    """What an Invalid pass decided (plan() wraps it in a Plan)."""

    status: FinNexusDeploymentStatus
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    decision: FinNexusDeploymentStatus | None = None  # written ahead of the actions


def invalid(st: FinNexusDeploymentStatus, message: str, observed: Observed, now: datetime
            ) -> InvalidPass:
    """Decide an Invalid pass (``st``: a copy of the stored status, to change)."""
    out = InvalidPass(st)
    if st.phase is not Phase.INVALID or st.message != message:
        out.events.append(Event("Warning", Reason.INVALID_SPEC.value, message))
    st.phase = Phase.INVALID
    st.message = message
    st.observed_generation = observed.generation
    request = _request(observed)
    cand = st.candidate_color
    if cand is not None and st.stable_revision is not None and st.active_color != cand and (
        cand in (observed.active_service_color, observed.ingress_color)
    ):
        # Traffic is on the candidate although the status says otherwise (the switch's status
        # write was lost): the status names where traffic is, so the stable colour is made to
        # serve before anything moves back to it (§2.1 rule 1), never scaled under the routes.
        st.active_color = cand
    switched = cand is not None and st.stable_revision is not None and st.active_color == cand
    if request is Request.ABORT or (request is Request.UNDO and cand is not None):
        if cand is None:
            _refuse(out, request, "no rollout in progress")
        else:
            _abandon(out, f"{request.value} requested while the spec is invalid", observed, now,
                     RejectionKind.ABORT)
            _accept(out, request)
    elif request is Request.UNDO:
        _undo(out, observed, now)
    elif switched:
        _abandon(out, f"the spec became invalid after the switch ({message})", observed, now,
                 RejectionKind.INVALID)
    if observed.request is not None and request not in (Request.ABORT, Request.UNDO):
        out.events.append(Event("Warning", Reason.REQUEST_IGNORED.value,
                                f"request {observed.request!r} waits: the spec is invalid "
                                f"({message})"))
    if observed.request is not None and request in (Request.ABORT, Request.UNDO):
        out.actions.append(ClearRequest(observed.request))
    st.conditions = merge_conditions(
        st.conditions, {Condition.DEGRADED.value: ("True", Reason.INVALID_SPEC.value, message)},
        iso_seconds(now), observed.generation, keep_others=True)
    return out


def _request(observed: Observed) -> Request | None:
    try:
        return Request((observed.request or "").strip().lower())
    except ValueError:
        return None


def _refuse(out: InvalidPass, request: Request, why: str) -> None:
    out.events.append(Event("Warning", Reason.REQUEST_IGNORED.value,
                            f"{request.value} request ignored: {why}"))


def _accept(out: InvalidPass, request: Request) -> None:
    out.events.append(Event("Normal", Reason.REQUEST.value, f"{request.value} request accepted"))


def _serves(observed: Observed, color: str | None, revision: str | None) -> bool:
    state = observed.deployments.get(color) if color else None
    return state is not None and state.revision == revision and state.ready >= 1


def _record(st: FinNexusDeploymentStatus, result: Result, reason: str, now: datetime, *,
            undo: bool = False, kind: RejectionKind | None = None) -> None:
    entry = HistoryEntry(revision=st.candidate_revision or "", color=st.candidate_color or "",
                         result=result.value, reason=reason, started_at=st.candidate_since,
                         finished_at=iso(now), undo=undo,
                         reason_kind=None if kind is None else kind.value,
                         gates=release_record(st))
    st.history = [*st.history, entry][-HISTORY_LIMIT:]


def _abandon(out: InvalidPass, reason: str, observed: Observed, now: datetime,
             kind: RejectionKind) -> None:
    """Reject the candidate as an abort would; traffic back on the stable colour once it
    serves (until then it stays, and the stable colour is scaled up as it stands)."""
    st = out.status
    cand, stable = st.candidate_color, st.stable_revision
    assert cand is not None
    if stable is None:  # the first revision: nothing to return to
        _record(st, Result.FAILED, reason, now, kind=kind)
        st.rejected_revision = st.candidate_revision
        if cand not in (observed.active_service_color, observed.ingress_color):
            # a colour that routes live traffic (a first switch whose status write was lost)
            # is never scaled to zero: there is nothing to move that traffic to
            out.actions.append(ScaleDeployment(cand, 0))
        out.events.append(Event("Warning", Reason.FAILED.value, f"{st.candidate_revision} "
                                f"rejected: {reason}"))
        _clear_candidate(st)
        st.active_color = None
        return
    back = other(cand)
    if st.active_color == cand and not _serves(observed, back, stable):
        held = observed.deployments.get(cand)
        want = max(1, held.replicas if held else 1)
        if back in observed.deployments:
            out.actions.append(ScaleDeployment(back, want))
        out.events.append(Event("Warning", Reason.ROLLING_BACK.value,
                                f"{reason}: waiting for Ready pods on {back} ({stable}) "
                                f"before moving traffic back from {cand}"))
        return
    last = st.history[-1] if st.history else None
    if last is None or (last.revision, last.started_at, last.result) != (
        st.candidate_revision, st.candidate_since, Result.ROLLED_BACK.value
    ):  # resumed from the decision written ahead: it is recorded once
        _record(st, Result.ROLLED_BACK, reason, now, kind=kind)
    st.rejected_revision = st.candidate_revision
    # written ahead: the candidate still named, activeColor still where traffic is (rule 2)
    out.decision = st.model_copy(deep=True)
    out.events.append(Event("Warning", Reason.ROLLED_BACK.value,
                            f"{st.candidate_revision} rolled back; traffic on {back} "
                            f"({stable}): {reason}"))
    st.active_color = back
    out.actions += [RouteTraffic(back), ScaleDeployment(cand, 0)]
    _clear_candidate(st)


def _undo(out: InvalidPass, observed: Observed, now: datetime) -> None:
    """Undo while idle: back to the previous stable revision if its colour still serves."""
    st = out.status
    active, prev = st.active_color, st.previous_stable_revision
    if active is None or prev is None:
        _refuse(out, Request.UNDO, "no previous stable revision")
        return
    target = other(active)
    if not _serves(observed, target, prev):
        _refuse(out, Request.UNDO, f"{target} ({prev}) has no Ready pods and the spec is "
                "invalid: fix the spec first")
        return
    undone = st.stable_revision
    st.candidate_color, st.candidate_revision, st.candidate_since = target, prev, iso(now)
    _record(st, Result.PROMOTED, "undo", now, undo=True)
    _clear_candidate(st)
    st.active_color, st.stable_revision = target, prev
    st.previous_stable_revision, st.rejected_revision = undone, undone
    out.actions.append(RouteTraffic(target))
    out.events.append(Event("Normal", Reason.UNDO.value, f"undo: traffic back on {target} "
                            f"({prev}) while the spec is invalid"))
    _accept(out, Request.UNDO)  # the old colour is left as it stands (no spec to scale by)


def _clear_candidate(st: FinNexusDeploymentStatus) -> None:
    st.candidate_color = st.candidate_revision = st.candidate_since = None
    st.candidate_undo = False
    st.switched_at = None
    st.health_check = HealthStatus()
    st.analysis = None
