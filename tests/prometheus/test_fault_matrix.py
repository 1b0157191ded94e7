"""Prometheus fault matrix (issue 8, proof 3): every fault, its verdicts and the analysis outcome.

A *scripted Prometheus* (a small aiohttp server on 127.0.0.1, a unit-level stand-in next to
the real-Prometheus tests of this folder) answers ``/api/v1/query`` from a per-case script, one
step per measurement round: down (nothing listens: connection refused), HTTP 500, slower than
the provider's timeout, an empty vector, NaN, +Inf, -Inf, several series, an answer over the
size cap (35 MiB) or the series cap (150 series), values flapping across the bound, and an
outage (or no data) followed by values. Each round goes through the real
:class:`PrometheusProvider` and :func:`metrics.measure`; the outcome comes from
:func:`analysis.evaluate_round` over the rounds, with a small spec: ``checks 3``,
``failureLimit 0``, ``noDataLimit 1``, ``errorLimit 1`` and one metric ``error-rate`` with
``max 0.01`` (the standard gate). A case stops at a breach, a promotion, or ``max_rounds``.
-Inf is a number below the max (DESIGN §2: NoData is an empty vector or NaN), so it passes.

Each case is its own test (its expected verdict sequence and outcome); ``test_matrix`` prints the
matrix and ``promotions without data: 0`` (run with ``-s`` to see it): a promotion counts as
"without data" when fewer of the provider's results carried a number than ``checks``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass

import pytest
from aiohttp import web

from finnexus_operator.adapters import metrics
from finnexus_operator.adapters.prometheus import PrometheusProvider
from finnexus_operator.core import analysis
from finnexus_operator.core.measurement import QueryOutcome, QueryResult
from finnexus_operator.core.probes import Measurement, MetricQuery
from finnexus_operator.models.spec import AnalysisSpec
from finnexus_operator.models.status import AnalysisStatus

NOW = "2026-01-01T00:00:00.000000Z"
METRIC = "error-rate"
QUERY = 'sum(rate(http_requests_total{service="web-green",status=~"5.."}[1m]))'
SPEC = AnalysisSpec.model_validate({
    "checks": 3, "failureLimit": 0, "noDataLimit": 1, "errorLimit": 1,
    "metrics": [{"name": METRIC, "query": QUERY, "max": 0.01}],
})
TIMEOUT = 0.3  # the provider's; "slow" answers after 1 s
HUGE = 35 * 1024 * 1024  # a broad answer: over the 1 MiB cap
TS = 1700000000.123


# -- the scripted Prometheus -----------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """What the scripted Prometheus does for one round."""

    kind: str  # down | status | slow | vector | huge
    values: tuple[str, ...] = ()  # vector: one sample value per series
    status: int = 200

    def __str__(self) -> str:
        if self.kind == "vector":
            return "[" + ", ".join(self.values) + "]"
        if self.kind == "status":
            return f"HTTP {self.status}"
        return self.kind


DOWN = Step("down")
SLOW = Step("slow", ("0.001",))
HUGE_ANSWER = Step("huge")


def vec(*values: str) -> Step:
    return Step("vector", values)


def http(status: int) -> Step:
    return Step("status", status=status)


def _vector(values: tuple[str, ...]) -> bytes:
    result = [{"metric": {"pod": f"web-green-{i}"}, "value": [TS, v]} for i, v in enumerate(values)]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}},
                      separators=(",", ":")).encode()


class ScriptedPrometheus:
    """``/api/v1/query`` on a fixed 127.0.0.1 port that is listening only when the step says so."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.step = DOWN
        self.requests = 0
        self._runner: web.AppRunner | None = None

    async def play(self, step: Step) -> None:
        """Make the next round see ``step``; "down" stops listening and drops connections."""
        self.step = step
        if step.kind == "down" and self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        elif step.kind != "down" and self._runner is None:
            app = web.Application()
            app.router.add_get("/api/v1/query", self._handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
            self._runner = runner

    async def close(self) -> None:
        await self.play(DOWN)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        step = self.step
        if step.kind == "status":
            return web.Response(status=step.status, text="internal error\n")
        if step.kind == "slow":
            await asyncio.sleep(1.0)
            return web.Response(body=_vector(step.values), content_type="application/json")
        if step.kind == "vector":
            return web.Response(body=_vector(step.values), content_type="application/json")
        assert step.kind == "huge", step
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = _vector(("0.001",))[:-3] + b"," + b" " * (64 * 1024)
        try:
            for _ in range(HUGE // len(chunk)):
                await response.write(chunk)
            await response.write_eof()
        except ConnectionError:  # the provider hung up at its cap
            pass
        return response


# -- the cases --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    script: tuple[Step, ...]  # one step per round; the last one repeats
    verdicts: str  # expected, one letter per round: P pass, F fail, N no data, E error
    outcome: str  # expected: "Promoted" or "RolledBack", with the round
    detail: str = ""  # expected in the first non-passing result's detail
    has_data: bool = False  # the answers carry numbers (a promotion is allowed to happen)


CASES = [
    Case("down", (DOWN,), "EE", "RolledBack round 2",
         detail="connection refused"),
    Case("http 500", (http(500),), "EE", "RolledBack round 2",
         detail="HTTP 500 from Prometheus: internal error"),
    Case("slower than timeout", (SLOW,), "EE", "RolledBack round 2",
         detail=f"timeout after {TIMEOUT}s"),
    Case("empty vector", (vec(),), "NN", "RolledBack round 2",
         detail="empty vector (no series matched)"),
    Case("NaN", (vec("NaN"),), "NN", "RolledBack round 2",
         detail="NaN (e.g. 0/0: no traffic)"),
    Case("+Inf", (vec("+Inf"),), "F", "RolledBack round 1", has_data=True),
    # -Inf is a number (DESIGN §2: NoData is an empty vector or NaN) and it is below the max:
    # it passes like any value within the bounds.
    Case("-Inf", (vec("-Inf"),), "PPP", "Promoted round 3", has_data=True),
    Case("several series", (vec("0.001", "0.002", "0.003"),), "EE", "RolledBack round 2",
         detail="query returned 3 series"),
    Case("over the series cap", (vec(*["0.001"] * 150),), "EE", "RolledBack round 2",
         detail="Prometheus answer has more than 100 series (cap 100)"),
    Case("huge answer", (HUGE_ANSWER,), "EE", "RolledBack round 2",
         detail="Prometheus answer larger than 1 MiB (cap); narrow the query"),
    Case("flapping", (vec("0.005"), vec("0.02"), vec("0.005"), vec("0.02")), "PF",
         "RolledBack round 2", detail="", has_data=True),
    Case("recovery after outage", (DOWN, vec("0.001")), "EPPP", "Promoted round 4",
         detail="connection refused", has_data=True),
    Case("outage, 500, then values", (DOWN, http(500), vec("0.001")), "EE",
         "RolledBack round 2", detail="connection refused", has_data=True),
    Case("no data then values", (vec(), vec("0.001")), "NPPP", "Promoted round 4",
         detail="empty vector", has_data=True),
]

LETTER = {analysis.Verdict.PASS: "P", analysis.Verdict.FAIL: "F",
          analysis.Verdict.NO_DATA: "N", analysis.Verdict.ERROR: "E"}


@dataclass(frozen=True)
class Run:
    """What one case did."""

    steps: tuple[Step, ...]
    results: tuple[QueryResult, ...]
    verdicts: str
    outcome: str
    breach: str | None
    requests: int

    @property
    def values(self) -> int:
        return sum(r.outcome is QueryOutcome.VALUE for r in self.results)


async def run_case(case: Case) -> Run:
    """Play the script round by round through the real provider until a decision."""
    server = ScriptedPrometheus()
    provider = PrometheusProvider(server.url, timeout=TIMEOUT)
    measurement = Measurement((MetricQuery(METRIC, QUERY),))
    status: AnalysisStatus | None = None
    steps: list[Step] = []
    results: list[QueryResult] = []
    letters = ""
    outcome, breach = "undecided", None
    try:
        for index in range(analysis.max_rounds(SPEC)):
            step = case.script[min(index, len(case.script) - 1)]
            await server.play(step)
            samples = await metrics.measure(provider, measurement)
            out = analysis.evaluate_round(SPEC, status, samples, NOW)
            status = out.status
            steps.append(step)
            results.append(samples[0].result)
            letters += LETTER[out.verdict]
            if out.breach is not None:
                outcome, breach = f"RolledBack round {out.status.round}", out.breach
                break
            if out.done:
                outcome = f"Promoted round {out.status.round}"
                break
    finally:
        await provider.close()
        await server.close()
    return Run(tuple(steps), tuple(results), letters, outcome, breach, server.requests)


_RUNS: dict[str, Run] = {}


async def cached(case: Case) -> Run:
    if case.name not in _RUNS:
        _RUNS[case.name] = await run_case(case)
    return _RUNS[case.name]


def promoted_without_data(run: Run) -> bool:
    return run.outcome.startswith("Promoted") and run.values < SPEC.checks


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_fault(case: Case) -> None:
    run = await cached(case)
    assert (run.verdicts, run.outcome) == (case.verdicts, case.outcome), run
    assert not promoted_without_data(run)
    if not case.has_data:
        assert not run.outcome.startswith("Promoted")
        assert run.values == 0
    if case.detail:
        first = next(r for r in run.results if r.outcome is not QueryOutcome.VALUE)
        assert case.detail in first.detail, first.detail
    if run.breach is not None and case.verdicts[-1] in "NE":
        assert "consecutive rounds" in run.breach
    if case.name == "down":
        assert run.requests == 0  # nothing was listening
    if case.name == "recovery after outage":
        assert run.requests == 3  # the first round found nothing listening


def _short(result: QueryResult) -> str:
    if result.outcome is QueryOutcome.VALUE:
        return analysis.fmt(result.value)
    detail = result.detail
    if detail.startswith("cannot connect to Prometheus at "):
        detail = detail.rsplit(": ", 1)[-1]  # no port number: it changes every run
    detail = detail.split(";")[0].removeprefix("Prometheus answer ")
    return f"{result.outcome}: {detail}"


def answers(run: Run) -> str:
    """The provider's results, consecutive repeats collapsed: "Error: HTTP 500 x2"."""
    shown: list[tuple[str, int]] = []
    for text in map(_short, run.results):
        if shown and shown[-1][0] == text:
            shown[-1] = (text, shown[-1][1] + 1)
        else:
            shown.append((text, 1))
    return ", ".join(t if n == 1 else f"{t} x{n}" for t, n in shown)


async def test_matrix() -> None:
    """Every case, printed as case -> answers -> verdicts -> outcome; no promotion without data."""
    runs = [(case, await cached(case)) for case in CASES]
    lines = [f"{'case':<25} {'verdicts':<9} {'outcome':<19} what the provider answered"]
    for case, run in runs:
        lines.append(f"{case.name:<25} {run.verdicts:<9} {run.outcome:<19} {answers(run)}")
    without_data = sum(promoted_without_data(run) for _, run in runs)
    mismatched = [case.name for case, run in runs
                  if (run.verdicts, run.outcome) != (case.verdicts, case.outcome)]
    print("\nPrometheus fault matrix (checks 3, failureLimit 0, noDataLimit 1, errorLimit 1, "
          f"error-rate max 0.01, timeout {TIMEOUT}s, answer cap 1 MiB / 100 series)")
    print("\n".join(lines))
    print(f"cases: {len(runs)}, as expected: {len(runs) - len(mismatched)}")
    print(f"promotions without data: {without_data}")
    assert without_data == 0
    assert not mismatched, mismatched
    assert all(not run.outcome.startswith("Promoted") for case, run in runs if not case.has_data)
