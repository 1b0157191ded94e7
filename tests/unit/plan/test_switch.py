"""The traffic switch: which colour a candidate gets, the manual gate, what the switch pass
routes and in which order, and what happens to the old colour and the Ingress afterwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from finnexus_operator.core.actions import ClearRequest, RemoveIngress, RouteTraffic
from finnexus_operator.core.observed import DeploymentState, Observed
from finnexus_operator.core.revision import revision_of
from finnexus_operator.models.phases import Phase
from finnexus_operator.models.status import FinNexusDeploymentStatus
from tests.unit.plan.calls import decide
from tests.unit.plan.situations import awaiting, index_of, verifying
from tests.unit.planlib import (
    BLUE,
    GREEN,
    R1,
    R2,
    V1,
    V2,
    V3,
    V4,
    analysis,
    kinds,
    make_spec,
    stable_sim,
)


@pytest.mark.parametrize(("releases", "color"), [
    pytest.param(1, GREEN, id="1-release-green"),
    pytest.param(2, BLUE, id="2-releases-blue"),
    pytest.param(3, GREEN, id="3-releases-green"),
])
def test_new_candidate_gets_the_colour_that_is_not_active(releases: int, color: str) -> None:
    sim = stable_sim(make_spec(V1))
    for i, tmpl in enumerate([V2, V3, V4][:releases]):
        sim.set_template(tmpl)
        p = sim.step()
        assert p.status.candidate_color == (GREEN if i % 2 == 0 else BLUE)
        sim.run_until(Phase.STABLE)
    assert sim.status.active_color == color
    assert sim.cluster.service == color


@pytest.mark.parametrize("with_analysis", [pytest.param(True, id="with-analysis"),
                                           pytest.param(False, id="without-analysis")])
def test_manual_gate_waits_for_promote_then_switches(with_analysis: bool) -> None:
    sim = awaiting(analysis_spec=analysis() if with_analysis else None)
    for _ in range(5):
        p = sim.step()
        assert p.status.phase is Phase.AWAITING_PROMOTION
        assert RouteTraffic(BLUE) in p.actions and RouteTraffic(GREEN) not in p.actions
    p = sim.step(request="promote")
    assert p.status.phase is (Phase.ANALYZING if with_analysis else Phase.STABLE)
    assert RouteTraffic(GREEN) in p.actions
    assert ClearRequest("promote") in p.actions
    assert "Request" in sim.events(p) and "TrafficSwitched" in sim.events(p)
    assert sim.cluster.request is None


def test_switch_pass_routes_traffic_and_preview_to_candidate_and_keeps_stable() -> None:
    sim = verifying(analysis_spec=analysis())
    p = sim.step()
    assert p.status.phase is Phase.ANALYZING
    # the candidate is ensured before traffic is routed to it
    assert kinds(p.actions) == ["Services", f"Ensure:blue:{R1}:2", f"Ensure:green:{R2}:2",
                                "Route:green", "Preview:green"]
    assert p.status.active_color == GREEN and p.status.switched_at is not None
    assert p.status.message == "round 0/3: traffic on green, first measurement in 1s"


def test_before_switch_traffic_stays_on_stable_and_preview_on_candidate() -> None:
    sim = verifying(analysis_spec=analysis(), success=3)
    acts = kinds(sim.last.actions)  # type: ignore[union-attr]
    assert "Route:blue" in acts and "Preview:green" in acts and "Route:green" not in acts


# -- after the promotion ------------------------------------------------------------------------
@pytest.mark.parametrize("delay", [pytest.param(d, id=f"delay-{d}s") for d in (0, 5, 30)])
def test_old_colour_is_scaled_down_only_after_the_delay(delay: int) -> None:
    sim = stable_sim(make_spec(V1, scale_down_delay=delay))
    sim.set_template(V2)
    p = sim.run_until(Phase.STABLE)
    promoted = sim.now - timedelta(seconds=1)
    if delay == 0:  # due at once: scaled down in the promotion pass, after the route
        acts = kinds(p.actions)
        assert index_of(acts, "Route:green") < index_of(acts, "Scale:blue:0")
        return
    assert p.status.scale_down is not None and p.status.scale_down.color == BLUE
    assert sim.cluster.deployments[BLUE].replicas == 2
    for t in range(delay):
        q = decide(sim.spec, p.status, sim.cluster.observe(), promoted + timedelta(seconds=t))
        assert not any(a.startswith("Scale:blue") for a in kinds(q.actions)), t
    q = decide(sim.spec, p.status, sim.cluster.observe(), promoted + timedelta(seconds=delay))
    assert "Scale:blue:0" in kinds(q.actions)
    assert q.status.scale_down is None
    assert "OldColorScaledDown" not in [e.reason for e in q.events]  # routine: no Event
    if delay:
        assert 0 < (p.requeue_after or 0) <= delay


@pytest.mark.parametrize("with_ingress, present, removed", [
    pytest.param(False, True, True, id="unset-present-removed"),
    pytest.param(False, False, False, id="unset-absent-nothing"),
    pytest.param(True, True, False, id="set-present-kept"),
])
def test_an_owned_ingress_is_removed_only_when_spec_ingress_is(
    with_ingress: bool, present: bool, removed: bool
) -> None:
    tmpl = {"spec": {"containers": [{"name": "a", "image": "v1",
                                     "ports": [{"name": "http", "containerPort": 80}]}]}}
    rev = revision_of(tmpl)
    spec: dict[str, Any] = {"template": tmpl}
    if with_ingress:
        spec["ingress"] = {"host": "x.example.com"}
    status = FinNexusDeploymentStatus(phase="Stable", active_color="blue", stable_revision=rev)
    observed = Observed(deployments={"blue": DeploymentState(rev, 1, 1)},
                        active_service_color="blue", ingress_present=present)
    result = decide(spec, status, observed, datetime(2026, 1, 1, tzinfo=UTC))
    assert any(isinstance(a, RemoveIngress) for a in result.actions) is removed
