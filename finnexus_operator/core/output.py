"""What a decided status asks of the cluster: actions, the next pass, the conditions.

Actions are derived from the final status (level-based): a pass repeated after a crash asks
for the same, already-true things. Traffic moves before any colour is touched.
"""

from __future__ import annotations

from datetime import timedelta

from finnexus_operator.constants import BLUE, GREEN
from finnexus_operator.core.actions import (
    Action,
    ClearRequest,
    EnsureDeployment,
    EnsureServices,
    RemoveIngress,
    RoutePreview,
    RouteTraffic,
    ScaleDeployment,
)
from finnexus_operator.core.clock import iso_seconds, parse, seconds_since
from finnexus_operator.core.phases import Condition, Phase
from finnexus_operator.core.rollout import Rollout
from finnexus_operator.models.status import ConditionStatus

__all__ = ["POLL_SECONDS", "RESYNC_SECONDS", "Output"]

RESYNC_SECONDS = 60.0  # a pass at least this often, even with nothing in progress
POLL_SECONDS = 2.0  # readiness and rollback confirmation are polled at most this far apart


class Output(Rollout):
    """Actions, requeue time and conditions of a decided pass."""

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
        if spec.ingress is None and self.obs.ingress_present:
            acts.append(RemoveIngress())  # spec.ingress removed: the Service routes alone
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
