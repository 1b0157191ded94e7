"""Verdicts, per-metric limits and one analysis round (finnexus_operator.core.analysis), and
the relative bounds of core.bounds."""

from __future__ import annotations

import math
from typing import Any

import pytest

from finnexus_operator.core import analysis
from finnexus_operator.core.analysis import Verdict
from finnexus_operator.core.measurement import QueryOutcome, QueryResult
from finnexus_operator.core.observed import MetricSample
from finnexus_operator.models.spec import AnalysisSpec, MetricSpec
from finnexus_operator.models.status import AnalysisStatus

NOW = "2026-01-01T00:00:00.000000Z"


def metric(**kw: Any) -> MetricSpec:
    return MetricSpec.model_validate({"name": "m", "query": "q", **kw})


def spec(*metrics: dict[str, Any], **limits: Any) -> AnalysisSpec:
    ms = list(metrics) or [{"name": "error-rate", "query": "q", "max": 0.001}]
    return AnalysisSpec.model_validate({"checks": 3, "failureLimit": 0, "noDataLimit": 1,
                                        "errorLimit": 1, **limits, "metrics": ms})


def v(x: float) -> QueryResult:
    return QueryResult.value_of(x)


ND = QueryResult.no_data("empty vector")
ERR = QueryResult.error("connection refused")


# -- judge ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("bounds", "result", "verdict"), [
    ({"max": 0.001}, v(0.0), Verdict.PASS),
    ({"max": 0.001}, v(0.001), Verdict.PASS),  # inclusive
    ({"max": 0.001}, v(0.0011), Verdict.FAIL),
    ({"max": 0.001}, v(math.inf), Verdict.FAIL),
    ({"max": 0.001}, v(-math.inf), Verdict.PASS),
    ({"min": 0.9}, v(0.9), Verdict.PASS),  # inclusive
    ({"min": 0.9}, v(0.89), Verdict.FAIL),
    ({"min": 0.9}, v(-math.inf), Verdict.FAIL),
    ({"min": 1, "max": 2}, v(1.5), Verdict.PASS),
    ({"min": 1, "max": 2}, v(0.5), Verdict.FAIL),
    ({"min": 1, "max": 2}, v(2.5), Verdict.FAIL),
    ({"min": 1, "max": 1}, v(1), Verdict.PASS),
    ({"max": 0.001}, ND, Verdict.NO_DATA),
    ({"max": 0.001}, v(math.nan), Verdict.NO_DATA),  # NaN is NoData, not a value
    ({"max": 0.001}, ERR, Verdict.ERROR),
    ({"min": 0}, QueryResult.error("2 series"), Verdict.ERROR),
])
def test_judge(bounds: dict[str, float], result: QueryResult, verdict: Verdict) -> None:
    assert analysis.judge(metric(**bounds), result) is verdict


@pytest.mark.parametrize(("verdicts", "expected"), [
    ([], Verdict.NO_DATA),
    ([Verdict.PASS], Verdict.PASS),
    ([Verdict.PASS, Verdict.NO_DATA], Verdict.NO_DATA),
    ([Verdict.NO_DATA, Verdict.ERROR, Verdict.PASS], Verdict.ERROR),
    ([Verdict.ERROR, Verdict.FAIL, Verdict.NO_DATA], Verdict.FAIL),
    ([Verdict.FAIL, Verdict.PASS], Verdict.FAIL),
])
def test_worst_first(verdicts: list[Verdict], expected: Verdict) -> None:
    assert analysis.worst(verdicts) is expected


@pytest.mark.parametrize(("value", "text"), [
    (None, "n/a"), (0.0002, "0.0002"), (0.052, "0.052"), (0.12, "0.12"), (1234567.0, "1.235e+06"),
    (math.inf, "+Inf"), (-math.inf, "-Inf"), (3.0, "3"),
])
def test_fmt(value: float | None, text: str) -> None:
    assert analysis.fmt(value) == text


# -- one round --------------------------------------------------------------------------------
def test_round_summary_and_counters_for_a_passing_round() -> None:
    s = spec({"name": "error-rate", "query": "q", "max": 0.001},
             {"name": "latency-p95", "query": "q", "max": 0.2})
    out = analysis.evaluate_round(s, AnalysisStatus(round=3, passed=3, checks=10), [
        MetricSample("error-rate", v(0.0002)), MetricSample("latency-p95", v(0.12))], NOW)
    assert out.summary == "error-rate 0.0002 <= 0.001; latency-p95 0.12 <= 0.2"
    assert out.verdict is Verdict.PASS and out.breach is None and out.done
    assert (out.status.round, out.status.passed, out.status.checks) == (4, 4, 3)
    assert analysis.round_label(out.status) == "round 4/3"
    assert out.status.last_round_time == NOW
    assert [m.verdict for m in out.status.metrics] == ["Pass", "Pass"]
    assert [m.value for m in out.status.metrics] == [0.0002, 0.12]


@pytest.mark.parametrize(("bounds", "value", "text"), [
    ({"max": 0.001}, 0.0002, "m 0.0002 <= 0.001"),
    ({"max": 0.2}, 0.2, "m 0.2 <= 0.2"),
    ({"min": 0.9}, 0.95, "m 0.95 >= 0.9"),  # min only: the value first, never "0.9 <= 0.95"
    ({"min": 0.1}, 0.5, "m 0.5 >= 0.1"),
    ({"min": 1, "max": 2}, 1.5, "m 1.5 in [1, 2]"),
    ({"min": 0.1, "max": 0.9}, 0.5, "m 0.5 in [0.1, 0.9]"),
    ({"min": 1, "max": 1}, 1, "m 1 in [1, 1]"),
    ({"max": 0.001}, 0.052, "m 0.052 > 0.001"),
    ({"min": 0.9}, 0.5, "m 0.5 < 0.9"),
    ({"min": 1, "max": 2}, 2.5, "m 2.5 > 2"),
    ({"min": 1, "max": 2}, 0.5, "m 0.5 < 1"),
])
def test_measurement_description(bounds: dict[str, float], value: float, text: str) -> None:
    s = spec({"name": "m", "query": "q", **bounds}, failureLimit=5)
    out = analysis.evaluate_round(s, None, [MetricSample("m", v(value))], NOW)
    assert out.summary == text


@pytest.mark.parametrize(("limits", "rounds", "breach"), [
    # rounds: P pass, F fail, N no data, E error; breach is the expected message (or None)
    ({}, "F", "error-rate 0.052 > 0.001 (round 1, failureLimit 0)"),
    ({}, "PPF", "error-rate 0.052 > 0.001 (round 3, failureLimit 0)"),
    ({"failureLimit": 1}, "F", None),
    ({"failureLimit": 1}, "FPPF", "error-rate 0.052 > 0.001 (round 4, failureLimit 1)"),
    ({"failureLimit": 2}, "FPFP", None),
    ({}, "N", None),
    ({}, "NN", "error-rate no data (empty vector) for 2 consecutive rounds "
               "(round 2, noDataLimit 1)"),
    ({}, "NPN", None),
    ({"noDataLimit": 0}, "N", "error-rate no data (empty vector) for 1 consecutive rounds "
                              "(round 1, noDataLimit 0)"),
    ({}, "E", None),
    ({}, "EE", "error-rate error (connection refused) for 2 consecutive rounds "
               "(round 2, errorLimit 1)"),
    ({}, "EPE", None),
    ({}, "ENE", None),  # consecutive counters are per kind
    ({"errorLimit": 0}, "PE", "error-rate error (connection refused) for 1 consecutive rounds "
                              "(round 2, errorLimit 0)"),
    ({"noDataLimit": 3, "errorLimit": 3}, "NNNEEE", None),
])
def test_limits(limits: dict[str, int], rounds: str, breach: str | None) -> None:
    s = spec(checks=100, **limits)
    by = {"P": v(0.0), "F": v(0.052), "N": ND, "E": ERR}
    status: AnalysisStatus | None = None
    out = None
    for r in rounds:
        out = analysis.evaluate_round(s, status, [MetricSample("error-rate", by[r])], NOW)
        status = out.status
    assert out is not None
    assert out.breach == breach
    assert not out.done


@pytest.mark.parametrize(("rounds", "passed", "done"), [
    ("PPP", 3, True),
    ("PP", 2, False),
    ("PNP", 2, False),
    ("PEP", 2, False),
    ("PNPEP", 3, True),
])
def test_only_fully_passing_rounds_count_towards_checks(
    rounds: str, passed: int, done: bool
) -> None:
    s = spec(noDataLimit=5, errorLimit=5)
    by = {"P": v(0.0), "N": ND, "E": ERR}
    status: AnalysisStatus | None = None
    for r in rounds:
        out = analysis.evaluate_round(s, status, [MetricSample("error-rate", by[r])], NOW)
        status = out.status
    assert out.status.passed == passed and out.done is done
    assert out.verdict is (Verdict.PASS if rounds[-1] == "P" else
                           Verdict.NO_DATA if rounds[-1] == "N" else Verdict.ERROR)


def test_a_round_with_one_metric_missing_data_does_not_pass() -> None:
    s = spec({"name": "a", "query": "q", "max": 1}, {"name": "b", "query": "q", "max": 1},
             checks=1, noDataLimit=5)
    out = analysis.evaluate_round(s, None, [MetricSample("a", v(0.5)), MetricSample("b", ND)], NOW)
    assert out.verdict is Verdict.NO_DATA and out.status.passed == 0 and not out.done


def test_unmeasured_metric_is_an_error() -> None:
    s = spec({"name": "a", "query": "q", "max": 1}, {"name": "b", "query": "q", "max": 1},
             checks=1, errorLimit=0)
    out = analysis.evaluate_round(s, None, [MetricSample("a", v(0.5)),
                                      MetricSample("other", v(0.1))], NOW)
    assert out.verdict is Verdict.ERROR and not out.done
    assert out.breach == ("b error (not measured) for 1 consecutive rounds "
                          "(round 1, errorLimit 0)")


def test_breach_names_the_first_breaching_metric_and_blocks_promotion() -> None:
    s = spec({"name": "a", "query": "q", "max": 1}, {"name": "b", "query": "q", "max": 1},
             checks=1)
    out = analysis.evaluate_round(s, None, [MetricSample("a", v(2)), MetricSample("b", v(3))], NOW)
    assert out.breach == "a 2 > 1 (round 1, failureLimit 0)" and not out.done
    assert out.verdict is Verdict.FAIL
    assert [m.failures for m in out.status.metrics] == [1, 1]


def test_counters_carry_over_and_reset() -> None:
    s = spec(failureLimit=10, noDataLimit=10, errorLimit=10, checks=100)
    status: AnalysisStatus | None = None
    seq = [v(5), ND, ND, v(0), ERR, ERR, v(5)]
    history = []
    for r in seq:
        status = analysis.evaluate_round(s, status, [MetricSample("error-rate", r)], NOW).status
        m = status.metrics[0]
        history.append((m.failures, m.no_data, m.errors, m.verdict))
    assert history == [(1, 0, 0, "Fail"), (1, 1, 0, "NoData"), (1, 2, 0, "NoData"),
                       (1, 0, 0, "Pass"), (1, 0, 1, "Error"), (1, 0, 2, "Error"),
                       (2, 0, 0, "Fail")]


def test_non_finite_values_are_not_stored() -> None:
    s = spec({"name": "m", "query": "q", "min": 0}, checks=5)
    out = analysis.evaluate_round(s, None, [MetricSample("m", v(math.inf))], NOW)
    assert out.status.metrics[0].value is None and out.status.metrics[0].verdict == "Pass"
    assert out.summary == "m +Inf >= 0"


def test_detail_is_kept() -> None:
    out = analysis.evaluate_round(spec(), None, [MetricSample("error-rate", ERR)], NOW)
    assert out.status.metrics[0].detail == "connection refused"


@pytest.mark.parametrize(("round_", "passed", "label"), [
    (4, 4, "round 4/10"), (6, 4, "round 6 (4/10 passed)"), (0, 0, "round 0/10"),
])
def test_round_label(round_: int, passed: int, label: str) -> None:
    assert analysis.round_label(AnalysisStatus(round=round_, passed=passed, checks=10)) == label


# -- QueryResult --------------------------------------------------------------------------------
def test_query_result_invariants() -> None:
    assert QueryResult.value_of(math.nan).outcome is QueryOutcome.NO_DATA
    assert QueryResult.value_of(1).value == 1.0 and QueryResult.value_of(1).ok
    assert not QueryResult.no_data("x").ok and not QueryResult.error("x").ok
    with pytest.raises(ValueError):
        QueryResult(QueryOutcome.VALUE, None)
    with pytest.raises(ValueError):
        QueryResult(QueryOutcome.VALUE, math.nan)
    with pytest.raises(ValueError):
        QueryResult(QueryOutcome.ERROR, 1.0)
    assert str(QueryResult.value_of(0.5)) == "0.5"
    assert str(QueryResult.error("boom")) == "Error: boom"


def test_a_breach_never_promotes_even_with_enough_passing_rounds() -> None:
    out = analysis.evaluate_round(spec(checks=3), AnalysisStatus(round=5, passed=3, checks=3),
                            [MetricSample("error-rate", v(0.5))], NOW)
    assert out.breach is not None and not out.done


@pytest.mark.parametrize(("last", "done"), [(v(0.0), True), (ND, False), (ERR, False)])
def test_a_round_with_missing_data_never_promotes_even_past_checks(
    last: QueryResult, done: bool
) -> None:
    """Enough rounds passed earlier (e.g. while paused): only a passing round promotes."""
    out = analysis.evaluate_round(spec(checks=3), AnalysisStatus(round=5, passed=5, checks=3),
                            [MetricSample("error-rate", last)], NOW)
    assert out.breach is None and out.done is done


def test_an_inconclusive_analysis_is_rejected_after_max_rounds() -> None:
    """Two metrics taking turns at NoData never breach a consecutive limit and never pass a
    round: without a cap the candidate would stay under analysis for ever."""
    from finnexus_operator.core.analysis import evaluate_round, max_rounds
    from finnexus_operator.core.measurement import QueryResult
    from finnexus_operator.core.observed import MetricSample
    from finnexus_operator.models.spec import AnalysisSpec

    spec = AnalysisSpec.model_validate({"checks": 3, "noDataLimit": 1, "metrics": [
        {"name": "a", "query": "a", "max": 1}, {"name": "b", "query": "b", "max": 1}]})
    assert max_rounds(spec) == 2 * 3 + 0 + 1 + 3
    prev = None
    for n in range(1, max_rounds(spec) + 1):
        gap = QueryResult.no_data("NaN")
        ok = QueryResult.value_of(0.5)
        samples = [MetricSample("a", gap if n % 2 else ok), MetricSample("b", ok if n % 2 else gap)]
        out = evaluate_round(spec, prev, samples, f"t{n}")
        prev = out.status
        assert not out.done
        if n < max_rounds(spec):
            assert out.breach is None, n
    assert out.breach is not None and "inconclusive" in out.breach
    assert "0/3 passing rounds after 10 rounds" in out.breach


# -- relative bounds (core.bounds) ----------------------------------------------------------------
def base(value: float | None, detail: str = "") -> analysis.Baseline:
    return analysis.Baseline("k", value, detail)


@pytest.mark.parametrize(("bounds", "value", "baseline", "verdict", "text"), [
    ({"relative": {"maxIncrease": 0.2}}, 0.24, base(0.2), Verdict.PASS,
     "m 0.24 <= 0.24 (stable 0.2 + 20%)"),
    ({"relative": {"maxIncrease": 0.2}}, 0.31, base(0.2), Verdict.FAIL,
     "m 0.31 > 0.24 (stable 0.2 + 20%)"),
    ({"relative": {"maxRatio": 1.5}}, 0.29, base(0.2), Verdict.PASS,
     "m 0.29 <= 0.3 (stable 0.2 x 1.5)"),
    ({"relative": {"maxRatio": 1.5}}, 0.31, base(0.2), Verdict.FAIL,
     "m 0.31 > 0.3 (stable 0.2 x 1.5)"),
    ({"relative": {"maxIncrease": 0.125}}, 0.1, base(0.2), Verdict.PASS,
     "m 0.1 <= 0.225 (stable 0.2 + 12.5%)"),
    ({"relative": {"maxIncrease": 1}}, 0.0, base(0.0), Verdict.PASS,
     "m 0 <= 0 (stable 0 + 100%)"),
    ({"relative": {"maxIncrease": 1}}, 0.001, base(0.0), Verdict.FAIL,
     "m 0.001 > 0 (stable 0 + 100%)"),
    ({"relative": {"maxRatio": 2}}, 0.1, None, Verdict.NO_DATA,
     "m 0.1, no baseline (not measured)"),
    ({"relative": {"maxRatio": 2}}, 0.1, base(None, "stable at the switch: empty vector"),
     Verdict.NO_DATA, "m 0.1, no baseline (stable at the switch: empty vector)"),
    ({"max": 0.2, "relative": {"maxRatio": 2}}, 0.25, base(0.2), Verdict.FAIL, "m 0.25 > 0.2"),
    ({"max": 0.5, "relative": {"maxRatio": 2}}, 0.45, base(0.2), Verdict.FAIL,
     "m 0.45 <= 0.5 and > 0.4 (stable 0.2 x 2)"),
    ({"min": 0.1, "relative": {"maxRatio": 2}}, 0.05, base(0.2), Verdict.FAIL, "m 0.05 < 0.1"),
    ({"min": 0.1, "max": 1, "relative": {"maxRatio": 2}}, 0.3, base(0.2), Verdict.PASS,
     "m 0.3 in [0.1, 1] and <= 0.4 (stable 0.2 x 2)"),
])
def test_relative_bounds_judge_and_describe(bounds: dict[str, Any], value: float,
                                            baseline: analysis.Baseline | None,
                                            verdict: Verdict, text: str) -> None:
    m = metric(**bounds)
    assert analysis.judge(m, v(value), baseline) is verdict
    assert analysis.describe(m, v(value), verdict, baseline) == text


@pytest.mark.parametrize("raw", [
    {"relative": {}}, {"relative": {"maxIncrease": 0.1, "maxRatio": 2}},
    {"relative": {"maxIncrease": -0.1}}, {"relative": {"maxRatio": math.inf}},
    {"relative": {"maxRatio": 1001}}, {"relative": {"maxRatio": "2"}},
])
def test_bad_relative_bounds_are_rejected(raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="relative"):
        metric(**raw)


def test_a_relative_bound_alone_is_a_bound_and_breach_check_defaults() -> None:
    assert metric(relative={"maxRatio": 2}).relative is not None
    s = spec()
    assert s.breach_check_seconds == 5 and s.interval_seconds == 30
    assert s.breach_check_period == 5.0
    assert spec(intervalSeconds=5).breach_check_period is None  # no check between rounds
    assert spec(intervalSeconds=6, breachCheckSeconds=1).breach_check_period == 1.0
