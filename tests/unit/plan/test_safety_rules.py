"""DESIGN §2.1 safety rules and the §2.2 rows of issue 8, one test (or table) per defect.

Each test names the defect it pins (issue 8 numbering) and fails on the code before the fix.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from finnexus_operator.core.observed import DeploymentState
from finnexus_operator.models.phases import Phase
from tests.unit.plan import situations as s
from tests.unit.plan.situations import BAD, NODATA
from tests.unit.planlib import (
    BLUE,
    GREEN,
    R1,
    R2,
    R3,
    V1,
    V2,
    V3,
    Sim,
    analysis,
    good,
    kinds,
    make_spec,
)


# -- rule 2: a decided rollback is written before it is acted on (defects 1, 2) ---------------
def test_a_rollback_decision_is_recorded_first_with_traffic_where_it_is() -> None:
    sim = s.analyzing()
    p = sim.step(metrics=BAD)
    assert p.decision is not None
    assert p.decision.phase is Phase.ROLLING_BACK and p.decision.rejected_revision == R2
    assert p.decision.active_color == GREEN  # where traffic is when it is written
    assert "error-rate 0.052 > 0.001" in p.decision.message
    assert p.status.active_color == BLUE and sim.cluster.service == BLUE


@pytest.mark.parametrize("applied", [0, 1, 2, 3], ids=lambda n: f"crash-after-{n}-actions")
def test_a_crash_after_the_decision_resumes_the_rollback_whatever_is_measured_next(
    applied: int,
) -> None:
    """Defect 2 (the crash gap) and defect 1 (a failed action): the pass that decided is
    cut short after ``applied`` actions and its final status write is lost; the next pass
    sees a *passing* round (or no round) and must still finish the rollback."""
    sim = s.analyzing()
    sim.step(metrics=BAD, apply=applied, store=False)  # store=False: the decision survives
    assert sim.status.phase is Phase.ROLLING_BACK and sim.status.rejected_revision == R2
    sim.step(metrics=good())
    p = sim.run_until(Phase.ROLLED_BACK)
    assert sim.cluster.service == BLUE and sim.cluster.deployments[GREEN].replicas == 0
    assert p.status.rejected_revision == R2
    assert [h.result for h in p.status.history].count("RolledBack") == 1


def test_no_decision_is_written_for_passes_that_do_not_move_traffic_away() -> None:
    sim = s.verifying()
    assert all(q.decision is None for q in sim.plans)
    assert sim.step().decision is None


# -- rule 1: traffic moves only to a colour that serves (defect 8) -----------------------------
def test_rollback_to_a_deleted_stable_colour_recreates_it_and_waits_with_traffic_in_place(
) -> None:
    sim = s.analyzing()
    del sim.cluster.deployments[BLUE]  # someone deleted the stable Deployment
    p = sim.step(metrics=BAD, ready=False)
    assert p.status.phase is Phase.ROLLING_BACK
    assert f"Ensure:blue:{R1}:2" in kinds(p.actions)  # re-created from its ControllerRevision
    assert "Route:blue" not in kinds(p.actions) and sim.cluster.service == GREEN
    assert "waiting for Ready pods on blue" in p.status.message
    assert sim.cluster.deployments[GREEN].replicas == 2  # an outage is never the rollback
    sim.cluster.pods_ready(BLUE)
    p = sim.step(ready=False)
    assert sim.cluster.service == BLUE
    p = sim.run_until(Phase.ROLLED_BACK)
    assert "waiting" not in p.status.message and "error-rate 0.052" in p.status.message


def test_the_stable_colour_is_kept_as_promoted_from_its_controller_revision() -> None:
    sim = s.deploying()
    assert R1 in sim.cluster.revisions  # recorded when V1 was promoted
    assert f"Ensure:blue:{R1}:2" in kinds(sim.last.actions if sim.last else ())


# -- rule 3: the candidate is watched after the switch (defects 3, 7) -------------------------
def test_a_candidate_losing_its_ready_pods_mid_analysis_is_rejected_by_health_rounds() -> None:
    sim = s.analyzing()  # failureThreshold 2, interval 1 s
    sim.cluster.pods_ready(GREEN, count=0)
    phases = [sim.step(ready=False).status.phase for _ in range(3)]
    assert Phase.ROLLING_BACK in phases
    assert "after the checks had passed" in sim.status.message
    assert "0/2 candidate pods Ready" in sim.status.message


def test_health_rounds_go_on_while_awaiting_promotion_and_reject_an_unhealthy_candidate() -> None:
    sim = s.awaiting()
    phases = [sim.step(health=False).status.phase for _ in range(3)]
    assert Phase.ROLLING_BACK in phases and sim.cluster.service == BLUE


def test_a_round_measured_while_the_candidate_is_not_fully_ready_never_counts() -> None:
    sim = s.analyzing(analysis_spec=analysis(checks=1), failure=5)
    sim.cluster.pods_ready(GREEN, count=1)
    p = sim.step(metrics=good(), ready=False)
    assert p.status.phase is Phase.ANALYZING
    assert p.status.analysis is not None and p.status.analysis.passed == 0
    sim.cluster.pods_ready(GREEN)
    p = sim.step(metrics=good(), ready=False)
    assert p.status.phase is Phase.STABLE


# -- rule 4: a streak belongs to a set of pods (defect 13) ------------------------------------
def test_the_health_streak_starts_again_when_the_candidate_pods_change() -> None:
    sim = s.deploying(success=2)
    sim.cluster.deployments[GREEN] = DeploymentState(R2, 2, 2, frozenset({"a", "b"}))
    p = sim.step(ready=False)
    assert p.status.health_check.consecutive_successes == 1
    sim.cluster.deployments[GREEN] = DeploymentState(R2, 2, 2, frozenset({"a", "c"}))
    p = sim.step(ready=False)
    assert p.status.phase is Phase.VERIFYING
    assert p.status.health_check.consecutive_successes == 1  # a new pod: counting again
    p = sim.step(ready=False)
    assert p.status.phase is Phase.ANALYZING


# -- rule 7 / §2.2: paused time does not count toward the deadline (defect 4) -----------------
def test_paused_past_the_deadline_neither_busy_loops_nor_rejects_on_resume() -> None:
    sim = s.deploying(deadline=5)
    sim.set(paused=True)
    for _ in range(4):
        p = sim.step(ready=False, advance=10)
        assert p.requeue_after is not None and p.requeue_after >= 1.0  # no 1 ms requeue
        assert p.status.phase is Phase.DEPLOYING
    sim.set(paused=False)
    p = sim.step(ready=False)
    assert p.status.phase is Phase.DEPLOYING, p.status.message  # not rejected at once
    sim.step(ready=False, advance=10)
    sim.step(ready=False)
    assert sim.status.phase is Phase.ROLLING_BACK  # the unpaused time still counts
    assert "progress deadline exceeded" in sim.status.message


# -- §2.2: a template applied during an undo (defect 5) ---------------------------------------
def test_a_template_applied_during_a_slow_undo_is_deployed_after_it_never_rejected() -> None:
    sim = s.stable_after_window()  # V2 stable on green, blue (R1) at 0
    sim.step(request="undo", ready=False)
    assert sim.status.candidate_undo and sim.status.candidate_color == BLUE
    sim.set_template(V3)  # while the undo waits for blue's pods
    p = sim.run_until(Phase.STABLE)
    assert p.status.stable_revision == R1 and p.status.rejected_revision == R2
    p = sim.step()
    assert (p.status.phase, p.status.candidate_revision) == (Phase.DEPLOYING, R3)


# -- §2.2: paused while Analyzing (defect 12) --------------------------------------------------
def test_pausing_after_the_analysis_passed_never_ends_inconclusive() -> None:
    sim = s.analyzing(analysis_spec=analysis(checks=2, noDataLimit=1))
    sim.set(paused=True)
    sim.step(metrics=good())
    sim.step(metrics=good())  # passed 2/2, but paused: no promotion
    for i in range(20):  # many rounds, a NoData blip every other one
        p = sim.step(metrics=NODATA if i % 2 else good())
        assert p.status.phase is Phase.ANALYZING, p.status.message
    sim.set(paused=False)
    p = sim.step(metrics=good())
    assert p.status.phase is Phase.STABLE


def test_a_breach_while_paused_still_rolls_back() -> None:
    sim = s.analyzing()
    sim.set(paused=True)
    assert sim.step(metrics=BAD).status.phase is Phase.ROLLING_BACK


# -- §2.2 rows (defect 14) ---------------------------------------------------------------------
def test_a_revert_within_the_scale_down_window_switches_back_at_once() -> None:
    sim = s.stable_in_window()  # V2 stable on green; blue (R1) still runs
    sim.set_template(V1)
    p = sim.step()
    assert p.status.phase is Phase.STABLE and p.status.stable_revision == R1
    assert sim.cluster.service == BLUE and p.status.active_color == BLUE
    assert p.status.history[-1].result == "Promoted"
    assert p.status.history[-1].reason == "rollback to previous revision"
    assert "Verifying" not in [e.message.split(":")[0] for e in p.events]


def test_a_revert_after_the_window_is_a_normal_rollout() -> None:
    sim = s.stable_after_window()
    sim.set_template(V1)
    assert sim.step().status.phase is Phase.DEPLOYING


def test_the_stable_colour_losing_its_pods_is_degraded_loudly_without_moving_traffic() -> None:
    sim = s.stable()
    sim.cluster.deployments[BLUE] = DeploymentState(R1, 2, 0)
    p = sim.step(ready=False)
    conditions = {c.type: c for c in p.status.conditions}
    assert conditions["Available"].status == "False"
    assert conditions["Degraded"].status == "True"
    assert conditions["Degraded"].reason == "StableUnavailable"
    assert [(e.type, e.reason) for e in p.events] == [("Warning", "StableUnavailable")]
    assert kinds(p.actions).count("Route:blue") == 1 and sim.cluster.service == BLUE
    assert sim.step(ready=False).events == ()  # said once
    sim.cluster.pods_ready(BLUE)
    p = sim.step(ready=False)
    assert {c.type: c for c in p.status.conditions}["Degraded"].status == "False"


def test_requeue_while_paused_in_deploying_is_bounded_by_the_poll() -> None:
    sim = s.deploying()
    sim.set(paused=True)
    p = sim.step(ready=False, advance=700)
    p = sim.step(ready=False)
    assert p.requeue_after is not None and 1.0 <= p.requeue_after <= 60.0
    assert timedelta(seconds=p.requeue_after) > timedelta(0)


def test_a_new_template_after_the_switch_waits_for_the_stable_colour_to_serve() -> None:
    """Rule 1 for a supersede: traffic returns to the stable colour only once it has Ready
    pods; until then the candidate keeps its traffic and its pods (no new template under
    live traffic)."""
    sim = s.analyzing()
    sim.cluster.deployments[BLUE] = DeploymentState(R1, 2, 0)  # the stable pods died
    sim.set_template(V3)
    p = sim.step(ready=False)
    assert sim.cluster.service == GREEN and sim.cluster.deployments[GREEN].revision == R2
    assert "waiting for Ready pods on blue" in p.status.message
    assert f"Ensure:green:{R3}:2" not in kinds(p.actions)
    sim.cluster.pods_ready(BLUE)
    p = sim.step(ready=False)
    assert sim.cluster.service == BLUE
    assert (p.status.candidate_color, p.status.candidate_revision) == (GREEN, R3)


# -- rule 1 against a stale status: a route is never re-applied onto a colour without pods ------
def _lost_promotion() -> Sim:
    """V2 switched to green and promoted, blue scaled to 0 at once (no analysis, no delay),
    but the status write of that pass was lost: the stored status still says "Deploying V2
    on green, traffic on blue"."""
    sim = Sim(make_spec(V1, success=1, failure=2, scale_down_delay=0))
    sim.run_until(Phase.STABLE)
    sim.set_template(V2)
    sim.step()
    sim.step(store=False)
    assert sim.cluster.service == GREEN and sim.cluster.deployments[BLUE].replicas == 0
    assert sim.status.active_color == BLUE
    return sim


@pytest.mark.parametrize("health", [False, None], ids=["failed-round", "no-round"])
def test_a_lost_promotion_never_routes_traffic_back_to_a_colour_scaled_to_zero(
    health: bool | None,
) -> None:
    """Found by the property tests (with the route-move check): the stale ``activeColor``
    (blue) was re-applied in the next pass, moving production traffic from green, which
    serves, to blue, which had just been scaled up and had no Ready pod: an outage. The route
    is held: blue is scaled up, green keeps its pods and traffic, and the message says why;
    traffic moves once blue has Ready pods."""
    sim = _lost_promotion()
    p = sim.step(health=health, ready=False)
    acts = kinds(p.actions)
    assert "Route:blue" not in acts and "Scale:green:0" not in acts, acts
    assert f"Ensure:blue:{R1}:2" in acts and sim.cluster.service == GREEN
    assert p.status.message.endswith(f"traffic stays on green: blue has no Ready pods of {R1} yet")
    sim.cluster.pods_ready(BLUE)
    p = sim.step(health=None, ready=False)
    assert "Route:blue" in kinds(p.actions) and sim.cluster.service == BLUE
    assert "traffic stays on" not in p.status.message


def test_a_rollback_after_a_lost_promotion_keeps_the_candidate_until_the_stable_colour_serves(
) -> None:
    """The candidate that still carries the traffic is rejected: it keeps its pods (the route
    is held) until blue serves, then traffic moves and only then is green scaled to 0."""
    sim = _lost_promotion()
    sim.step(health=False, ready=False)
    p = sim.step(health=False, ready=False)  # failureThreshold 2: rejected
    assert p.status.phase is Phase.ROLLING_BACK
    assert "Scale:green:0" not in kinds(p.actions) and sim.cluster.service == GREEN
    assert sim.cluster.deployments[GREEN].replicas == 2
    sim.cluster.pods_ready(BLUE)
    p = sim.step(health=None, ready=False)
    acts = kinds(p.actions)
    assert s.index_of(acts, "Route:blue") < s.index_of(acts, "Scale:green:0"), acts
    p = sim.step(health=None, ready=False)
    assert p.status.phase is Phase.ROLLED_BACK
