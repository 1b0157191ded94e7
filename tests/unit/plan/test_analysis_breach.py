"""The breach watch: checks between the rounds (``analysis.breachCheckSeconds``).

``intervalSeconds`` paces the rounds that count toward ``checks``; between them a breach check
re-measures every ``breachCheckSeconds``. A Fail there counts like a failed round (once per
period between two rounds, and not again by the round that closes it), past ``failureLimit``
it rolls back at once, paused or not; NoData/Error there never count; a check never advances
``round`` and never promotes. The passes here are one second apart (``Sim.step``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from finnexus_operator.core.clock import parse
from finnexus_operator.core.measurement import QueryResult
from finnexus_operator.core.schedule import measurement_timer
from finnexus_operator.core.validation import parse_spec
from finnexus_operator.models.phases import Phase
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from tests.unit.plan.scripted import ScriptedSim, scripted_switched
from tests.unit.planlib import BLUE, R2, analysis

BAD = 0.052  # error-rate > 0.001
GOOD = 0.0002


def watch(**overrides: Any) -> dict[str, Any]:
    return analysis(**{"intervalSeconds": 10, "breachCheckSeconds": 2, "checks": 3,
                       **overrides})


def seconds_after_switch(sim: ScriptedSim) -> list[tuple[int, str]]:
    switched = parse(sim.status.switched_at) or parse(sim.plans[-1].status.switched_at)
    assert switched is not None
    return [(round((a.at - switched) / timedelta(seconds=1)), a.kind) for a in sim.asked]


def run(sim: ScriptedSim, passes: int) -> None:
    for _ in range(passes):
        sim.step()


# -- timing --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("interval", "check", "expected"), [
    pytest.param(10, 2, [(2, "check"), (4, "check"), (6, "check"), (8, "check"),
                         (10, "round"), (12, "check"), (14, "check"), (16, "check"),
                         (18, "check"), (20, "round")], id="interval-10-check-2"),
    pytest.param(10, 3, [(3, "check"), (6, "check"), (9, "check"), (10, "round"),
                         (13, "check"), (16, "check"), (19, "check"), (20, "round")],
                 id="interval-10-check-3-round-wins"),
    pytest.param(10, 10, [(10, "round"), (20, "round")], id="check-equal-interval-none"),
    pytest.param(10, 15, [(10, "round"), (20, "round")], id="check-above-interval-none"),
    pytest.param(1, 5, [(i, "round") for i in range(1, 21)], id="default-check-interval-1"),
])
def test_checks_fall_between_rounds_every_breach_check_seconds(
        interval: int, check: int, expected: list[tuple[int, str]]) -> None:
    sim = scripted_switched(watch(intervalSeconds=interval, breachCheckSeconds=check,
                                  checks=1000))
    run(sim, 20)
    assert sim.phase is Phase.ANALYZING, sim.status.message
    assert seconds_after_switch(sim) == expected
    a = sim.status.analysis
    assert a is not None and a.round == 2 * (interval == 10) + 20 * (interval == 1)
    assert a.breach_checks == sum(kind == "check" for _, kind in expected)


def test_next_pass_is_due_at_the_earlier_of_the_next_round_and_the_next_check() -> None:
    sim = scripted_switched(watch(intervalSeconds=10, breachCheckSeconds=3, checks=1000))
    spec = parse_spec(sim.spec)
    assert isinstance(spec, FinNexusDeploymentSpec)
    waits = []
    for _ in range(12):
        now = sim.now
        p = sim.step()
        timer = measurement_timer(spec, p.status, now)
        assert timer is not None and not timer.due
        waits.append(timer.next_in)
        assert p.requeue_after is not None and 0 < p.requeue_after <= timer.next_in
    # passes at +1..+12: checks at 3, 6, 9, the round at 10, a check at 13
    assert waits == [2.0, 1.0, 3.0, 2.0, 1.0, 3.0, 2.0, 1.0, 1.0, 3.0, 2.0, 1.0]


def test_the_default_breach_check_is_five_seconds() -> None:
    sim = scripted_switched({k: v for k, v in watch(intervalSeconds=30, checks=1000).items()
                             if k != "breachCheckSeconds"})
    run(sim, 30)
    assert seconds_after_switch(sim) == [(5, "check"), (10, "check"), (15, "check"),
                                         (20, "check"), (25, "check"), (30, "round")]


# -- what a check counts ---------------------------------------------------------------------------
def test_a_failed_check_rolls_back_at_once_without_waiting_for_the_round() -> None:
    sim = scripted_switched(watch())
    sim.step()  # +1: nothing due
    sim.measure(error_rate=BAD)
    p = sim.step()  # +2: the first breach check
    assert p.status.phase is Phase.ROLLING_BACK
    assert p.status.active_color == BLUE and p.status.rejected_revision == R2
    breach = "error-rate 0.052 > 0.001 (breach check after round 0, failureLimit 0)"
    assert p.status.message == f"rolling back {R2}: {breach}"
    assert any(e.reason == "AnalysisFailed" and e.message == breach for e in p.events)
    assert p.decision is not None  # written ahead like any rollback (§2.1 rule 2)
    a = p.status.analysis
    assert a is not None and a.round == 0 and a.breach_checks == 1
    assert {m.name: m.failures for m in a.metrics}["error-rate"] == 1


def test_check_failures_count_once_per_period_and_the_round_does_not_count_them_again() -> None:
    sim = scripted_switched(watch(failureLimit=1))
    sim.step()
    sim.measure(error_rate=BAD)
    for _ in range(8):  # checks at +2 +4 +6 +8 fail, the round at +10 fails: one failure
        p = sim.step()
        assert p.status.phase is Phase.ANALYZING, p.status.message
    p = sim.step()  # +10: the round
    assert p.status.phase is Phase.ANALYZING, p.status.message
    a = p.status.analysis
    assert a is not None and a.round == 1 and a.passed == 0
    assert {m.name: m.failures for m in a.metrics}["error-rate"] == 1
    sim.step()  # +11
    p = sim.step()  # +12: the first check of the next period fails: 2 > failureLimit 1
    assert p.status.phase is Phase.ROLLING_BACK
    assert "(breach check after round 1, failureLimit 1)" in p.status.message


def test_a_tolerated_check_failure_is_in_the_message_and_its_period_does_not_pass() -> None:
    sim = scripted_switched(watch(failureLimit=1, checks=1))
    sim.step()
    sim.measure(error_rate=BAD)
    p = sim.step()  # +2: check fails (tolerated)
    assert p.status.phase is Phase.ANALYZING
    assert p.status.message.endswith("; breach check: error-rate 0.052 > 0.001 "
                                     "(tolerated: failureLimit 1)")
    sim.measure(error_rate=GOOD)
    run(sim, 7)  # +3..+9
    p = sim.step()  # +10: the round passes, but its period had a failed check
    assert p.status.phase is Phase.ANALYZING, p.status.message
    a = p.status.analysis
    assert a is not None and a.round == 1 and a.passed == 0
    assert "breach check" not in p.status.message  # the round's message replaces the note
    run(sim, 9)
    p = sim.step()  # +20: a clean period's round: promoted (checks 1)
    assert p.status.phase is Phase.STABLE, p.status.message


@pytest.mark.parametrize("answer", [
    pytest.param(QueryResult.no_data("empty vector"), id="no-data"),
    pytest.param(QueryResult.error("HTTP 500"), id="error"),
])
def test_no_data_and_errors_in_checks_never_count_only_at_round_time(
        answer: QueryResult) -> None:
    sim = scripted_switched(watch(noDataLimit=0, errorLimit=0))
    sim.measure(error_rate=answer)
    run(sim, 9)  # four checks with limits 0: nothing counted
    assert sim.phase is Phase.ANALYZING, sim.status.message
    a = sim.status.analysis
    assert a is not None and a.breach_checks == 4
    m = {m.name: m for m in a.metrics}.get("error-rate")
    assert m is None or (m.no_data == 0 and m.errors == 0)
    p = sim.step()  # +10: the round counts it
    assert p.status.phase is Phase.ROLLING_BACK
    assert "(round 1, " in p.status.message


def test_a_check_never_advances_round_and_never_promotes() -> None:
    sim = scripted_switched(watch(checks=1))
    run(sim, 9)  # four passing checks
    assert sim.phase is Phase.ANALYZING
    a = sim.status.analysis
    assert a is not None and (a.round, a.passed, a.breach_checks) == (0, 0, 4)
    assert sim.status.message.startswith("round 0/1")
    p = sim.step()  # +10: the round promotes
    assert p.status.phase is Phase.STABLE


def test_paused_a_check_still_rolls_back() -> None:
    sim = scripted_switched(watch())
    sim.set(paused=True)
    sim.step()
    sim.measure(error_rate=BAD)
    p = sim.step()
    assert p.status.phase is Phase.ROLLING_BACK and p.status.active_color == BLUE


def test_a_check_while_the_candidate_is_not_fully_ready_still_rolls_back() -> None:
    sim = scripted_switched(watch())
    sim.step()
    sim.measure(error_rate=BAD)
    sim.cluster.pods_ready("green", 1)  # 1 of 2 Ready: the health round fails, not enough yet
    p = sim.step(ready=False)
    assert p.status.phase is Phase.ROLLING_BACK
    assert "breach check after round 0" in p.status.message


def test_a_check_and_a_round_due_in_one_pass_measure_once_as_the_round() -> None:
    sim = scripted_switched(watch(intervalSeconds=10, breachCheckSeconds=5, checks=1000))
    sim.step(advance=4)  # +1, then jump to +5: the check is due
    sim.step(advance=5)  # +5: check; jump to +10, where both the round and a check are due
    p = sim.step()
    assert seconds_after_switch(sim) == [(5, "check"), (10, "round")]
    assert p.status.analysis is not None and p.status.analysis.round == 1
