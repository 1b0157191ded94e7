"""What the core asks the adapters to probe in a pass: plain requests, decided by the core.

The core (``schedule.due``) says *whether* a health round or a measurement round is due and
*exactly what* it is: which pods (by resource name, colour and revision), which port and path,
the timeout, how many pods must answer; which PromQL (already rendered) under which metric name.
Adapters only execute these requests and report a :class:`~.observed.HealthRound` or
:class:`~.observed.MetricSample` list back; they make no decisions of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["HealthProbe", "Measurement", "MetricQuery"]


@dataclass(frozen=True)
class HealthProbe:
    """One health round: ``GET <path>`` on every Ready pod of the candidate colour/revision."""

    name: str  # the FinNexusDeployment (pods carry app.kubernetes.io/name: <name>)
    color: str
    revision: str
    port: int | str  # a number, or a container port name the pod declares
    path: str
    timeout: float  # seconds, per pod
    expected: int  # fewer Ready candidate pods than this fails the round


@dataclass(frozen=True)
class MetricQuery:
    """One metric of a measurement round: its name and its rendered PromQL; a baseline query
    (the stable colour's, for a relative bound) is evaluated at ``at`` (None: now)."""

    name: str
    promql: str
    at: datetime | None = None
    baseline: bool = False


@dataclass(frozen=True)
class Measurement:
    """One measurement round (or, with ``breach_check``, a breach check between rounds):
    every metric's query in spec order, then the baseline queries still to be measured."""

    queries: tuple[MetricQuery, ...]
    breach_check: bool = False
