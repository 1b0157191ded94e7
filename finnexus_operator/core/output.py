"""What a decided status asks of the cluster: the ensure-actions and the conditions.

Actions are derived from the final status (level-based): a pass repeated after a crash asks
for the same, already-true things. Traffic moves before any colour is touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finnexus_operator import constants
from finnexus_operator.core import hooks, routes
from finnexus_operator.core.actions import (
    Action,
    ClearRequest,
    EnsureDeployment,
    EnsureServices,
    PruneRevisions,
    RecordRevision,
    RemoveIngress,
    RoutePreview,
    RouteTraffic,
    ScaleDeployment,
)
from finnexus_operator.core.clock import iso_seconds
from finnexus_operator.core.rollout import HISTORY_LIMIT, Rollout
from finnexus_operator.models.phases import Condition, Phase, Reason, Result
from finnexus_operator.models.status import ConditionStatus

__all__ = ["actions", "conditions", "merge_conditions"]


def actions(r: Rollout) -> list[Action]:
    """The ensure-actions that make the cluster match the decided status, in order."""
    st, spec, deps = r.st, r.spec, r.obs.deployments
    acts: list[Action] = [EnsureServices()]
    cand, stable, active = st.candidate_color, r.stable_color, st.active_color
    rolling_back = st.phase is Phase.ROLLING_BACK
    stable_template = _template_of(r, st.stable_revision)
    if stable is not None and st.stable_revision is not None and stable_template is not None:
        # the stable colour is kept exactly as promoted (and re-created if it was deleted)
        acts.append(EnsureDeployment(stable, st.stable_revision, stable_template,
                                     spec.replicas))
    elif stable is not None and stable in deps:
        acts.append(ScaleDeployment(stable, spec.replicas))
    # Traffic away from the candidate is routed before the candidate is touched: after a
    # supersede that follows the switch, production traffic must leave the candidate
    # colour before its Deployment gets the new, unverified template (DESIGN §2 "traffic
    # first returns"). Traffic *to* the candidate is routed after it is ensured.
    route_first = active is not None and active != cand
    # the route to apply (None: none yet, or held: never onto a colour without Ready pods)
    route = active if routes.held_on(r) is None else None
    if route is not None and route_first:
        acts.append(RouteTraffic(route))
    if cand is not None and not rolling_back:
        undo_template = _template_of(r, st.candidate_revision) if st.candidate_undo else None
        held = deps.get(cand)
        if st.candidate_undo and ((held is not None and held.revision == st.candidate_revision)
                                  or undo_template is None):
            acts.append(ScaleDeployment(cand, spec.replicas))
        elif st.candidate_undo and st.candidate_revision and undo_template is not None:
            acts.append(EnsureDeployment(cand, st.candidate_revision, undo_template,
                                         spec.replicas))
        elif st.candidate_revision != r.rev:
            # a superseded candidate that still serves (its supersede waits for the stable
            # colour): its pods stay exactly as they are
            acts.append(ScaleDeployment(cand, spec.replicas))
        else:
            acts.append(EnsureDeployment(cand, r.rev, spec.template, spec.replicas))
    if route is not None and not route_first:
        acts.append(RouteTraffic(route))
    preview = cand if cand is not None and not rolling_back else active
    if preview is not None:
        acts.append(RoutePreview(preview))
    # Scale-downs come last: traffic is already off the colour being scaled down.
    keep = {color for color in (stable, active) if color is not None}
    if cand is not None and not rolling_back:
        keep.add(cand)
    sd = st.scale_down
    if sd is not None:
        keep.add(sd.color)
    if route is None:
        # This pass moves no traffic (no active colour yet, or the route is held), so the
        # colours the routes still point at (a lost status write) keep serving: never scale
        # them to zero.
        keep |= routes.live_colors(r)
    for color in constants.COLORS:
        if color not in keep and color in deps:
            acts.append(ScaleDeployment(color, 0))
    acts.extend(_revision_records(r))
    acts.extend(hooks.actions(r))
    if spec.ingress is None and r.obs.ingress_present:
        acts.append(RemoveIngress())  # spec.ingress removed: the Service routes alone
    if r.clear_request is not None:
        acts.append(ClearRequest(r.clear_request))
    return acts


def _template_of(r: Rollout, revision: str | None) -> Mapping[str, Any] | None:
    """The exact template of ``revision``: the spec's, or the one its ControllerRevision kept."""
    if revision is None:
        return None
    if revision == r.rev:
        return r.spec.template
    return r.obs.revisions.get(revision)


def _revision_records(r: Rollout) -> list[Action]:
    """Promoted templates are kept (last HISTORY_LIMIT) in ControllerRevisions (§2.2)."""
    st, acts = r.st, list[Action]()
    if st.stable_revision == r.rev and r.rev not in r.obs.revisions:
        acts.append(RecordRevision(r.rev, r.spec.template))
    promoted = [h.revision for h in st.history if h.result == Result.PROMOTED.value]
    keep = list(dict.fromkeys(
        [*promoted, *(x for x in (st.previous_stable_revision, st.stable_revision) if x)]))
    keep = keep[-HISTORY_LIMIT:]
    if any(rev not in keep for rev in r.obs.revisions):
        acts.append(PruneRevisions(tuple(keep)))
    return acts


def conditions(r: Rollout) -> None:
    """Available, Progressing and Degraded for the decided status."""
    st = r.st
    phase = st.phase.value if st.phase else "Pending"
    active = st.active_color
    state = r.obs.deployments.get(active) if active else None
    ready = state.ready if state else 0
    available = active is not None and ready >= 1
    degraded = st.phase in (Phase.ROLLED_BACK, Phase.FAILED, Phase.INVALID,
                            Phase.ROLLING_BACK)
    degraded_reason, degraded_message = (phase, st.message) if degraded else (
        Reason.AS_EXPECTED.value, "")
    if not degraded and st.stable_revision is not None and active == r.stable_color and (
        not available
    ):
        # §2.2: the promoted stable colour lost its Ready pods later: said loudly, and no
        # automatic traffic change (there is nowhere better to send it).
        degraded = True
        degraded_reason = Reason.STABLE_UNAVAILABLE.value
        degraded_message = (f"the stable colour {active} ({st.stable_revision}) has 0/"
                            f"{r.spec.replicas} pods Ready")
        was = next((c for c in st.conditions if c.type == Condition.DEGRADED.value), None)
        if was is None or was.reason != degraded_reason:
            r.event(Reason.STABLE_UNAVAILABLE, degraded_message, warning=True)
    hook_failure = hooks.degraded(r) if not degraded else None
    if hook_failure is not None:  # a postPromotion Job failed: said, traffic unchanged
        degraded = True
        degraded_reason, degraded_message = hook_failure
    wanted = {
        Condition.AVAILABLE.value: (
            "True" if available else "False",
            Reason.TRAFFIC_SERVED.value if available else Reason.NO_TRAFFIC.value,
            f"{ready}/{r.spec.replicas} pods Ready on {active}" if active
            else "no colour has production traffic yet",
        ),
        Condition.PROGRESSING.value: (
            "True" if st.candidate_color else "False", phase,
            st.message if st.candidate_color else f"no rollout in progress ({phase})",
        ),
        Condition.DEGRADED.value: (
            "True" if degraded else "False", degraded_reason, degraded_message,
        ),
    }
    st.conditions = merge_conditions(st.conditions, wanted, iso_seconds(r.now),
                                     r.obs.generation, keep_others=False)


def merge_conditions(
    old: list[ConditionStatus], wanted: Mapping[str, tuple[str, str, str]], now: str,
    generation: int, *, keep_others: bool,
) -> list[ConditionStatus]:
    """``old`` with each ``wanted`` type set to (status, reason, message); a condition keeps
    its lastTransitionTime while its status is unchanged. ``keep_others``: other types stay
    where they are; otherwise the result holds exactly the wanted types, in their order."""
    by_type = {cond.type: cond for cond in old}
    for ctype, (status, reason, message) in wanted.items():
        prev = by_type.get(ctype)
        since = prev.last_transition_time if prev and prev.status == status else now
        by_type[ctype] = ConditionStatus(type=ctype, status=status, reason=reason,
                                         message=message, last_transition_time=since,
                                         observed_generation=generation)
    if keep_others:
        return list(by_type.values())
    return [by_type[ctype] for ctype in wanted]
