"""Named situations of the rollout ladder, each a ``planlib.Sim`` driven there pass by pass.

V1 is the first revision (blue), V2 the candidate (green). Every builder takes ``make_spec``
keywords; unless told otherwise the spec has an analysis (``planlib.analysis()``), so a
candidate goes Deploying -> Verifying -> (AwaitingPromotion) -> Analyzing -> Stable.

The first revision:   first_deploying, first_verifying, failed, stable
A candidate (V2):     deploying, verifying, awaiting (promotion.auto false), analyzing
Its rejection:        rolling_back (the deciding pass's actions not applied: traffic still on
                      green), rolling_back_routed (they were), rolled_back
Its promotion:        stable_in_window (blue still runs), stable_after_window (blue at 0)

Also here: the measurement rounds the tables use (``ROUNDS``: P, F, N, E) and ``name``, the
test id of a builder (``first_deploying`` -> ``first-deploying``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from finnexus_operator.core.measurement import QueryResult
from finnexus_operator.core.observed import MetricSample
from finnexus_operator.models.phases import Phase
from tests.unit.planlib import BLUE, GREEN, V1, V2, Sim, analysis, good, make_spec, round_of

__all__ = [
    "BAD", "ERROR", "EVERY", "NODATA", "ROUNDS", "Situation", "analyzing", "awaiting",
    "deploying", "failed", "first_deploying", "first_verifying", "index_of", "name",
    "rolled_back", "rolling_back", "rolling_back_routed", "stable", "stable_after_window",
    "stable_in_window", "verifying",
]

Situation = Callable[..., Sim]

# -- measurement rounds (error-rate bad / empty / failing; latency passes) ---------------------
BAD = round_of(error_rate=QueryResult.value_of(0.052))
NODATA = round_of(error_rate=QueryResult.no_data("empty vector"))
ERROR = round_of(error_rate=QueryResult.error("HTTP 500"))
ROUNDS: dict[str, Sequence[MetricSample]] = {"P": good(), "F": BAD, "N": NODATA, "E": ERROR}


def _new(**spec: Any) -> Sim:
    spec.setdefault("analysis_spec", analysis())
    return Sim(make_spec(V1, **spec))


# -- the first revision -------------------------------------------------------------------------
def first_deploying(**spec: Any) -> Sim:
    """One pass after creation: the blue candidate is being deployed."""
    sim = _new(**spec)
    sim.step()
    return sim


def first_verifying(**spec: Any) -> Sim:
    """The first revision's pods are Ready; its health rounds have begun."""
    sim = _new(**spec)
    sim.run_until(Phase.VERIFYING)
    return sim


def failed(**spec: Any) -> Sim:
    """The first revision failed its health checks: Failed, nothing to return to."""
    sim = _new(**spec)
    sim.run_until(Phase.FAILED, health=False)
    return sim


def stable(**spec: Any) -> Sim:
    """V1 promoted, Stable on blue, nothing in progress."""
    sim = _new(**spec)
    sim.run_until(Phase.STABLE)
    return sim


# -- a candidate --------------------------------------------------------------------------------
def _released(**spec: Any) -> Sim:
    sim = stable(**spec)
    sim.set_template(V2)
    return sim


def deploying(**spec: Any) -> Sim:
    """One pass after V2 was set: the green candidate is being deployed."""
    sim = _released(**spec)
    sim.step()
    return sim


def verifying(**spec: Any) -> Sim:
    """The green candidate's pods are Ready; its first health round passed."""
    sim = _released(**spec)
    sim.run_until(Phase.VERIFYING)
    return sim


def awaiting(**spec: Any) -> Sim:
    """With ``promotion.auto: false`` (from V1 on): the healthy candidate waits for promote."""
    sim = _released(**{**spec, "auto": False})
    sim.run_until(Phase.AWAITING_PROMOTION)
    return sim


def analyzing(**spec: Any) -> Sim:
    """Traffic switched to green; no measurement round yet."""
    sim = _released(**spec)
    sim.run_until(Phase.ANALYZING)
    return sim


# -- its rejection ------------------------------------------------------------------------------
def rolling_back(**spec: Any) -> Sim:
    """A breach decided the rollback, but none of that pass's actions were applied."""
    sim = analyzing(**spec)
    sim.run_until(Phase.ROLLING_BACK, metrics=BAD, apply=False)
    assert sim.cluster.service == GREEN
    return sim


def rolling_back_routed(**spec: Any) -> Sim:
    """``rolling_back()``, then the deciding pass's actions land: traffic is back on blue."""
    sim = rolling_back(**spec)
    assert sim.last is not None
    sim.cluster.apply(sim.last.actions)
    return sim


def rolled_back(**spec: Any) -> Sim:
    """A breach rolled V2 back: RolledBack, traffic on blue, V2 rejected."""
    sim = analyzing(**spec)
    sim.run_until(Phase.ROLLING_BACK, metrics=BAD)
    assert sim.cluster.service == BLUE
    sim.run_until(Phase.ROLLED_BACK)
    return sim


# -- its promotion ------------------------------------------------------------------------------
def stable_in_window(**spec: Any) -> Sim:
    """V2 promoted on green; blue still runs (within scaleDownDelaySeconds, 30 s)."""
    sim = analyzing(**spec)
    sim.run_until(Phase.STABLE, metrics=good())
    return sim


def stable_after_window(**spec: Any) -> Sim:
    """V2 promoted on green and the delay has passed: blue is scaled to 0."""
    sim = stable_in_window(**spec)
    sim.now += timedelta(seconds=31)
    sim.step()
    return sim


EVERY: tuple[Situation, ...] = (
    first_deploying, first_verifying, failed, stable, deploying, verifying, awaiting, analyzing,
    rolling_back_routed, rolled_back, stable_in_window, stable_after_window,
)


# -- reading tables and plans -------------------------------------------------------------------
def name(value: object) -> str | None:
    """A test id for a situation builder; None (pytest's default id) for anything else."""
    return value.__name__.replace("_", "-") if callable(value) else None  # type: ignore[attr-defined]


def index_of(actions: list[str], item: str) -> int:
    """Where ``item`` is in ``kinds(...)`` output; fails when it is not there at all."""
    assert item in actions, f"{item} not in {actions}"
    return actions.index(item)
