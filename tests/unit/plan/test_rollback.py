"""RollingBack -> RolledBack: traffic returns to the stable colour before the candidate is
scaled down, the rollback completes only when both hold, and the rejected revision stays
rejected until the template changes or a retry request."""

from __future__ import annotations

import pytest

from finnexus_operator.core.actions import ClearRequest, RouteTraffic
from finnexus_operator.core.observed import DeploymentState
from finnexus_operator.models.phases import Phase
from tests.unit.plan.calls import decide
from tests.unit.plan.situations import BAD, analyzing, index_of, rolled_back, rolling_back
from tests.unit.planlib import BLUE, GREEN, R1, R2, R3, V2, V3, kinds


@pytest.mark.parametrize("cause", ["breach", "abort", "undo"])
def test_rollback_routes_traffic_to_stable_before_scaling_candidate_down(cause: str) -> None:
    sim = analyzing()
    p = sim.step(metrics=BAD) if cause == "breach" else sim.step(request=cause)
    assert p.status.phase is Phase.ROLLING_BACK
    acts = kinds(p.actions)
    assert index_of(acts, "Route:blue") < index_of(acts, "Scale:green:0")
    assert index_of(acts, f"Ensure:blue:{R1}:2") < index_of(acts, "Scale:green:0")
    assert not any(a.startswith("Ensure:green") for a in acts)
    assert "Preview:blue" in acts


@pytest.mark.parametrize(("route", "scale", "ingress_too", "done"), [
    pytest.param(False, False, True, False, id="nothing-done-yet"),
    pytest.param(True, False, True, False, id="routed-candidate-still-scaled-up"),
    pytest.param(False, True, True, False, id="scaled-down-traffic-still-on-candidate"),
    pytest.param(True, True, False, False, id="service-routed-ingress-not"),
    pytest.param(True, True, True, True, id="routed-and-scaled-down"),
])
def test_rolled_back_only_after_traffic_is_back_and_candidate_is_scaled_to_zero(
    route: bool, scale: bool, ingress_too: bool, done: bool
) -> None:
    sim = rolling_back(ingress=True)  # actions of the breach pass were not applied
    assert sim.cluster.service == GREEN and sim.cluster.ingress == GREEN
    if route:
        sim.cluster.service = BLUE
        if ingress_too:
            sim.cluster.ingress = BLUE
    if scale:
        sim.cluster.deployments[GREEN] = DeploymentState(R2, 0, 0)
    p = decide(sim.spec, sim.status, sim.cluster.observe(), sim.now)
    assert p.status.phase is (Phase.ROLLED_BACK if done else Phase.ROLLING_BACK)
    if done:
        assert p.status.candidate_color is None and p.status.active_color == BLUE
        assert p.status.message.startswith(f"{R2} rolled back; traffic on blue ({R1}): ")
        assert [e.reason for e in p.events] == ["RolledBack"]
    else:
        assert RouteTraffic(BLUE) in p.actions


def test_rejected_revision_is_not_retried_until_the_template_changes_or_retry() -> None:
    sim = rolled_back()
    for _ in range(5):
        p = sim.step()
        assert p.status.phase is Phase.ROLLED_BACK and p.status.candidate_color is None
        assert not any(a.startswith("Ensure:green") for a in kinds(p.actions))
    assert p.status.message.startswith(f"{R2} rolled back; traffic on blue ({R1})")
    p = sim.step(request="retry")
    assert p.status.rejected_revision is None
    assert (p.status.phase, p.status.candidate_revision) == (Phase.DEPLOYING, R2)
    assert ClearRequest("retry") in p.actions


def test_a_rejection_blocks_only_that_revision_until_another_one_is_tried() -> None:
    """§2.2: R2 rejected -> R3 -> back to R2 deploys R2 again (rejectedRevision is cleared
    when another revision becomes the candidate)."""
    sim = rolled_back()
    sim.set_template(V3)
    p = sim.step()
    assert (p.status.phase, p.status.candidate_revision) == (Phase.DEPLOYING, R3)
    assert p.status.rejected_revision is None
    sim.set_template(V2)  # supersedes V3; R2 is no longer blocked
    p = sim.step()
    assert (p.status.phase, p.status.candidate_revision) == (Phase.DEPLOYING, R2)
