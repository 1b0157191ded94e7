"""Analyzing: one measurement round per interval after the switch, checks to pass, limits per
metric (failures, consecutive NoData, consecutive Errors); missing data never promotes.

A round string reads left to right, one letter per round: P every metric passes, F error-rate
fails (0.052 > 0.001), N error-rate has no data, E error-rate's query errors.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from finnexus_operator.models.phases import Phase
from tests.unit.plan.calls import decide, due_now
from tests.unit.plan.situations import BAD, ROUNDS
from tests.unit.planlib import BLUE, GREEN, R2, V1, analysis, good, make_spec, switched_sim


def limits_row(limits: dict[str, int], rounds: str, phase: Phase) -> Any:
    shown = ",".join(f"{k}={v}" for k, v in limits.items()) or "defaults"
    return pytest.param(limits, rounds, phase, id=f"{shown}-{rounds}-{phase.value}")


@pytest.mark.parametrize(("limits", "rounds", "phase"), [
    limits_row({}, "PPP", Phase.STABLE),
    limits_row({}, "PP", Phase.ANALYZING),
    limits_row({}, "PPF", Phase.ROLLING_BACK),
    limits_row({"failureLimit": 1}, "PFP", Phase.ANALYZING),
    limits_row({"failureLimit": 1}, "PFPP", Phase.STABLE),
    limits_row({"failureLimit": 1}, "FPF", Phase.ROLLING_BACK),
    limits_row({"noDataLimit": 1}, "PNP", Phase.ANALYZING),
    limits_row({"noDataLimit": 1}, "NN", Phase.ROLLING_BACK),
    limits_row({"noDataLimit": 1}, "NPNPNP", Phase.STABLE),
    limits_row({"noDataLimit": 1}, "NPNPN", Phase.ANALYZING),
    limits_row({"noDataLimit": 0}, "N", Phase.ROLLING_BACK),
    limits_row({"noDataLimit": 2}, "NN", Phase.ANALYZING),
    limits_row({"noDataLimit": 2}, "NNN", Phase.ROLLING_BACK),
    limits_row({"errorLimit": 1}, "EPEPE", Phase.ANALYZING),
    limits_row({"errorLimit": 1}, "EPEPEP", Phase.STABLE),
    limits_row({"failureLimit": 2, "noDataLimit": 1, "errorLimit": 1}, "FNPEPFP", Phase.STABLE),
    limits_row({"failureLimit": 2}, "FPFPF", Phase.ROLLING_BACK),
    limits_row({"errorLimit": 1}, "PEE", Phase.ROLLING_BACK),
    limits_row({"errorLimit": 0}, "E", Phase.ROLLING_BACK),
    limits_row({"errorLimit": 3}, "EEEP", Phase.ANALYZING),
    limits_row({"errorLimit": 3}, "EEEE", Phase.ROLLING_BACK),
    limits_row({"checks": 1}, "P", Phase.STABLE),
    limits_row({"checks": 1, "noDataLimit": 5}, "NNNNP", Phase.STABLE),
])
def test_analysis_rounds_and_limits(limits: dict[str, int], rounds: str, phase: Phase) -> None:
    sim = switched_sim(make_spec(V1, analysis_spec=analysis(**limits)))
    for i, r in enumerate(rounds):
        p = sim.step(metrics=ROUNDS[r])
        if i < len(rounds) - 1:
            assert p.status.phase is Phase.ANALYZING, (i, p.status.message)
    assert p.status.phase is phase
    if phase is Phase.STABLE:
        assert p.status.stable_revision == R2 and p.status.active_color == GREEN
        assert sim.status.history[-1].result == "Promoted"
        assert "Promoted" in sim.events(p) and "AnalysisPassed" not in sim.events(p)
        assert sim.status.history[-1].reason == "analysis passed 3/3 rounds" or (
            limits.get("checks") == 1)
    if phase is Phase.ROLLING_BACK:
        assert p.status.rejected_revision == R2 and p.status.active_color == BLUE
        assert "AnalysisFailed" in sim.events(p)
        assert sim.status.history[-1].result == "RolledBack"


@pytest.mark.parametrize(("rounds", "message"), [
    pytest.param(rounds, message, id=rounds) for rounds, message in [
        ("P", "round 1/10: error-rate 0.0002 <= 0.001; latency-p95 0.12 <= 0.2"),
        ("PPPP", "round 4/10: error-rate 0.0002 <= 0.001; latency-p95 0.12 <= 0.2"),
        ("PN", "round 2 (1/10 passed): error-rate no data (empty vector); "
               "latency-p95 0.12 <= 0.2"),
        ("PE", "round 2 (1/10 passed): error-rate error (HTTP 500); latency-p95 0.12 <= 0.2"),
    ]
])
def test_analysis_round_message(rounds: str, message: str) -> None:
    sim = switched_sim(make_spec(V1, analysis_spec=analysis(checks=10, noDataLimit=3,
                                                              errorLimit=3)))
    for r in rounds:
        p = sim.step(metrics=ROUNDS[r])
    assert p.status.phase is Phase.ANALYZING
    assert p.status.message == message
    a = p.status.analysis
    assert a is not None and a.round == len(rounds) and a.checks == 10


def test_breach_message_names_value_bound_round_and_limit() -> None:
    sim = switched_sim(make_spec(V1, analysis_spec=analysis(checks=10)))
    sim.step(metrics=good())
    sim.step(metrics=good())
    p = sim.step(metrics=BAD)
    breach = "error-rate 0.052 > 0.001 (round 3, failureLimit 0)"
    assert p.status.message == f"rolling back {R2}: {breach}"
    assert any(e.message == breach and e.type == "Warning" for e in p.events)
    degraded = {c.type: c for c in p.status.conditions}["Degraded"]
    assert degraded.status == "True" and breach in degraded.message
    assert p.status.history[-1].reason == breach


def test_measurement_is_due_only_at_the_analysis_interval() -> None:
    sim = switched_sim(make_spec(V1, analysis_spec=analysis(intervalSeconds=10,
                                                            breachCheckSeconds=10)))
    obs = sim.cluster.observe()
    switched = sim.now - timedelta(seconds=1)
    assert not bool(due_now(sim.spec, sim.status, obs, switched + timedelta(seconds=9)).metrics)
    assert bool(due_now(sim.spec, sim.status, obs, switched + timedelta(seconds=10)).metrics)
    # a pass without measurements changes no counters
    p = decide(sim.spec, sim.status, obs, switched + timedelta(seconds=5))
    assert p.status.analysis == sim.status.analysis
