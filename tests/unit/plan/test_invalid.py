"""Invalid: a spec that cannot be acted on touches nothing and names the field; made valid
again, the rollout resumes where it was, without losing a decided rollback."""

from __future__ import annotations

from typing import Any

import pytest

from finnexus_operator.core.observed import DeploymentState
from finnexus_operator.models.phases import Phase
from finnexus_operator.models.status import FinNexusDeploymentStatus
from tests.unit.plan.calls import decide
from tests.unit.plan.situations import (
    Situation,
    analyzing,
    deploying,
    name,
    rolled_back,
    rolling_back,
    stable,
    verifying,
)
from tests.unit.planlib import BLUE, GREEN, R1, R2, T0, V1, V2, Cluster, Sim, kinds, make_spec


def new() -> Sim:
    """A resource just created (no analysis), before its first pass."""
    return Sim(make_spec(V1))


@pytest.mark.parametrize(("patch", "field"), [
    pytest.param({"replicas": 0}, "spec.replicas", id="replicas-0"),
    pytest.param({"template": None}, "spec.template", id="template-missing"),
    pytest.param({"template": {"spec": {"containers": []}}}, "spec.template",
                 id="template-without-containers"),
    pytest.param({"service": {"targetPort": "web"}}, "service.targetPort",
                 id="targetPort-not-a-container-port"),
    pytest.param({"healthCheck": {"successThreshold": 0}}, "spec.healthCheck.successThreshold",
                 id="successThreshold-0"),
    pytest.param({"analysis": {"metrics": []}}, "spec.analysis.metrics",
                 id="analysis-without-metrics"),
    pytest.param({"analysis": {"metrics": [{"name": "x", "query": "up"}]}},
                 "spec.analysis.metrics[0]", id="metric-without-bounds"),
    pytest.param({"analysis": {"metrics": [{"name": "x", "query": "up{a='{{pod}}'}", "max": 1}]}},
                 "spec.analysis.metrics[0].query", id="query-with-unknown-placeholder"),
    pytest.param({"ingress": {"host": "h", "pathType": "Regex"}}, "spec.ingress.pathType",
                 id="ingress-pathType-Regex"),
    pytest.param({"bogus": 1}, "spec.bogus", id="unknown-field"),
    pytest.param({"progressDeadlineSeconds": -1}, "spec.progressDeadlineSeconds",
                 id="negative-deadline"),
])
@pytest.mark.parametrize("situation", [new, deploying, verifying, stable], ids=name)
def test_invalid_spec_touches_nothing_and_names_the_field(
    patch: dict[str, Any], field: str, situation: Situation
) -> None:
    """Before the switch (or idle) an invalid spec touches nothing; a promote waits (§2.1
    rule 5: not removed, said in a Warning Event)."""
    sim = situation()
    before = sim.status
    sim.set(**patch)
    p = sim.step(request="promote")
    assert p.actions == ()
    assert p.status.phase is Phase.INVALID
    assert field in p.status.message
    assert [(e.type, e.reason) for e in p.events] == [("Warning", "InvalidSpec"),
                                                       ("Warning", "RequestIgnored")]
    assert field in p.events[0].message
    assert "waits: the spec is invalid" in p.events[1].message
    assert sim.cluster.request == "promote"  # it waits, it is not removed
    assert p.status.observed_generation == sim.cluster.generation
    assert p.status.active_color == before.active_color
    assert p.status.candidate_color == before.candidate_color
    degraded = {c.type: c for c in p.status.conditions}["Degraded"]
    assert degraded.status == "True" and degraded.reason == "InvalidSpec"
    sim.cluster.request = None
    p2 = sim.step()
    assert p2.events == () and p2.actions == ()


@pytest.mark.parametrize("patch", [{"replicas": 0}, {"template": None}, {"bogus": 1}],
                         ids=["replicas-0", "template-missing", "unknown-field"])
def test_invalid_edit_after_the_switch_returns_traffic_to_stable_first(
    patch: dict[str, Any]
) -> None:
    """§2.1 rule 5: traffic never stays stranded on an unproven candidate: it returns to
    the stable colour as an abort would (decision written first), then Invalid is reported."""
    sim = analyzing()
    assert sim.cluster.service == GREEN
    sim.set(**patch)
    p = sim.step()
    assert kinds(p.actions) == ["Route:blue", "Scale:green:0"]
    assert sim.cluster.service == BLUE and sim.cluster.deployments[GREEN].replicas == 0
    assert p.status.phase is Phase.INVALID and p.status.active_color == BLUE
    assert p.status.rejected_revision == R2 and p.status.candidate_color is None
    assert p.status.history[-1].result == "RolledBack"
    assert "invalid after the switch" in p.status.history[-1].reason
    assert p.decision is not None and p.decision.active_color == GREEN  # where traffic was
    assert p.decision.rejected_revision == R2
    assert "RolledBack" in [e.reason for e in p.events]
    assert sim.step().actions == ()  # done once; from now on it touches nothing


def test_invalid_after_the_switch_waits_for_stable_pods_before_moving_traffic() -> None:
    sim = analyzing()
    sim.cluster.deployments[BLUE] = DeploymentState(R1, 2, ready=0)  # the stable pods died
    sim.set(replicas=0)
    p = sim.step(ready=False)
    assert "Route:blue" not in kinds(p.actions) and sim.cluster.service == GREEN
    assert p.status.candidate_color == GREEN and p.requeue_after is not None
    sim.cluster.pods_ready(BLUE)
    p = sim.step(ready=False)
    assert kinds(p.actions)[:1] == ["Route:blue"] and sim.cluster.service == BLUE


@pytest.mark.parametrize("request_", ["abort", "undo"])
def test_abort_and_undo_are_honoured_while_invalid(request_: str) -> None:
    sim = verifying()
    sim.set(replicas=0)
    p = sim.step(request=request_)
    assert "Scale:green:0" in kinds(p.actions) and f"Clear:{request_}" in kinds(p.actions)
    assert p.status.phase is Phase.INVALID and p.status.rejected_revision == R2
    assert p.status.candidate_color is None and sim.cluster.service == BLUE
    assert "Request" in [e.reason for e in p.events]


def test_invalid_spec_none_and_changed_message_emits_a_new_event() -> None:
    status = FinNexusDeploymentStatus()
    p = decide(None, status, Cluster().observe(), T0)
    assert p.status.message == "spec: missing" and p.actions == ()
    p2 = decide(make_spec(replicas=0), p.status, Cluster().observe(), T0)
    assert [e.reason for e in p2.events] == ["InvalidSpec"]
    p3 = decide(make_spec(replicas=0), p2.status, Cluster().observe(), T0)
    assert p3.events == ()


@pytest.mark.parametrize(("situation", "phases"), [
    pytest.param(deploying, None, id="deploying"),
    pytest.param(verifying, None, id="verifying"),
    pytest.param(analyzing, {Phase.ROLLED_BACK}, id="analyzing"),  # rule 5: aborted
    pytest.param(rolling_back, {Phase.ROLLING_BACK, Phase.ROLLED_BACK}, id="rolling-back"),
    pytest.param(stable, {Phase.STABLE}, id="stable"),
    pytest.param(rolled_back, {Phase.ROLLED_BACK}, id="rolled-back"),
])
def test_valid_again_after_invalid_resumes_without_losing_safety(
    situation: Situation, phases: set[Phase] | None
) -> None:
    sim = situation()
    before = sim.status.model_copy(deep=True)
    spec = sim.spec
    sim.set(replicas=0)
    sim.step()
    sim.spec = spec
    p = sim.step(health=None)
    st = p.status
    assert st.phase is not Phase.INVALID
    if situation is analyzing:  # the invalid edit after the switch returned the traffic
        assert st.active_color == BLUE and st.rejected_revision == R2
        return
    assert st.active_color == before.active_color
    assert st.stable_revision == before.stable_revision
    if phases is not None:
        assert st.phase in phases
    if situation is stable or situation is rolled_back:
        assert st.phase is before.phase
    if situation is rolling_back:  # the decided rollback stands
        assert st.rejected_revision == R2
        assert f"Ensure:green:{R2}:2" not in kinds(p.actions)


def test_abort_while_invalid_never_scales_a_first_revision_that_already_serves() -> None:
    """Found by the property tests: the first switch happened but its status write was
    lost; an abort while Invalid must not scale the colour that routes live traffic to 0."""
    sim = Sim(make_spec(V1, success=1))
    sim.step()  # Deploying blue
    sim.step(store=False)  # healthy, switched to blue; the status write is lost
    assert sim.cluster.service == BLUE
    sim.set(replicas=0)
    p = sim.step(request="abort")
    assert "Scale:blue:0" not in kinds(p.actions)
    assert sim.cluster.deployments[BLUE].replicas >= 1


def test_abort_while_invalid_after_a_lost_switch_waits_for_the_stable_colour() -> None:
    """Found by the property tests: V2 was switched to green and promoted (blue scaled to 0
    at once, no analysis, no delay), but that status write was lost; the stored status still
    says "Deploying V2 on green, traffic on blue". An abort while Invalid must not route to
    blue, which has no pods, nor scale green, which serves: blue is scaled up first, and
    traffic moves back only once it has Ready pods (§2.1 rule 1)."""
    sim = Sim(make_spec(V1, success=1, scale_down_delay=0))
    sim.run_until(Phase.STABLE)
    sim.set_template(V2)
    sim.step()  # Deploying V2 on green
    sim.step(store=False)  # healthy: switched, promoted, blue scaled to 0; status write lost
    assert sim.cluster.service == GREEN and sim.cluster.deployments[BLUE].replicas == 0
    assert sim.status.phase is Phase.DEPLOYING and sim.status.active_color == BLUE
    sim.set(replicas=0)
    p = sim.step(request="abort", ready=False)
    acts = kinds(p.actions)
    assert "Route:blue" not in acts and "Scale:green:0" not in acts, acts
    assert "Scale:blue:2" in acts and sim.cluster.service == GREEN
    assert p.status.active_color == GREEN  # the status names where traffic is
    sim.cluster.pods_ready(BLUE)
    p = sim.step(ready=False)
    assert kinds(p.actions)[:1] == ["Route:blue"] and sim.cluster.service == BLUE
    assert p.status.rejected_revision == R2 and p.status.candidate_color is None
