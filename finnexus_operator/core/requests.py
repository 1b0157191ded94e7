"""The four requests (annotation ``finnexus.ai/request``): promote, abort, retry, undo.

Each is acted on once: a handled request always yields a ClearRequest action and an Event, and
a request that does not apply is refused with a Warning Event saying why. Every handler is a
guard ladder that returns a refusal ("" = accepted) and, when accepted, applies a transition.
"""

from __future__ import annotations

from collections.abc import Callable

from finnexus_operator.core.manifests import other
from finnexus_operator.core.rollout import Rollout
from finnexus_operator.models.phases import Phase, Reason, RejectionKind, Request

__all__ = ["handle_request"]


def handle_request(r: Rollout) -> None:
    """Act on the pending request, if any (before any phase rule runs)."""
    raw = r.obs.request
    if raw is None:
        return
    r.clear_request = raw
    try:
        request = Request(raw.strip().lower())
    except ValueError:
        r.event(Reason.REQUEST_IGNORED, f"unknown request {raw!r}; expected one of "
                "promote, abort, retry, undo", warning=True)
        return
    refusal = _HANDLERS[request](r)
    if refusal:
        r.event(Reason.REQUEST_IGNORED, f"{request.value} request ignored: {refusal}",
                warning=True)
    else:
        r.event(Reason.REQUEST, f"{request.value} request accepted")


def promote(r: Rollout) -> str:
    phase, cand_rev = r.st.phase, r.st.candidate_revision
    if r.st.candidate_color is None or cand_rev != r.rev:
        return "no rollout in progress"
    if r.spec.paused:  # paused freezes progress, requested or not
        return "the rollout is paused; set spec.paused to false first"
    if phase is Phase.AWAITING_PROMOTION:
        refusal = _serves_now(r)
        if refusal:
            return refusal
        r.switch()
        return ""
    if phase is Phase.ANALYZING:
        r.promote("promoted by request, analysis skipped")
        return ""
    return f"candidate is {phase.value if phase else 'not ready'}; not healthy yet"


def _serves_now(r: Rollout) -> str:
    """Why the candidate may not get traffic now ("" = it may): every pod Ready and a health
    round passed in this very pass (§2.1 rule 1: a promote never switches on an old verdict)."""
    ready, pods = r.candidate_state_ready()
    if not ready:
        return f"the candidate is not fully Ready ({pods})"
    health = r.obs.health
    if health is None:
        return "no health round could be taken in this pass; try again"
    if not health.ok:
        return f"the candidate failed its health check just now: {health.detail}"
    return ""


def abort(r: Rollout) -> str:
    if r.st.candidate_color is None or r.st.phase is Phase.ROLLING_BACK:
        return "no rollout in progress"
    r.event(Reason.ABORTED, f"rollout of {r.st.candidate_revision} aborted by request",
            warning=True)
    r.reject("aborted by request", RejectionKind.ABORT)
    return ""


def retry(r: Rollout) -> str:
    if r.st.rejected_revision is None:
        return "no rejected revision"
    if r.st.candidate_color is not None:
        return "a rollout is in progress"
    r.st.rejected_revision = None
    return ""


def undo(r: Rollout) -> str:
    if r.st.candidate_color is not None:
        if r.st.phase is Phase.ROLLING_BACK:
            return "already rolling back"
        r.reject("undone by request", RejectionKind.ABORT)
        return ""
    active, prev = r.st.active_color, r.st.previous_stable_revision
    if active is None or prev is None:
        return "no previous stable revision"
    target = other(active)
    state = r.obs.deployments.get(target)
    if (state is None or state.revision != prev) and prev not in r.obs.revisions:
        return (f"Deployment of {target} no longer holds revision {prev} and its template "
                "was not kept")
    r.begin_candidate(target, prev, undo=True)
    r.st.scale_down = None
    r.event(Reason.UNDO, f"undo: returning to {prev} on {target}")
    r.enter(Phase.DEPLOYING, f"undo: scaling {target} ({prev}) up", Reason.DEPLOYING)
    if state is not None and state.revision == prev and state.ready >= r.spec.replicas:
        r.switch()  # instant undo: the promoted pods of the previous colour still serve
    return ""


_HANDLERS: dict[Request, Callable[[Rollout], str]] = {
    Request.PROMOTE: promote,
    Request.ABORT: abort,
    Request.RETRY: retry,
    Request.UNDO: undo,
}
