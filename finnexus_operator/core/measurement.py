"""The result of one metric query, as every metric provider reports it (pure, no I/O).

A provider never raises for a query problem: it answers a :class:`QueryResult` whose
``outcome`` is ``Value`` (one number, possibly infinite), ``NoData`` (empty vector or NaN) or
``Error`` (unreachable backend, HTTP error, bad query, more than one series, ...). The verdict
logic (DESIGN.md §2 "Verdicts") turns these into Pass/Fail/NoData/Error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["QueryOutcome", "QueryResult"]


class QueryOutcome(StrEnum):
    """What a query produced."""

    VALUE = "Value"
    NO_DATA = "NoData"
    ERROR = "Error"


@dataclass(frozen=True)
class QueryResult:
    """One query's outcome; ``value`` is set only for ``Value``, ``detail`` says why otherwise."""

    outcome: QueryOutcome
    value: float | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if self.outcome is QueryOutcome.VALUE:
            if self.value is None or math.isnan(self.value):
                raise ValueError("a Value result needs a number that is not NaN")
        elif self.value is not None:
            raise ValueError(f"a {self.outcome} result carries no value")

    @classmethod
    def value_of(cls, value: float, detail: str = "") -> QueryResult:
        """A number (``+inf``/``-inf`` allowed; NaN is ``NoData``, not a value)."""
        number = float(value)
        if math.isnan(number):
            return cls.no_data("NaN")
        return cls(QueryOutcome.VALUE, number, detail)

    @classmethod
    def no_data(cls, detail: str) -> QueryResult:
        """No number to judge: an empty vector or NaN."""
        return cls(QueryOutcome.NO_DATA, None, detail)

    @classmethod
    def error(cls, detail: str) -> QueryResult:
        """The query could not be answered (backend, transport or query problem)."""
        return cls(QueryOutcome.ERROR, None, detail)

    @property
    def ok(self) -> bool:
        """True when the result carries a number."""
        return self.outcome is QueryOutcome.VALUE

    def __str__(self) -> str:
        if self.outcome is QueryOutcome.VALUE:
            return f"{self.value:g}"
        return f"{self.outcome}: {self.detail}" if self.detail else str(self.outcome)
