"""One reconcile pass, written once: observe -> due probes -> plan() -> record -> apply.

The operator's reconciler and the test simulators both drive :func:`run_pass`; they differ
only in the :class:`PassIO` they hand it (the real cluster, pods and Prometheus, or a
simulated cluster). The choreography does no I/O of its own: it awaits what ``io`` does.
A simulator whose ``io`` never suspends can run a pass without an event loop (:func:`run_sync`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from finnexus_operator.core.observed import HealthRound, MetricSample, Observed
from finnexus_operator.core.plan import Plan, plan
from finnexus_operator.core.probes import HealthProbe, Measurement
from finnexus_operator.core.schedule import due
from finnexus_operator.core.validation import ParsedSpec
from finnexus_operator.models.status import FinNexusDeploymentStatus

__all__ = ["PassIO", "run_pass", "run_sync"]

T = TypeVar("T")


class PassIO(Protocol):
    """What a pass reads, probes and changes."""

    async def observe(self) -> Observed:
        """Everything plan() looks at besides the spec, the status and the clock."""
        ...

    async def probe_health(self, probe: HealthProbe) -> HealthRound | None:
        """Run one health round (None: no round could be taken in this pass)."""
        ...

    async def measure(self, measurement: Measurement) -> Sequence[MetricSample] | None:
        """Run one measurement round (None: no round could be taken in this pass)."""
        ...

    async def record(self, decision: FinNexusDeploymentStatus) -> None:
        """Record a decision before it is acted on (``Plan.decision``, §2.1 rule 2)."""
        ...

    async def apply(self, decided: Plan) -> None:
        """Make the cluster match ``decided.actions`` (in order)."""
        ...


async def run_pass(spec: ParsedSpec, status: FinNexusDeploymentStatus, io: PassIO,
                   clock: Callable[[], datetime]) -> Plan:
    """Observe, run the probes the core says are due, decide, record a rollback decision
    before anything acts on it, apply; returns the decision.

    Recording the decided status (and its Events) is the caller's: the reconciler writes it
    to the API, a simulator keeps it (or loses it, to test a lost write)."""
    observed = await io.observe()
    wanted = due(spec, status, observed, clock())
    if wanted.health is not None:
        observed = dataclasses.replace(observed, health=await io.probe_health(wanted.health))
    if wanted.metrics is not None:
        samples = await io.measure(wanted.metrics)
        observed = dataclasses.replace(
            observed, metrics=None if samples is None else tuple(samples),
            breach_check=wanted.metrics.breach_check)
    decided = plan(spec, status, observed, clock())
    if decided.decision is not None:
        await io.record(decided.decision)  # written ahead: nothing acts on an unrecorded one
    await io.apply(decided)
    return decided


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (a simulator's pass) without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("run_sync: the coroutine suspended; run it in an event loop instead")
