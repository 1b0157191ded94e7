"""Requests (annotation ``finnexus.ai/request``): promote, abort, retry, undo. In every
situation a request is acted on (or refused, with a Warning) once, and its annotation removed;
what it does depends on where the rollout is."""

from __future__ import annotations

from typing import Any

import pytest

from finnexus_operator.core.actions import ClearRequest, RouteTraffic
from finnexus_operator.core.observed import DeploymentState
from finnexus_operator.models.phases import Phase
from tests.unit.plan import situations as s
from tests.unit.plan.situations import Situation, name
from tests.unit.planlib import BLUE, GREEN, R1, R2, R4, kinds

EVERY_SITUATION = pytest.mark.parametrize("situation", s.EVERY, ids=name)
EVERY_REQUEST = pytest.mark.parametrize("req", [
    pytest.param("promote", id="promote"),
    pytest.param("abort", id="abort"),
    pytest.param("retry", id="retry"),
    pytest.param("undo", id="undo"),
    pytest.param("frobnicate", id="unknown"),
    pytest.param("", id="empty"),
    pytest.param(" Promote ", id="padded-Promote"),
])


@EVERY_REQUEST
@EVERY_SITUATION
def test_a_request_is_handled_once_and_its_annotation_removed(
    situation: Situation, req: str
) -> None:
    sim = situation()
    p = sim.step(request=req, health=None)
    assert ClearRequest(req) in p.actions
    assert kinds(p.actions)[-1] == f"Clear:{req}"
    reasons = [(e.type, e.reason) for e in p.events]
    # exactly one of: acted on, or refused with a Warning
    assert (("Normal", "Request") in reasons) != (("Warning", "RequestIgnored") in reasons)
    assert sim.cluster.request is None
    # once only: the next pass has no request and records no request Event
    q = sim.step(health=None)
    assert not any(isinstance(a, ClearRequest) for a in q.actions)
    assert not {"Request", "RequestIgnored"} & {e.reason for e in q.events}


def outcome(situation: Situation, req: str, accepted: bool, phase: Phase) -> Any:
    shown = {"frobnicate": "unknown", "": "empty", " Promote ": "padded-Promote"}.get(req, req)
    verdict = "accepted" if accepted else "ignored"
    return pytest.param(situation, req, accepted, phase,
                        id=f"{name(situation)}-{shown}-{verdict}-{phase.value}")


@pytest.mark.parametrize(("situation", "req", "accepted", "phase"), [
    outcome(s.verifying, "promote", False, Phase.VERIFYING),
    outcome(s.awaiting, "promote", False, Phase.AWAITING_PROMOTION),  # no health round: refused
    outcome(s.analyzing, "promote", True, Phase.STABLE),
    outcome(s.stable, "promote", False, Phase.STABLE),
    outcome(s.rolled_back, "promote", False, Phase.ROLLED_BACK),
    outcome(s.first_deploying, "abort", True, Phase.FAILED),
    outcome(s.deploying, "abort", True, Phase.ROLLING_BACK),
    outcome(s.verifying, "abort", True, Phase.ROLLING_BACK),
    outcome(s.awaiting, "abort", True, Phase.ROLLING_BACK),
    outcome(s.analyzing, "abort", True, Phase.ROLLING_BACK),
    outcome(s.rolling_back_routed, "abort", False, Phase.ROLLED_BACK),
    outcome(s.stable, "abort", False, Phase.STABLE),
    outcome(s.rolled_back, "retry", True, Phase.DEPLOYING),
    outcome(s.failed, "retry", True, Phase.DEPLOYING),
    outcome(s.stable, "retry", False, Phase.STABLE),
    outcome(s.analyzing, "retry", False, Phase.ANALYZING),
    outcome(s.stable_in_window, "undo", True, Phase.STABLE),
    outcome(s.stable_after_window, "undo", True, Phase.DEPLOYING),
    outcome(s.analyzing, "undo", True, Phase.ROLLING_BACK),
    outcome(s.verifying, "undo", True, Phase.ROLLING_BACK),
    outcome(s.stable, "undo", False, Phase.STABLE),
    outcome(s.rolling_back_routed, "undo", False, Phase.ROLLED_BACK),
    outcome(s.analyzing, "frobnicate", False, Phase.ANALYZING),
    outcome(s.stable, "", False, Phase.STABLE),
    outcome(s.analyzing, " Promote ", True, Phase.STABLE),
])
def test_request_outcome(situation: Situation, req: str, accepted: bool, phase: Phase) -> None:
    sim = situation()
    p = sim.step(request=req, health=None)
    reasons = [(e.type, e.reason) for e in p.events]
    if accepted:
        assert ("Normal", "Request") in reasons
    else:
        assert ("Warning", "RequestIgnored") in reasons and ("Normal", "Request") not in reasons
    assert p.status.phase is phase, p.status.message


def test_unknown_request_event_names_the_value() -> None:
    p = s.stable().step(request="frobnicate")
    msg = next(e.message for e in p.events if e.reason == "RequestIgnored")
    assert "'frobnicate'" in msg and "promote, abort, retry, undo" in msg


# -- undo ---------------------------------------------------------------------------------------
def test_undo_within_scale_down_window_switches_instantly() -> None:
    sim = s.stable_in_window()
    assert sim.status.active_color == GREEN and sim.status.scale_down is not None
    p = sim.step(request="undo", health=None)
    st = p.status
    assert st.phase is Phase.STABLE and st.active_color == BLUE and st.stable_revision == R1
    assert RouteTraffic(BLUE) in p.actions
    assert st.rejected_revision == R2  # the template stays what it is, but is not retried
    assert st.history[-1].result == "Promoted" and st.history[-1].reason == "undo"
    assert st.scale_down is not None and st.scale_down.color == GREEN
    for _ in range(3):
        q = sim.step()
        assert q.status.candidate_color is None and q.status.active_color == BLUE
        assert q.status.phase is Phase.STABLE


def test_undo_after_window_health_checks_the_old_colour_before_switching() -> None:
    sim = s.stable_after_window()
    assert sim.cluster.deployments[BLUE].replicas == 0
    p = sim.step(request="undo", health=None, ready=False)
    assert p.status.phase is Phase.DEPLOYING and p.status.candidate_color == BLUE
    assert "Scale:blue:2" in kinds(p.actions)
    assert RouteTraffic(GREEN) in p.actions
    p = sim.run_until(Phase.STABLE)
    assert p.status.active_color == BLUE and p.status.stable_revision == R1


def test_undo_refused_when_previous_colour_holds_another_revision_and_no_template_kept(
) -> None:
    sim = s.stable_after_window()
    sim.cluster.deployments[BLUE] = DeploymentState(R4, 0, 0)
    sim.cluster.revisions.clear()  # no ControllerRevision of R1 either
    p = sim.step(request="undo")
    assert p.status.phase is Phase.STABLE and p.status.active_color == GREEN
    assert any("no longer holds revision" in e.message for e in p.events)


def test_undo_redeploys_the_kept_template_health_checks_it_then_switches_without_analysis(
) -> None:
    """§2.2: undo after the previous colour was scaled to 0 (and even replaced): the
    previous template comes back from its ControllerRevision."""
    sim = s.stable_after_window(analysis_spec=s.analysis())
    sim.cluster.deployments[BLUE] = DeploymentState(R4, 0, 0)
    assert R1 in sim.cluster.revisions
    p = sim.step(request="undo", ready=False)
    assert f"Ensure:blue:{R1}:2" in kinds(p.actions) and p.status.phase is Phase.DEPLOYING
    start = len(sim.plans)
    p = sim.run_until(Phase.STABLE)
    phases = [q.status.phase for q in sim.plans[start:]]
    assert Phase.VERIFYING in phases and Phase.ANALYZING not in phases
    assert p.status.stable_revision == R1 and sim.cluster.service == BLUE
    assert p.status.history[-1].undo and p.status.rejected_revision == R2


@pytest.mark.parametrize(("health", "ready", "accepted"), [
    pytest.param(True, 2, True, id="healthy-now"),
    pytest.param(False, 2, False, id="probe-fails-now"),
    pytest.param(True, 1, False, id="a-pod-not-ready"),
    pytest.param(True, 0, False, id="pods-gone"),
])
def test_promote_re_checks_the_candidate_and_never_switches_on_an_old_verdict(
    health: bool, ready: int, accepted: bool
) -> None:
    """§2.1 rule 1: a promote switches only with every candidate pod Ready and a passing
    health round in this very pass (defect: it switched to a candidate with no Ready pods)."""
    sim = s.awaiting()
    sim.cluster.pods_ready(GREEN, count=ready)
    p = sim.step(request="promote", health=health, ready=False)
    assert p.decision is None
    if accepted:
        assert p.status.phase is Phase.ANALYZING and sim.cluster.service == GREEN
    else:
        assert p.status.phase is Phase.AWAITING_PROMOTION and sim.cluster.service == BLUE
        assert [e.reason for e in p.events].count("RequestIgnored") == 1
        assert "Clear:promote" in kinds(p.actions)  # refused once, with the reason


def test_a_replicas_increase_while_awaiting_is_not_promoted_on_unprobed_pods() -> None:
    sim = s.awaiting()
    sim.set(replicas=3)
    p = sim.step(request="promote", ready=False)  # the third pod is not Ready yet
    assert p.status.phase is Phase.AWAITING_PROMOTION and sim.cluster.service == BLUE
