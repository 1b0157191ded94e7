"""Verdicts, per-metric limits and one analysis round (pure).

A measurement is graded ``Pass`` (within bounds), ``Fail`` (outside), ``NoData`` (empty vector
or NaN) or ``Error`` (Prometheus unreachable, HTTP error, bad query, several series). A metric
fails the analysis when its failures exceed ``failureLimit``, its consecutive NoData exceed
``noDataLimit`` or its consecutive Errors exceed ``errorLimit``. Only a round in which every
metric passed counts towards ``checks``: missing data never promotes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from finnexus_operator.core.measurement import QueryOutcome, QueryResult
from finnexus_operator.core.observed import MetricSample
from finnexus_operator.models.spec import AnalysisSpec, MetricSpec
from finnexus_operator.models.status import AnalysisStatus, MetricStatus

__all__ = ["RoundOutcome", "Verdict", "evaluate_round", "fmt", "judge", "max_rounds", "worst"]


class Verdict(StrEnum):
    """Grade of one measurement."""

    PASS = "Pass"
    NO_DATA = "NoData"
    ERROR = "Error"
    FAIL = "Fail"


_SEVERITY = {Verdict.PASS: 0, Verdict.NO_DATA: 1, Verdict.ERROR: 2, Verdict.FAIL: 3}


def worst(verdicts: Sequence[Verdict]) -> Verdict:
    """Combine verdicts worst-first (Fail > Error > NoData > Pass); empty -> NoData."""
    return max(verdicts, key=_SEVERITY.__getitem__) if verdicts else Verdict.NO_DATA


def fmt(value: float | None) -> str:
    """A number as people read it in a message."""
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


def judge(metric: MetricSpec, result: QueryResult) -> Verdict:
    """Grade one measurement against the metric's inclusive bounds."""
    if result.outcome is QueryOutcome.ERROR:
        return Verdict.ERROR
    value = result.value
    if result.outcome is QueryOutcome.NO_DATA or value is None or math.isnan(value):
        return Verdict.NO_DATA
    if metric.min is not None and value < metric.min:
        return Verdict.FAIL
    if metric.max is not None and value > metric.max:
        return Verdict.FAIL
    return Verdict.PASS


def _describe(metric: MetricSpec, result: QueryResult, verdict: Verdict) -> str:
    """One metric's part of a round message; the measured value always follows the name.

    ``m 0.12 <= 0.2`` (max only), ``m 0.5 >= 0.1`` (min only), ``m 0.5 in [0.1, 0.9]`` (both);
    outside the bounds ``m 0.052 > 0.001`` or ``m 0.05 < 0.1``.
    """
    name = metric.name
    if verdict is Verdict.NO_DATA:
        return f"{name} no data ({result.detail or 'NaN'})"
    if verdict is Verdict.ERROR:
        return f"{name} error ({result.detail})"
    v = fmt(result.value)
    low, high = metric.min, metric.max
    if high is not None and result.value is not None and result.value > high:
        return f"{name} {v} > {fmt(high)}"
    if low is not None and result.value is not None and result.value < low:
        return f"{name} {v} < {fmt(low)}"
    if low is not None and high is not None:
        return f"{name} {v} in [{fmt(low)}, {fmt(high)}]"
    if low is not None:
        return f"{name} {v} >= {fmt(low)}"
    return f"{name} {v} <= {fmt(high)}"


@dataclass(frozen=True)
class RoundOutcome:
    """Result of one analysis round."""

    status: AnalysisStatus
    verdict: Verdict  # worst verdict of the round
    summary: str  # "error-rate 0.0002 <= 0.001; latency-p95 0.12 <= 0.2"
    breach: str | None  # why the analysis failed, or None
    done: bool  # enough passing rounds to promote


def evaluate_round(
    spec: AnalysisSpec, prev: AnalysisStatus | None, samples: Sequence[MetricSample], now: str,
    *, counts: bool = True, paused: bool = False,
) -> RoundOutcome:
    """Grade every metric, update its counters, decide breach or promotion.

    ``counts``: the round may count toward ``checks`` (False while the candidate is not fully
    Ready: its verdicts still count against the limits, a pass never counts). ``paused``: no
    "inconclusive" verdict, and the round is not counted toward that limit (DESIGN §2.2).
    """
    by_name = {s.name: s.result for s in samples}
    previous = {m.name: m for m in (prev.metrics if prev else [])}
    round_no = (prev.round if prev else 0) + 1
    metrics: list[MetricStatus] = []
    verdicts: list[Verdict] = []
    texts: list[str] = []
    breach: str | None = None
    for metric in spec.metrics:
        result = by_name.get(metric.name, QueryResult(QueryOutcome.ERROR, detail="not measured"))
        verdict = judge(metric, result)
        old = previous.get(metric.name, MetricStatus(name=metric.name))
        failures = old.failures + (verdict is Verdict.FAIL)
        no_data = old.no_data + 1 if verdict is Verdict.NO_DATA else 0
        errors = old.errors + 1 if verdict is Verdict.ERROR else 0
        value = result.value if result.value is not None and math.isfinite(result.value) else None
        metrics.append(MetricStatus(
            name=metric.name, value=value, verdict=verdict.value, detail=result.detail or None,
            failures=failures, no_data=no_data, errors=errors,
        ))
        verdicts.append(verdict)
        text = _describe(metric, result, verdict)
        texts.append(text)
        if breach is None:
            breach = _breach(spec, metric.name, text, round_no, failures, no_data, errors)
    verdict = worst(verdicts)
    passed = (prev.passed if prev else 0) + (verdict is Verdict.PASS and counts)
    paused_rounds = (prev.paused_rounds if prev else 0) + paused
    status = AnalysisStatus(
        round=round_no, passed=passed, checks=spec.checks, metrics=metrics, last_round_time=now,
        paused_rounds=paused_rounds,
    )
    # Promotion happens only on a round that itself passed: once enough rounds passed while
    # paused, a later round with NoData/Error must not be the one that promotes (DESIGN §2
    # "missing data never promotes").
    done = breach is None and verdict is Verdict.PASS and counts and passed >= spec.checks
    limit = max_rounds(spec)
    if breach is None and not done and not paused and round_no - paused_rounds >= limit:
        breach = (f"analysis inconclusive: {passed}/{spec.checks} passing rounds after "
                  f"{round_no} rounds (at most {limit}: 2 x checks + the limits)")
    return RoundOutcome(status, verdict, "; ".join(texts), breach, done)


def max_rounds(spec: AnalysisSpec) -> int:
    """Rounds after which an analysis that has neither passed nor failed is rejected.

    Without it, metrics that take turns at NoData (each within its consecutive limit) would
    keep a candidate under analysis for ever: an inconclusive analysis never promotes.
    """
    return 2 * spec.checks + spec.failure_limit + spec.no_data_limit + spec.error_limit


def _breach(
    spec: AnalysisSpec, name: str, text: str, round_no: int, failures: int, no_data: int,
    errors: int,
) -> str | None:
    if failures > spec.failure_limit:
        return f"{text} (round {round_no}, failureLimit {spec.failure_limit})"
    if no_data > spec.no_data_limit:
        return (f"{text} for {no_data} consecutive rounds (round {round_no}, "
                f"noDataLimit {spec.no_data_limit})")
    if errors > spec.error_limit:
        return (f"{text} for {errors} consecutive rounds (round {round_no}, "
                f"errorLimit {spec.error_limit})")
    return None


def round_label(status: AnalysisStatus) -> str:
    """"round 4/10", or "round 6 (4/10 passed)" once a tolerated failure was seen."""
    if status.round == status.passed:
        return f"round {status.round}/{status.checks}"
    return f"round {status.round} ({status.passed}/{status.checks} passed)"
