"""The release record (issue 11 item 5): each history entry carries what gated the release --
health rounds passed/failed, analysis rounds, each metric's final value, verdict and bounds,
and the hook Jobs (an empty list until the Job hooks fill it)."""

from __future__ import annotations

import pytest

from finnexus_operator.models.phases import Phase
from tests.unit.plan.situations import ROUNDS
from tests.unit.planlib import V1, V2, analysis, make_spec, stable_sim, switched_sim


@pytest.mark.parametrize(("rounds", "result", "passed", "verdict", "value"), [
    pytest.param("PPP", "Promoted", 3, "Pass", 0.0002, id="promoted"),
    pytest.param("PPF", "RolledBack", 2, "Fail", 0.052, id="rolled-back"),
    pytest.param("F", "RolledBack", 0, "Fail", 0.052, id="rolled-back-first-round"),
])
def test_history_entry_records_what_gated_the_release(
        rounds: str, result: str, passed: int, verdict: str, value: float) -> None:
    sim = switched_sim(make_spec(V1, analysis_spec=analysis()))
    health = sim.status.health_check
    assert health.rounds_passed >= 2  # successThreshold 2 before the switch
    for r in rounds:
        p = sim.step(metrics=ROUNDS[r])
    assert p.status.phase in (Phase.STABLE, Phase.ROLLING_BACK)
    entry = sim.status.history[-1]
    assert entry.result == result
    gates = entry.gates
    assert gates is not None
    # the candidate stays health-checked after the switch: one more passing round per step
    assert (gates.health_passed, gates.health_failed) == (
        health.rounds_passed + len(rounds), health.rounds_failed)
    assert (gates.analysis_rounds, gates.analysis_passed) == (len(rounds), passed)
    metrics = {m.name: m for m in gates.metrics}
    assert set(metrics) == {"error-rate", "latency-p95"}
    err = metrics["error-rate"]
    assert (err.verdict, err.value, err.max) == (verdict, pytest.approx(value), 0.001)
    assert metrics["latency-p95"].verdict == "Pass" and metrics["latency-p95"].max == 0.2
    assert gates.hooks == []


def test_health_rounds_passed_and_failed_are_counted_in_the_record() -> None:
    sim = stable_sim(make_spec(V1, failure=3))  # no analysis: promoted after the switch
    sim.set_template(V2)
    sim.run_until(Phase.VERIFYING)
    base = sim.status.health_check.rounds_passed
    for healthy in (False, True, False, True, True):
        sim.step(health=healthy)
    assert sim.status.phase is Phase.STABLE, sim.status.message
    gates = sim.status.history[-1].gates
    assert gates is not None and sim.status.history[-1].result == "Promoted"
    assert (gates.health_passed, gates.health_failed) == (base + 3, 2)
    assert (gates.analysis_rounds, gates.metrics) == (0, [])
