"""A scripted metric backend for the analysis tables: it answers exactly what the core asks.

:class:`ScriptedSim` is a ``planlib.Sim`` whose measurements go through :class:`ScriptedIO`:
each asked query is answered from ``values`` (the candidate's metric by name) or, for a
baseline query (the stable colour's, evaluated at the switch time), from ``baselines``; every
measurement asked is kept in ``asked`` with the time of its pass, so a table can read which
passes took a round and which a breach check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from finnexus_operator.core.measurement import QueryResult
from finnexus_operator.core.observed import MetricSample
from finnexus_operator.core.passes import run_pass, run_sync
from finnexus_operator.core.plan import Plan
from finnexus_operator.core.probes import Measurement
from finnexus_operator.core.validation import parse_spec
from finnexus_operator.models.phases import Phase
from tests.unit.planlib import V2, Sim, SimIO, make_spec, stable_sim

__all__ = ["Asked", "ScriptedIO", "ScriptedSim", "result", "scripted_switched"]

Script = dict[str, QueryResult]


def result(value: float | QueryResult) -> QueryResult:
    return value if isinstance(value, QueryResult) else QueryResult.value_of(value)


@dataclass(frozen=True)
class Asked:
    """One measurement the core asked for, and when."""

    at: datetime
    measurement: Measurement

    @property
    def kind(self) -> str:
        return "check" if self.measurement.breach_check else "round"

    @property
    def baselines(self) -> list[str]:
        return [q.name for q in self.measurement.queries if q.baseline]


@dataclass
class ScriptedIO(SimIO):
    """SimIO whose measurement answers each asked query from the script."""

    values: Script = field(default_factory=dict)
    baselines: Script = field(default_factory=dict)
    log: list[Asked] = field(default_factory=list)
    now: datetime | None = None

    async def measure(self, measurement: Measurement) -> Sequence[MetricSample] | None:
        assert self.now is not None
        self.log.append(Asked(self.now, measurement))
        out = []
        for q in measurement.queries:
            script = self.baselines if q.baseline else self.values
            answer = script.get(q.name, QueryResult.no_data("empty vector"))
            out.append(MetricSample(q.name, answer, q.promql, baseline=q.baseline))
        return out


@dataclass
class ScriptedSim(Sim):
    """A Sim measured through the script (``values``/``baselines`` may change between steps)."""

    values: Script = field(default_factory=dict)
    baselines: Script = field(default_factory=dict)
    asked: list[Asked] = field(default_factory=list)

    def measure(self, **values: float | QueryResult) -> None:
        self.values.update({k.replace("_", "-"): result(v) for k, v in values.items()})

    def step(self, *, health: bool | None = True, metrics: Sequence[MetricSample] | None = None,
             request: str | None = None, ready: bool = True, advance: float = 1.0,
             apply: bool | int = True, store: bool = True, detail: str = "HTTP 503") -> Plan:
        if request is not None:
            self.cluster.request = request
        if ready:
            self.cluster.pods_ready()
        now = self.now
        io = ScriptedIO(self.cluster, health=health, detail=detail, partial=apply,
                        has_ingress="ingress" in self.spec, values=self.values,
                        baselines=self.baselines, log=self.asked, now=now)
        decided = run_sync(run_pass(parse_spec(self.spec), self.status, io, lambda: now))
        if store:
            self.status = decided.status
        elif io.recorded is not None:
            self.status = io.recorded
        self.last = decided
        self.plans.append(decided)
        self.now += timedelta(seconds=advance)
        return decided


def scripted_switched(analysis_spec: dict[str, Any], **values: float | QueryResult
                      ) -> ScriptedSim:
    """V1 stable on blue, V2 switched to green and Analyzing, no measurement taken yet; the
    script answers ``values`` (default: every metric passes)."""
    base = stable_sim(make_spec(analysis_spec=analysis_spec))
    sim = ScriptedSim(spec=base.spec, status=base.status, cluster=base.cluster, now=base.now)
    sim.measure(**({"error_rate": 0.0002, "latency_p95": 0.12} | values))
    sim.set_template(V2)
    sim.run_until(Phase.ANALYZING)
    sim.asked.clear()
    return sim
