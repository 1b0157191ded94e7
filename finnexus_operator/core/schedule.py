"""When things are due: the one timing rule for health rounds, measurement rounds and passes.

:func:`health_timer` and :func:`measurement_timer` answer both questions a pass asks: *is a
round due now* (before plan(), on the stored status: :func:`due`) and *when must the next pass
look again* (after plan(), on the decided status: :func:`requeue_after`). :func:`due` also
says exactly what to probe: the :mod:`~.probes` requests the adapters execute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from finnexus_operator.core import templating
from finnexus_operator.core.clock import parse, seconds_since
from finnexus_operator.core.observed import Observed
from finnexus_operator.core.probes import HealthProbe, Measurement, MetricQuery
from finnexus_operator.core.validation import ParsedSpec
from finnexus_operator.models.phases import Phase
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from finnexus_operator.models.status import FinNexusDeploymentStatus

__all__ = [
    "POLL_SECONDS",
    "Due",
    "RoundTimer",
    "due",
    "health_timer",
    "measurement_timer",
    "requeue_after",
]

POLL_SECONDS = 2.0  # readiness and rollback confirmation are polled at most this far apart


@dataclass(frozen=True)
class RoundTimer:
    """A kind of round in the current phase: may one run now, and when to look again."""

    due: bool  # a round may run in this pass
    next_in: float  # seconds until the next pass should look (readiness poll included)


@dataclass(frozen=True)
class Due:
    """The probes to run before plan() in this pass (None: not due)."""

    health: HealthProbe | None = None
    metrics: Measurement | None = None


_WATCHED = (Phase.AWAITING_PROMOTION, Phase.ANALYZING)  # after the checks passed (rule 3)


def health_timer(spec: FinNexusDeploymentSpec, status: FinNexusDeploymentStatus,
                 observed: Observed, now: datetime) -> RoundTimer | None:
    """Health rounds of the candidate, one per ``healthCheck.intervalSeconds``: while
    Deploying/Verifying once every candidate pod is Ready; while AwaitingPromotion/Analyzing
    whatever the pods do (fewer Ready pods than replicas is a failed round, §2.1 rule 3), and
    at once for a promote request (it re-checks; never an old verdict). None: other phases."""
    if status.phase not in (Phase.DEPLOYING, Phase.VERIFYING, *_WATCHED):
        return None
    cand = status.candidate_color
    state = observed.deployments.get(cand) if cand else None
    ready = status.phase in _WATCHED or (
        state is not None and state.revision == status.candidate_revision
        and state.ready >= spec.replicas)
    interval = float(spec.health_check.interval_seconds)
    since = seconds_since(status.health_check.last_probe_time, now)
    if status.phase is Phase.AWAITING_PROMOTION and _requests_promote(observed):
        return RoundTimer(due=True, next_in=min(POLL_SECONDS, interval))
    if since is None:
        return RoundTimer(due=ready, next_in=min(POLL_SECONDS, interval))
    return RoundTimer(due=ready and since >= interval,
                      next_in=max(0.0, min(interval - since, POLL_SECONDS)))


def _requests_promote(observed: Observed) -> bool:
    return (observed.request or "").strip().lower() == "promote"


def measurement_timer(spec: FinNexusDeploymentSpec, status: FinNexusDeploymentStatus,
                      now: datetime) -> RoundTimer | None:
    """Measurement rounds while Analyzing: one per ``analysis.intervalSeconds`` after the
    switch (None: other phases, or no analysis)."""
    if status.phase is not Phase.ANALYZING or spec.analysis is None:
        return None
    last = (status.analysis.last_round_time if status.analysis else None) or status.switched_at
    since = seconds_since(last, now)
    interval = float(spec.analysis.interval_seconds)
    return RoundTimer(due=since is None or since >= interval,
                      next_in=max(0.0, interval - (since or 0.0)))


def due(spec: ParsedSpec, status: FinNexusDeploymentStatus, observed: Observed,
        now: datetime) -> Due:
    """What to probe now, exactly (pure): a health round and/or a measurement round."""
    cand = status.candidate_color
    if not isinstance(spec, FinNexusDeploymentSpec) or cand is None:
        return Due()
    probe: HealthProbe | None = None
    health = health_timer(spec, status, observed, now)
    if health is not None and health.due:
        hc = spec.health_check
        probe = HealthProbe(
            name=observed.name, color=cand, revision=status.candidate_revision or "",
            port=spec.health_port, path=hc.path, timeout=float(hc.timeout_seconds),
            expected=spec.replicas)
    measurement: Measurement | None = None
    measure = measurement_timer(spec, status, now)
    if measure is not None and measure.due and spec.analysis is not None:
        values = templating.query_values(observed.namespace, observed.name, status)
        measurement = Measurement(tuple(
            MetricQuery(metric.name, templating.render(metric.query, values))
            for metric in spec.analysis.metrics))
    return Due(health=probe, metrics=measurement)


def requeue_after(spec: FinNexusDeploymentSpec, status: FinNexusDeploymentStatus,
                  observed: Observed, now: datetime, *, decided_events: bool) -> float | None:
    """Seconds until time itself needs the next pass for the decided ``status``; None when
    nothing is timed (e.g. Stable with no scale-down pending: only a change brings a pass —
    the watches deliver every change, and the operator's periodic resync is not the core's)."""
    waits: list[float] = []
    health = health_timer(spec, status, observed, now)
    if health is not None:
        waits.append(health.next_in)
    if status.phase in (Phase.DEPLOYING, Phase.VERIFYING) and not spec.paused:
        # paused time does not count toward the deadline, so a paused candidate has no
        # deadline to wake for (and one past it never busy-loops: §2.1 rule 7)
        since = seconds_since(status.candidate_since, now) or 0.0
        since -= status.paused_seconds
        waits.append(max(0.0, spec.progress_deadline_seconds - since) + 0.001)
    measure = measurement_timer(spec, status, now)
    if measure is not None:
        waits.append(measure.next_in)
    if status.phase is Phase.ROLLING_BACK:
        waits.append(0.0 if decided_events else POLL_SECONDS / 4)
    if status.scale_down is not None:
        after = parse(status.scale_down.after)
        if after is not None:
            waits.append(max(0.0, (after - now) / timedelta(seconds=1)))
    return min(waits) if waits else None
