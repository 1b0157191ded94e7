"""Relative bounds: "no worse than what it replaced".

A metric with ``relative: {maxIncrease}`` / ``{maxRatio}`` is bounded by its baseline: the same
query with ``{{service}}``, ``{{color}}``, ``{{revision}}`` set to the stable colour's,
evaluated at the switch time. The baseline is measured once per rollout (asked again until a
usable number arrives, or when the query changes) and kept in the status; no baseline is
NoData, never a pass.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from finnexus_operator.core.clock import parse
from finnexus_operator.core.measurement import QueryResult
from finnexus_operator.models.phases import Phase
from tests.unit.plan.scripted import ScriptedSim, result, scripted_switched
from tests.unit.planlib import BLUE, R1, R2, analysis

LATENCY = 'lat{service="{{service}}",color="{{color}}",revision="{{revision}}"}'


def relative(bound: dict[str, float], *, max_: float | None = None, **overrides: Any
             ) -> dict[str, Any]:
    metric: dict[str, Any] = {"name": "latency-p95", "query": LATENCY, "relative": bound}
    if max_ is not None:
        metric["max"] = max_
    return analysis(**{"metrics": [metric], "noDataLimit": 1, **overrides})


def released(bound: dict[str, float], value: float | QueryResult,
             base: float | QueryResult = 0.2, **kw: Any) -> ScriptedSim:
    sim = scripted_switched(relative(bound, **kw), latency_p95=value)
    sim.baselines["latency-p95"] = result(base)
    return sim


def test_the_baseline_is_the_stable_colours_query_at_the_switch_time_asked_once() -> None:
    sim = released({"maxIncrease": 0.2}, 0.21)
    sim.step()
    sim.step()
    first, second = sim.asked
    queries = {(q.name, q.baseline): q for q in first.measurement.queries}
    base = queries["latency-p95", True]
    assert base.promql == f'lat{{service="-blue",color="blue",revision="{R1}"}}'
    assert base.at == parse(sim.status.switched_at)
    assert queries["latency-p95", False].promql == (
        f'lat{{service="-green",color="green",revision="{R2}"}}')
    assert second.baselines == []  # kept in the status, not asked again
    m = sim.status.analysis.metrics[0] if sim.status.analysis else None
    assert m is not None and m.baseline == 0.2 and m.bound == pytest.approx(0.24)
    assert m.verdict == "Pass" and m.baseline_query


@pytest.mark.parametrize(("bound", "value", "phase", "text"), [
    ({"maxIncrease": 0.2}, 0.24, Phase.ANALYZING, "latency-p95 0.24 <= 0.24 (stable 0.2 + 20%)"),
    ({"maxIncrease": 0.2}, 0.31, Phase.ROLLING_BACK,
     "latency-p95 0.31 > 0.24 (stable 0.2 + 20%)"),
    ({"maxRatio": 1.5}, 0.3, Phase.ANALYZING, "latency-p95 0.3 <= 0.3 (stable 0.2 x 1.5)"),
    ({"maxRatio": 1.5}, 0.31, Phase.ROLLING_BACK, "latency-p95 0.31 > 0.3 (stable 0.2 x 1.5)"),
    ({"maxIncrease": 0}, 0.2, Phase.ANALYZING, "latency-p95 0.2 <= 0.2 (stable 0.2 + 0%)"),
    ({"maxRatio": 0.5}, 0.11, Phase.ROLLING_BACK, "latency-p95 0.11 > 0.1 (stable 0.2 x 0.5)"),
], ids=["increase-at-bound", "increase-above", "ratio-at-bound", "ratio-above",
        "increase-zero", "ratio-below-one"])
def test_relative_verdicts_and_messages_show_both_numbers(
        bound: dict[str, float], value: float, phase: Phase, text: str) -> None:
    sim = released(bound, value)
    p = sim.step()
    assert p.status.phase is phase, p.status.message
    assert text in p.status.message
    if phase is Phase.ROLLING_BACK:
        assert p.status.active_color == BLUE
        assert p.status.history[-1].reason == f"{text} (round 1, failureLimit 0)"


@pytest.mark.parametrize("base", [
    pytest.param(QueryResult.no_data("empty vector (no series matched)"), id="empty"),
    pytest.param(QueryResult.no_data("NaN (e.g. 0/0: no traffic)"), id="nan"),
    pytest.param(QueryResult.error("HTTP 503 from Prometheus"), id="error"),
    pytest.param(math.inf, id="infinite"),
])
def test_no_baseline_is_no_data_never_a_pass(base: float | QueryResult) -> None:
    sim = released({"maxIncrease": 10.0}, 0.01, base, checks=1, noDataLimit=1)
    p = sim.step()  # would pass any baseline; without one it is NoData
    assert p.status.phase is Phase.ANALYZING, p.status.message
    m = p.status.analysis.metrics[0] if p.status.analysis else None
    assert m is not None and m.verdict == "NoData" and m.no_data == 1
    assert m.baseline is None and m.detail is not None and m.detail.startswith("no baseline")
    assert "latency-p95 0.01, no baseline (stable" in p.status.message
    assert p.status.analysis is not None and p.status.analysis.passed == 0
    p = sim.step()  # asked again; still none: past noDataLimit 1
    assert sim.asked[-1].baselines == ["latency-p95"]
    assert p.status.phase is Phase.ROLLING_BACK
    assert "noDataLimit 1" in p.status.message


def test_a_baseline_that_arrives_later_is_kept_from_then_on() -> None:
    sim = released({"maxIncrease": 0.5}, 0.25, QueryResult.no_data("empty vector"),
                   checks=2, noDataLimit=3)
    sim.step()
    sim.baselines["latency-p95"] = result(0.2)
    sim.step()
    sim.baselines["latency-p95"] = result(5.0)  # would it be asked again, 0.25 would pass
    p = sim.step()
    assert [a.baselines for a in sim.asked] == [["latency-p95"], ["latency-p95"], []]
    assert p.status.phase is Phase.STABLE, p.status.message


def test_relative_and_max_both_bind() -> None:
    sim = released({"maxRatio": 2.0}, 0.25, max_=0.22)
    p = sim.step()
    assert p.status.phase is Phase.ROLLING_BACK
    assert p.status.history[-1].reason == "latency-p95 0.25 > 0.22 (round 1, failureLimit 0)"
    sim = released({"maxRatio": 2.0}, 0.15, max_=0.22)
    p = sim.step()
    assert "latency-p95 0.15 <= 0.22 and <= 0.4 (stable 0.2 x 2)" in p.status.message


def test_a_query_edited_mid_analysis_measures_its_baseline_again() -> None:
    sim = released({"maxIncrease": 0.2}, 0.2, checks=5)
    sim.step()
    sim.step()
    edited = relative({"maxIncrease": 0.2}, checks=5)
    edited["metrics"][0]["query"] = LATENCY.replace("lat{", "latency{")
    sim.set(analysis=edited)
    sim.baselines["latency-p95"] = result(0.1)
    p = sim.step()
    assert [a.baselines for a in sim.asked] == [["latency-p95"], [], ["latency-p95"]]
    assert p.status.phase is Phase.ROLLING_BACK  # 0.2 > 0.12 against the new baseline
    assert "(stable 0.1 + 20%)" in p.status.message


def test_a_breach_check_measures_the_baseline_and_judges_against_it() -> None:
    sim = released({"maxIncrease": 0.2}, 0.2, intervalSeconds=10, breachCheckSeconds=2)
    sim.step()
    sim.measure(latency_p95=0.5)
    p = sim.step()  # +2: the first measurement is a breach check; it carries the baseline
    assert sim.asked[0].kind == "check" and sim.asked[0].baselines == ["latency-p95"]
    assert p.status.phase is Phase.ROLLING_BACK
    assert "latency-p95 0.5 > 0.24 (stable 0.2 + 20%) (breach check after round 0" in (
        p.status.message)
