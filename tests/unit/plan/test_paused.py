"""``paused`` freezes progress: no new candidate, no switch, no promotion; measurements and
health rounds go on, and a rollback is never suppressed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from finnexus_operator.core.actions import ClearRequest, RouteTraffic
from finnexus_operator.core.observed import DeploymentState, Observed
from finnexus_operator.core.plan import Plan
from finnexus_operator.core.revision import revision_of
from finnexus_operator.models.phases import Phase
from finnexus_operator.models.status import FinNexusDeploymentStatus
from tests.unit.plan.calls import decide
from tests.unit.plan.situations import (
    BAD,
    ROUNDS,
    Situation,
    analyzing,
    first_verifying,
    name,
    stable,
    verifying,
)
from tests.unit.planlib import BLUE, R2, V1, V2, V3, Sim, analysis, good, kinds, make_spec


def test_paused_first_revision_stays_pending_and_touches_no_deployment() -> None:
    sim = Sim(make_spec(V1, paused=True))
    for _ in range(3):
        p = sim.step()
        assert p.status.phase is Phase.PENDING
        assert kinds(p.actions) == ["Services"]
    sim.set(paused=False)
    assert sim.step().status.phase is Phase.DEPLOYING


def test_paused_stable_does_not_start_a_candidate() -> None:
    sim = stable()
    sim.set(paused=True)
    sim.set_template(V2)
    for _ in range(3):
        p = sim.step()
        assert p.status.candidate_color is None
        assert not any(a.startswith("Ensure:green") for a in kinds(p.actions))
    assert "paused" in p.status.message
    sim.set(paused=False)
    assert sim.step().status.candidate_revision == R2


@pytest.mark.parametrize("situation", [first_verifying, verifying], ids=name)
def test_paused_healthy_candidate_is_not_switched(situation: Situation) -> None:
    sim = situation(analysis_spec=None, success=3)
    sim.set(paused=True)
    for _ in range(6):
        p = sim.step()
        assert RouteTraffic(sim.status.candidate_color or "?") not in p.actions
        assert p.status.candidate_color is not None, p.status.message
    assert p.status.phase is Phase.VERIFYING
    sim.set(paused=False)
    p = sim.step()
    assert p.status.phase is Phase.STABLE


@pytest.mark.parametrize("unpaused_round", ["N", "E"])
def test_unpausing_after_enough_passing_rounds_does_not_promote_on_missing_data(
    unpaused_round: str
) -> None:
    sim = analyzing(analysis_spec=analysis(noDataLimit=3, errorLimit=3))
    sim.set(paused=True)
    for _ in range(4):
        sim.step(metrics=good())
    sim.set(paused=False)
    p = sim.step(metrics=ROUNDS[unpaused_round])
    assert p.status.phase is Phase.ANALYZING
    assert sim.step(metrics=good()).status.phase is Phase.STABLE


def test_paused_analysis_does_not_promote_but_unpause_does() -> None:
    sim = analyzing()
    sim.set(paused=True)
    for _ in range(5):
        p = sim.step(metrics=good())
        assert p.status.phase is Phase.ANALYZING
    assert p.status.message.endswith("paused: not promoting")
    sim.set(paused=False)
    assert sim.step(metrics=good()).status.phase is Phase.STABLE


REJECTIONS: dict[str, Callable[[Sim], Plan]] = {
    "breach": lambda sim: sim.step(metrics=BAD),
    "health": lambda sim: sim.run_until(Phase.ROLLING_BACK, health=False, max_steps=3),
    "abort": lambda sim: sim.step(request="abort"),
    "undo": lambda sim: sim.step(request="undo"),
}


@pytest.mark.parametrize(("situation", "how"), [
    pytest.param(analyzing, "breach", id="analyzing-breach"),
    pytest.param(verifying, "health", id="verifying-health"),
    pytest.param(analyzing, "abort", id="analyzing-abort"),
    pytest.param(analyzing, "undo", id="analyzing-undo"),
])
def test_paused_never_suppresses_a_rollback(situation: Situation, how: str) -> None:
    sim = situation(paused=False)
    sim.set(paused=True)
    p = REJECTIONS[how](sim)
    assert p.status.phase is Phase.ROLLING_BACK
    assert RouteTraffic(BLUE) in p.actions
    p = sim.step()
    assert p.status.phase is Phase.ROLLED_BACK


def test_paused_new_template_mid_rollout_leaves_no_in_progress_phase_without_candidate() -> None:
    sim = analyzing()
    sim.set(paused=True)
    sim.set_template(V3)
    p = sim.step()
    if p.status.candidate_color is None:
        assert not p.status.phase or not p.status.phase.in_progress, p.status.phase
    assert p.status.active_color == BLUE


def test_promote_request_is_refused_while_paused() -> None:
    """paused freezes progress: a promote request does not switch, and says why."""
    tmpl = {"spec": {"containers": [{"name": "a", "image": "v2",
                                     "ports": [{"name": "http", "containerPort": 80}]}]}}
    rev = revision_of(tmpl)
    status = FinNexusDeploymentStatus(
        phase="AwaitingPromotion", active_color="blue", stable_revision="old",
        candidate_color="green", candidate_revision=rev, candidate_since=None)
    observed = Observed(request="promote", deployments={
        "blue": DeploymentState("old", 1, 1), "green": DeploymentState(rev, 1, 1)},
        active_service_color="blue")
    result = decide({"template": tmpl, "paused": True, "promotion": {"auto": False}}, status,
                    observed, datetime(2026, 1, 1, tzinfo=UTC))
    assert result.status.phase == "AwaitingPromotion" and result.status.active_color == "blue"
    assert any(e.reason == "RequestIgnored" and "paused" in e.message for e in result.events)
    assert isinstance(result.actions[-1], ClearRequest)
