"""Deploying and Verifying: Ready pods first, then consecutive health rounds against the
thresholds, all within progressDeadlineSeconds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from finnexus_operator.core.observed import HealthRound
from finnexus_operator.models.phases import Phase
from tests.unit.plan.calls import decide, due_now
from tests.unit.plan.situations import analyzing, deploying, verifying
from tests.unit.planlib import BLUE, GREEN, R2, T0, V1, V2, Sim, good, make_spec, stable_sim


# -- readiness and deadline ---------------------------------------------------------------------
@pytest.mark.parametrize(("ready", "phase", "message"), [
    pytest.param(0, Phase.DEPLOYING, "0/2 pods Ready", id="0-of-2-ready"),
    pytest.param(1, Phase.DEPLOYING, "1/2 pods Ready", id="1-of-2-ready"),
    pytest.param(2, Phase.VERIFYING, "health checks 1/2 passing rounds on 2/2 pods",
                 id="2-of-2-ready"),
])
def test_candidate_waits_for_ready_pods_before_health_checks(
    ready: int, phase: Phase, message: str
) -> None:
    sim = deploying(analysis_spec=None)
    sim.cluster.pods_ready(GREEN, ready)
    obs = sim.cluster.observe()
    assert bool(due_now(sim.spec, sim.status, obs, sim.now).health) is (ready == 2)
    p = sim.step(ready=False)
    assert p.status.phase is phase
    assert message in p.status.message
    assert p.status.active_color == BLUE


@pytest.mark.parametrize("first", [pytest.param(True, id="first-revision"),
                                   pytest.param(False, id="candidate")])
@pytest.mark.parametrize("stall", ["not-ready", "no-health-round", "flapping-health"])
def test_progress_deadline_rejects_in_deploying_and_verifying(first: bool, stall: str) -> None:
    spec = make_spec(V1 if first else V2, deadline=10, success=3, failure=3)
    sim = Sim(spec) if first else stable_sim(make_spec(V1, deadline=10, success=3, failure=3))
    if not first:
        sim.set_template(V2)
    flip = [True, True, False]
    kw: dict[str, Any] = {"ready": stall != "not-ready",
                          "health": None if stall == "no-health-round" else True}
    seen = set()
    for i in range(30):
        if stall == "flapping-health":
            kw["health"] = flip[i % 3]
        p = sim.step(**kw)
        seen.add(p.status.phase)
        if p.status.phase in (Phase.FAILED, Phase.ROLLING_BACK):
            break
    assert (Phase.DEPLOYING if stall == "not-ready" else Phase.VERIFYING) in seen
    assert p.status.phase is (Phase.FAILED if first else Phase.ROLLING_BACK)
    assert "progress deadline exceeded" in p.status.message
    assert "within 10s" in p.status.message
    elapsed = (sim.now - timedelta(seconds=1) - T0).total_seconds()
    assert elapsed > 10


def test_deadline_is_not_exceeded_at_exactly_the_deadline() -> None:
    sim = deploying(analysis_spec=None, deadline=5)
    sim.now += timedelta(seconds=4)  # candidate_since + 5 at the next step
    since = sim.status.candidate_since
    assert since is not None
    p = sim.step(ready=False)
    assert p.status.phase is Phase.DEPLOYING
    p = sim.step(ready=False)
    assert p.status.phase is Phase.ROLLING_BACK


def test_verifying_candidate_losing_ready_pods_resets_health_and_returns_to_deploying() -> None:
    sim = verifying(analysis_spec=None, success=3)
    assert sim.status.health_check.consecutive_successes == 1
    sim.cluster.pods_ready(GREEN, 1)
    p = sim.step(ready=False)
    assert p.status.phase is Phase.DEPLOYING
    assert p.status.health_check.consecutive_successes == 0


# -- health thresholds (success 3, failure 3; T a passing round, F a failing one) ---------------
@pytest.mark.parametrize(("rounds", "phase", "successes", "failures"), [
    pytest.param(rounds, phase, successes, failures, id=f"{rounds}-{phase.value}")
    for rounds, phase, successes, failures in [
        ("T", Phase.VERIFYING, 1, 0),
        ("TT", Phase.VERIFYING, 2, 0),
        ("TTT", Phase.STABLE, 0, 0),
        ("TTFTT", Phase.VERIFYING, 2, 0),
        ("TTFTTT", Phase.STABLE, 0, 0),
        ("F", Phase.VERIFYING, 0, 1),
        ("FF", Phase.VERIFYING, 0, 2),
        ("FFF", Phase.ROLLING_BACK, 0, 3),
        ("FFTFF", Phase.VERIFYING, 0, 2),
        ("FFTFFF", Phase.ROLLING_BACK, 0, 3),
        ("TFTFTF", Phase.VERIFYING, 0, 1),
    ]
])
def test_health_thresholds_count_consecutive_rounds(
    rounds: str, phase: Phase, successes: int, failures: int
) -> None:
    sim = deploying(analysis_spec=None, success=3, failure=3)
    for r in rounds:
        p = sim.step(health=r == "T")
    assert p.status.phase is phase
    if phase is Phase.VERIFYING:
        hc = p.status.health_check
        assert (hc.consecutive_successes, hc.consecutive_failures) == (successes, failures)
    if phase is Phase.ROLLING_BACK:
        assert "health checks failed 3 consecutive rounds (failureThreshold 3): HTTP 503" in (
            p.status.message)
        assert p.status.rejected_revision == R2
    if phase is Phase.STABLE:
        assert p.status.stable_revision == R2


def test_health_failure_message_is_kept_as_last_error() -> None:
    sim = deploying(analysis_spec=None, success=3, failure=3)
    p = sim.step(health=False, detail="pod web-green-x 10.0.0.7:8080/health: HTTP 503")
    assert p.status.health_check.last_error == "pod web-green-x 10.0.0.7:8080/health: HTTP 503"
    assert "last error: pod web-green-x" in p.status.message


def test_health_is_probed_only_at_the_interval() -> None:
    sim = verifying(analysis_spec=None, interval=5, success=3)
    obs = sim.cluster.observe()
    last = sim.now - timedelta(seconds=1)  # the Verifying step probed one second ago
    assert not bool(due_now(sim.spec, sim.status, obs, last + timedelta(seconds=4)).health)
    assert bool(due_now(sim.spec, sim.status, obs, last + timedelta(seconds=5)).health)


def test_health_round_is_ignored_outside_deploying_and_verifying() -> None:
    sim = analyzing()
    obs = sim.cluster.observe(HealthRound(False, 2, "boom"), good())
    p = decide(sim.spec, sim.status, obs, sim.now)
    assert p.status.phase is Phase.ANALYZING
