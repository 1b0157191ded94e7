"""Verdicts, per-metric limits, one analysis round and one breach check (pure).

A measurement is graded ``Pass`` (within bounds), ``Fail`` (outside), ``NoData`` (empty vector
or NaN, or a relative metric without a baseline) or ``Error`` (Prometheus unreachable, HTTP
error, bad query, several series): :mod:`~.bounds`. A metric fails the analysis when its
failures exceed ``failureLimit``, its consecutive NoData exceed ``noDataLimit`` or its
consecutive Errors exceed ``errorLimit``. Only a round in which every metric passed (and no
breach check of its period failed) counts towards ``checks``: missing data never promotes.

Between rounds, breach checks (``breachCheckSeconds``) re-measure every metric. A ``Fail``
there counts like a failed round: it adds one to the metric's ``failures`` and, past
``failureLimit``, rejects at once. It is counted once per period between two rounds, and the
round that closes the period does not count it again (``checkFailed``), so a breach seen by
several checks and then by the round is one failed measurement, as it would have been without
the checks. ``NoData``/``Error`` in a breach check never count (only at round time); a breach
check never advances ``round`` and never promotes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from finnexus_operator.core.bounds import (
    Baseline,
    Verdict,
    describe,
    fmt,
    judge,
    relative_limit,
    worst,
)
from finnexus_operator.core.measurement import QueryOutcome, QueryResult
from finnexus_operator.core.observed import MetricSample
from finnexus_operator.models.spec import AnalysisSpec, MetricSpec
from finnexus_operator.models.status import AnalysisStatus, MetricStatus

__all__ = ["Baseline", "CheckOutcome", "RoundOutcome", "Verdict", "describe", "evaluate_check",
           "evaluate_round", "fmt", "judge", "max_rounds", "round_label", "worst"]


@dataclass(frozen=True)
class RoundOutcome:
    """Result of one analysis round."""

    status: AnalysisStatus
    verdict: Verdict  # worst verdict of the round
    summary: str  # "error-rate 0.0002 <= 0.001; latency-p95 0.12 <= 0.2"
    breach: str | None  # why the analysis failed, or None
    done: bool  # enough passing rounds to promote


_NOT_MEASURED = QueryResult(QueryOutcome.ERROR, detail="not measured")


def _metric_status(metric: MetricSpec, result: QueryResult,
                   verdict: Verdict, baseline: Baseline | None, *, failures: int,
                   no_data: int, errors: int, check_failed: bool) -> MetricStatus:
    """A metric's status after a measurement: its value, verdict, counters and baseline."""
    value = result.value if result.value is not None and math.isfinite(result.value) else None
    known = baseline.value if baseline is not None else None
    limit = relative_limit(metric.relative, baseline) if metric.relative else None
    detail = result.detail or None
    if verdict is Verdict.NO_DATA and result.ok and baseline is not None:
        detail = f"no baseline: {baseline.detail}"
    return MetricStatus(
        name=metric.name, value=value, verdict=verdict.value, detail=detail,
        failures=failures, no_data=no_data, errors=errors, check_failed=check_failed,
        baseline=known, baseline_query=baseline.key if known is not None and baseline else None,
        bound=limit if limit is not None and math.isfinite(limit) else None,
    )


def evaluate_round(
    spec: AnalysisSpec, prev: AnalysisStatus | None, samples: Sequence[MetricSample], now: str,
    *, counts: bool = True, paused: bool = False, baselines: Mapping[str, Baseline] | None = None,
) -> RoundOutcome:
    """Grade every metric, update its counters, decide breach or promotion.

    ``counts``: the round may count toward ``checks`` (False while the candidate is not fully
    Ready: its verdicts still count against the limits, a pass never counts). ``paused``: no
    "inconclusive" verdict, and the round is not counted toward that limit (DESIGN §2.2).
    ``baselines``: each relative metric's baseline (:func:`~.baseline.resolve`).
    """
    by_name = {s.name: s.result for s in samples if not s.baseline}
    bases = baselines or {}
    previous = {m.name: m for m in (prev.metrics if prev else [])}
    round_no = (prev.round if prev else 0) + 1
    metrics: list[MetricStatus] = []
    verdicts: list[Verdict] = []
    texts: list[str] = []
    breach: str | None = None
    clean = True  # no breach check of this period failed
    for metric in spec.metrics:
        result = by_name.get(metric.name, _NOT_MEASURED)
        base = bases.get(metric.name)
        verdict = judge(metric, result, base)
        old = previous.get(metric.name, MetricStatus(name=metric.name))
        clean = clean and not old.check_failed
        # a failure a breach check of this period counted is not counted again
        failures = old.failures + (verdict is Verdict.FAIL and not old.check_failed)
        no_data = old.no_data + 1 if verdict is Verdict.NO_DATA else 0
        errors = old.errors + 1 if verdict is Verdict.ERROR else 0
        metrics.append(_metric_status(metric, result, verdict, base, failures=failures,
                                      no_data=no_data, errors=errors, check_failed=False))
        verdicts.append(verdict)
        text = describe(metric, result, verdict, base)
        texts.append(text)
        if breach is None:
            breach = _breach(spec, text, f"round {round_no}", failures, no_data, errors)
    verdict = worst(verdicts)
    counted = verdict is Verdict.PASS and counts and clean
    passed = (prev.passed if prev else 0) + counted
    paused_rounds = (prev.paused_rounds if prev else 0) + paused
    status = AnalysisStatus(
        round=round_no, passed=passed, checks=spec.checks, metrics=metrics, last_round_time=now,
        paused_rounds=paused_rounds, last_check_at=prev.last_check_at if prev else None,
        breach_checks=prev.breach_checks if prev else 0,
    )
    # Promotion happens only on a round that itself passed: once enough rounds passed while
    # paused, a later round with NoData/Error must not be the one that promotes (DESIGN §2
    # "missing data never promotes").
    done = breach is None and counted and passed >= spec.checks
    limit = max_rounds(spec)
    if breach is None and not done and not paused and round_no - paused_rounds >= limit:
        breach = (f"analysis inconclusive: {passed}/{spec.checks} passing rounds after "
                  f"{round_no} rounds (at most {limit}: 2 x checks + the limits)")
    return RoundOutcome(status, verdict, "; ".join(texts), breach, done)


@dataclass(frozen=True)
class CheckOutcome:
    """Result of one breach check between rounds."""

    status: AnalysisStatus
    failed: str  # the metrics that failed ("" when none did): "error-rate 0.052 > 0.001"
    breach: str | None  # why the analysis failed, or None


def evaluate_check(
    spec: AnalysisSpec, prev: AnalysisStatus, samples: Sequence[MetricSample], now: str,
    *, baselines: Mapping[str, Baseline] | None = None,
) -> CheckOutcome:
    """Grade a breach check: only a ``Fail`` counts (once per period between rounds); the
    round counters, NoData and Error streaks and ``passed`` are left as they are."""
    by_name = {s.name: s.result for s in samples if not s.baseline}
    bases = baselines or {}
    previous = {m.name: m for m in prev.metrics}
    metrics: list[MetricStatus] = []
    failed: list[str] = []
    breach: str | None = None
    for metric in spec.metrics:
        result = by_name.get(metric.name, _NOT_MEASURED)
        base = bases.get(metric.name)
        verdict = judge(metric, result, base)
        old = previous.get(metric.name, MetricStatus(name=metric.name))
        if verdict is not Verdict.FAIL:
            # not a verdict that counts here: keep the round's, learn a new baseline only
            known = base is not None and base.value is not None
            metrics.append(old.model_copy(update={
                "baseline": base.value if known and base else old.baseline,
                "baseline_query": base.key if known and base else old.baseline_query,
                "bound": (relative_limit(metric.relative, base) if known and metric.relative
                          else old.bound)}))
            continue
        failures = old.failures + (not old.check_failed)
        metrics.append(_metric_status(metric, result, verdict, base, failures=failures,
                                      no_data=old.no_data, errors=old.errors,
                                      check_failed=True))
        text = describe(metric, result, verdict, base)
        failed.append(text)
        if breach is None:
            breach = _breach(spec, text, f"breach check after round {prev.round}", failures,
                             0, 0)
    status = prev.model_copy(update={"metrics": metrics, "last_check_at": now,
                                     "breach_checks": prev.breach_checks + 1})
    return CheckOutcome(status, "; ".join(failed), breach)


def max_rounds(spec: AnalysisSpec) -> int:
    """Rounds after which an analysis that has neither passed nor failed is rejected.

    Without it, metrics that take turns at NoData (each within its consecutive limit) would
    keep a candidate under analysis for ever: an inconclusive analysis never promotes.
    """
    return 2 * spec.checks + spec.failure_limit + spec.no_data_limit + spec.error_limit


def _breach(spec: AnalysisSpec, text: str, when: str, failures: int, no_data: int,
            errors: int) -> str | None:
    if failures > spec.failure_limit:
        return f"{text} ({when}, failureLimit {spec.failure_limit})"
    if no_data > spec.no_data_limit:
        return (f"{text} for {no_data} consecutive rounds ({when}, "
                f"noDataLimit {spec.no_data_limit})")
    if errors > spec.error_limit:
        return (f"{text} for {errors} consecutive rounds ({when}, "
                f"errorLimit {spec.error_limit})")
    return None


def round_label(status: AnalysisStatus) -> str:
    """"round 4/10", or "round 6 (4/10 passed)" once a tolerated failure was seen."""
    if status.round == status.passed:
        return f"round {status.round}/{status.checks}"
    return f"round {status.round} ({status.passed}/{status.checks} passed)"
