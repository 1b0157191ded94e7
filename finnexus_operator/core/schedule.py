"""When things are due: the one timing rule for health rounds, measurements and passes.

:func:`health_timer` and :func:`measurement_timer` answer both questions a pass asks: *is a
round due now* (before plan(), on the stored status: :func:`due`) and *when must the next pass
look again* (after plan(), on the decided status: :func:`requeue_after`). :func:`due` also
says exactly what to probe: the :mod:`~.probes` requests the adapters execute.

Measurements while Analyzing: a round every ``intervalSeconds`` after the switch (the rounds
that count toward ``checks``) and, in between, a breach check every ``breachCheckSeconds``
after the latest measurement of either kind (none when it is not less than the interval).
When both fall due in one pass the round is taken (it is the one that counts). The next pass
is due at the earlier of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from finnexus_operator.core import baseline, hooks, templating
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
    breach_check: bool = False  # (measurements) what is due is a breach check, not a round


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
    """Measurements while Analyzing: a round per ``analysis.intervalSeconds`` after the
    switch, breach checks in between (None: other phases, or no analysis)."""
    if status.phase is not Phase.ANALYZING or spec.analysis is None:
        return None
    a = status.analysis
    last_round = (a.last_round_time if a else None) or status.switched_at
    since = seconds_since(last_round, now)
    interval = float(spec.analysis.interval_seconds)
    round_in = max(0.0, interval - (since or 0.0))
    if since is None or since >= interval:
        return RoundTimer(due=True, next_in=0.0)
    period = spec.analysis.breach_check_period
    if period is None:
        return RoundTimer(due=False, next_in=round_in)
    # from the latest measurement of either kind: the first check comes a period after the
    # switch or a round, the next a period after it
    since_check = seconds_since(a.last_check_at if a else None, now)
    latest = since if since_check is None else min(since, since_check)
    check_in = max(0.0, period - latest)
    if check_in <= 0.0:
        return RoundTimer(due=True, next_in=0.0, breach_check=True)
    return RoundTimer(due=False, next_in=min(round_in, check_in))


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
            for metric in spec.analysis.metrics) + baseline.queries(
                spec.analysis, observed.namespace, observed.name, status),
            breach_check=measure.breach_check)
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
    cleanup = hooks.cleanup_in(spec, observed, now)
    if cleanup is not None:
        waits.append(cleanup)
    return min(waits) if waits else None
