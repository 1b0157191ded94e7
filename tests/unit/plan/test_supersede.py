"""A new template while a rollout is in progress supersedes the candidate: before the switch it
is replaced on the same colour, after the switch traffic first returns to the stable colour."""

from __future__ import annotations

import pytest

from finnexus_operator.models.phases import Phase
from tests.unit.plan.situations import (
    Situation,
    analyzing,
    awaiting,
    deploying,
    first_deploying,
    first_verifying,
    index_of,
    name,
    verifying,
)
from tests.unit.planlib import BLUE, GREEN, R2, R3, V1, V2, V3, Sim, kinds, make_spec


@pytest.mark.parametrize("situation", [first_deploying, first_verifying, deploying, verifying,
                                       awaiting], ids=name)
def test_new_template_before_switch_replaces_candidate_on_same_colour(
    situation: Situation,
) -> None:
    sim = situation()
    old_color, old_rev = sim.status.candidate_color, sim.status.candidate_revision
    sim.set_template(V3)
    p = sim.step()
    st = p.status
    assert st.phase is Phase.DEPLOYING
    assert (st.candidate_color, st.candidate_revision) == (old_color, R3)
    assert st.history[-1].result == "Superseded" and st.history[-1].revision == old_rev
    assert f"Ensure:{old_color}:{R3}:2" in kinds(p.actions)
    assert st.health_check.consecutive_successes == 0
    assert "Superseded" in sim.events(p)
    if st.stable_revision:
        assert "Route:blue" in kinds(p.actions) and st.active_color == BLUE


def test_new_template_after_switch_returns_traffic_to_stable_first() -> None:
    sim = analyzing()
    sim.set_template(V3)
    p = sim.step()
    acts = kinds(p.actions)
    assert p.status.active_color == BLUE
    assert (p.status.candidate_color, p.status.candidate_revision) == (GREEN, R3)
    assert p.status.history[-1].result == "Superseded"
    assert index_of(acts, "Route:blue") < index_of(acts, f"Ensure:green:{R3}:2")
    assert p.status.analysis is None
    assert any("traffic returned to the stable colour first" in e.message for e in p.events)


def test_lost_status_after_first_switch_never_replaces_or_scales_down_the_live_colour() -> None:
    sim = Sim(make_spec(V1))
    sim.run_until(Phase.VERIFYING)
    sim.step(store=False)  # the switch pass: the Service now selects blue, the status is lost
    assert sim.cluster.service == BLUE and sim.status.phase is Phase.VERIFYING
    sim.set_template(V2)
    p = sim.step()
    assert (p.status.candidate_color, p.status.candidate_revision) == (GREEN, R2)
    acts = kinds(p.actions)
    assert not any(a.startswith(("Ensure:blue", "Scale:blue")) for a in acts), acts
    p = sim.run_until(Phase.STABLE)
    acts = kinds(p.actions)
    assert p.status.active_color == GREEN
    assert index_of(acts, "Route:green") < index_of(acts, "Scale:blue:0")


def test_new_template_equal_to_stable_cancels_the_rollout() -> None:
    sim = analyzing()
    sim.set_template(V1)
    p = sim.step()
    assert p.status.phase is Phase.STABLE and p.status.candidate_color is None
    acts = kinds(p.actions)
    assert index_of(acts, "Route:blue") < index_of(acts, "Scale:green:0")


def test_candidate_without_revision_in_status_is_started_over() -> None:
    sim = verifying()
    sim.status = sim.status.model_copy(update={"candidate_revision": None,
                                               "candidate_undo": True})
    p = sim.step()
    assert p.status.candidate_revision == R2 and p.status.phase is Phase.DEPLOYING


def test_a_lost_status_after_a_supersede_never_routes_back_to_a_replaced_candidate() -> None:
    """Found by the property tests: the supersede after the switch moved traffic back to blue
    and put R3 on green, but its status write was lost; the template then went back to R2.
    The stored status still says "Analyzing R2 on green, traffic on green": re-applying that
    route would send production traffic to green's pods, which now hold another revision and
    were never checked. Traffic stays on blue and R2 is checked again from Deploying."""
    sim = analyzing()
    sim.set_template(V3)
    p = sim.step(store=False)  # traffic back on blue, R3 on green; the status write lost
    assert sim.cluster.service == BLUE and sim.status.active_color == GREEN
    sim.set_template(V2)
    p = sim.step(health=None)
    acts = kinds(p.actions)
    assert "Route:green" not in acts and "Route:blue" in acts, acts
    st = p.status
    assert st.active_color == BLUE and st.phase is Phase.DEPLOYING
    assert (st.candidate_color, st.candidate_revision) == (GREEN, R2)
    assert "off the candidate" in st.message and st.switched_at is None
    p = sim.run_until(Phase.ANALYZING)  # health-checked again, then switched again
    assert "Route:green" in kinds(p.actions)


def test_routes_hand_edited_off_a_candidate_that_still_serves_are_put_back() -> None:
    sim = analyzing()
    sim.cluster.service = BLUE  # a hand edit of the active Service's selector
    p = sim.step()
    assert p.status.phase is Phase.ANALYZING and p.status.active_color == GREEN
    assert "Route:green" in kinds(p.actions)
