"""One measurement against its metric's bounds: the verdict and the words for it (pure).

Absolute bounds are ``min``/``max`` (inclusive). A relative bound (``relative: {maxIncrease}``
or ``{maxRatio}``) is an upper bound computed from the :class:`Baseline`, the stable revision's
value of the same query at the switch time: ``candidate <= baseline * (1 + maxIncrease)`` or
``candidate <= baseline * maxRatio``. A relative metric without a usable baseline (not
measured yet, empty, NaN, infinite, an error) is ``NoData``: it never passes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from finnexus_operator.core.measurement import QueryOutcome, QueryResult
from finnexus_operator.models.spec import MetricSpec, RelativeSpec

__all__ = ["Baseline", "Verdict", "describe", "fmt", "judge", "relative_limit", "worst"]


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


@dataclass(frozen=True)
class Baseline:
    """The stable revision's value of a relative metric's query at the switch time."""

    key: str  # fingerprint of the rendered baseline query and its time
    value: float | None = None  # None: no usable baseline (``detail`` says why)
    detail: str = ""


def relative_limit(relative: RelativeSpec, baseline: Baseline | None) -> float | None:
    """The upper bound a baseline allows (None: no usable baseline)."""
    if baseline is None or baseline.value is None:
        return None
    return relative.limit(baseline.value)


def _relative_text(relative: RelativeSpec, baseline: float) -> str:
    """``stable 0.2 + 20%`` or ``stable 0.2 x 1.5``."""
    if relative.max_ratio is not None:
        return f"stable {fmt(baseline)} x {fmt(relative.max_ratio)}"
    return f"stable {fmt(baseline)} + {(relative.max_increase or 0.0) * 100:.4g}%"


def judge(metric: MetricSpec, result: QueryResult, baseline: Baseline | None = None) -> Verdict:
    """Grade one measurement against the metric's inclusive bounds (and its baseline)."""
    if result.outcome is QueryOutcome.ERROR:
        return Verdict.ERROR
    value = result.value
    if result.outcome is QueryOutcome.NO_DATA or value is None or math.isnan(value):
        return Verdict.NO_DATA
    if metric.min is not None and value < metric.min:
        return Verdict.FAIL
    if metric.max is not None and value > metric.max:
        return Verdict.FAIL
    if metric.relative is not None:
        limit = relative_limit(metric.relative, baseline)
        if limit is None:
            return Verdict.NO_DATA
        if value > limit:
            return Verdict.FAIL
    return Verdict.PASS


def _absolute(metric: MetricSpec, v: str, value: float) -> str | None:
    """The absolute part of a description (None: the metric has no min/max)."""
    low, high = metric.min, metric.max
    if high is not None and value > high:
        return f"{v} > {fmt(high)}"
    if low is not None and value < low:
        return f"{v} < {fmt(low)}"
    if low is not None and high is not None:
        return f"{v} in [{fmt(low)}, {fmt(high)}]"
    if low is not None:
        return f"{v} >= {fmt(low)}"
    if high is not None:
        return f"{v} <= {fmt(high)}"
    return None


def describe(metric: MetricSpec, result: QueryResult, verdict: Verdict,
             baseline: Baseline | None = None) -> str:
    """One metric's part of a message; the measured value always follows the name.

    ``m 0.12 <= 0.2`` (max only), ``m 0.5 >= 0.1`` (min only), ``m 0.5 in [0.1, 0.9]`` (both);
    outside the bounds ``m 0.052 > 0.001`` or ``m 0.05 < 0.1``; relative
    ``m 0.31 > 0.24 (stable 0.2 + 20%)`` or ``m 0.2 <= 0.3 (stable 0.2 x 1.5)``, after the
    absolute part when there is one (``m 0.15 <= 0.2 and <= 0.24 (stable 0.2 + 20%)``).
    """
    name = metric.name
    if verdict is Verdict.ERROR:
        return f"{name} error ({result.detail})"
    value = result.value
    if value is None or result.outcome is not QueryOutcome.VALUE:
        return f"{name} no data ({result.detail or 'NaN'})"
    v = fmt(value)
    absolute = _absolute(metric, v, value)
    if metric.relative is None or (verdict is Verdict.FAIL and absolute is not None and (
            " > " in absolute or " < " in absolute)):
        return f"{name} {absolute}"
    limit = relative_limit(metric.relative, baseline)
    if limit is None or baseline is None or baseline.value is None:
        why = baseline.detail if baseline is not None and baseline.detail else "not measured"
        return f"{name} {v}, no baseline ({why})"
    sign = ">" if value > limit else "<="
    relative = f"{sign} {fmt(limit)} ({_relative_text(metric.relative, baseline.value)})"
    if absolute is None:
        return f"{name} {v} {relative}"
    return f"{name} {absolute} and {relative}"
