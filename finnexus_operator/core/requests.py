"""The four requests (annotation ``finnexus.ai/request``): promote, abort, retry, undo.

Each is acted on once: a handled request always yields a ClearRequest action and an Event, and
a request that does not apply is refused with a Warning Event saying why.
"""

from __future__ import annotations

from finnexus_operator.core.clock import iso
from finnexus_operator.core.phases import Phase, Reason, Request
from finnexus_operator.core.rollout import Rollout, other
from finnexus_operator.models.status import HealthStatus

__all__ = ["Requests"]


class Requests(Rollout):
    """Request handling on top of the shared transitions."""

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
