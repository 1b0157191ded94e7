"""What a pass's outcome tells the people on call (pure): outcomes and their message bodies.

An *outcome* is a rollout's end as the status records it -- a history entry newly added
(``Promoted``, ``RolledBack``, ``Failed``, ``Superseded``) -- or the phase newly ``Invalid``.
Each is found once: the caller keeps the keys of the entries it has seen (:func:`entry_key`)
and hands them in, so a pass that is repeated, or a status recovered from a failed write,
never reports an outcome twice. The operator's metrics count outcomes; its notifications
(DESIGN §4) send the ones a person wants to hear about, with the bodies built here.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from finnexus_operator.core.analysis import fmt
from finnexus_operator.core.clock import parse, seconds_since
from finnexus_operator.models.phases import Phase, RejectionKind, Result
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from finnexus_operator.models.status import (
    AnalysisStatus,
    FinNexusDeploymentStatus,
    HistoryEntry,
)

__all__ = [
    "EVENTS",
    "INVALID",
    "Breach",
    "EntryKey",
    "Outcome",
    "breach_of",
    "command",
    "entry_key",
    "new_outcomes",
    "slack_body",
    "webhook_body",
]

INVALID = "Invalid"
EVENTS = (Result.ROLLED_BACK.value, Result.FAILED.value, Result.PROMOTED.value, INVALID)
EntryKey = tuple[str, str, str | None, str | None]  # revision, result, startedAt, finishedAt


@dataclass(frozen=True)
class Breach:
    """The metric whose limits rejected a candidate, its last value and the bound it crossed
    (``value`` None: the metric breached by NoData or Error, not by a value)."""

    metric: str
    value: float | None
    bound: float | None
    bound_kind: str | None  # min | max


@dataclass(frozen=True)
class Outcome:
    """One rollout outcome of one resource, found once."""

    event: str  # Promoted | RolledBack | Failed | Superseded | Invalid
    namespace: str
    name: str
    phase: str | None
    revision: str | None
    stable_revision: str | None
    reason: str
    reason_kind: str | None  # a RejectionKind value for RolledBack / Failed
    started_at: str | None
    finished_at: str | None
    breach: Breach | None = None

    @property
    def duration_seconds(self) -> float | None:
        """startedAt -> finishedAt (None when either is unknown)."""
        if self.started_at is None or self.finished_at is None:
            return None
        end = parse(self.finished_at)
        seconds = None if end is None else seconds_since(self.started_at, end)
        return None if seconds is None else max(0.0, seconds)


def entry_key(entry: HistoryEntry) -> EntryKey:
    return (entry.revision, entry.result, entry.started_at, entry.finished_at)


def new_outcomes(namespace: str, name: str, known: Collection[EntryKey],
                 old: FinNexusDeploymentStatus, new: FinNexusDeploymentStatus,
                 spec: FinNexusDeploymentSpec | None, now: str) -> list[Outcome]:
    """The outcomes ``new`` records that are not ``known`` (oldest first), then ``Invalid``
    when the phase has just become Invalid (``old`` was not)."""
    found: list[Outcome] = []
    for entry in new.history:
        if entry_key(entry) in known:
            continue
        breach = (breach_of(spec, new.analysis)
                  if entry.reason_kind == RejectionKind.METRIC.value else None)
        found.append(Outcome(
            event=entry.result, namespace=namespace, name=name,
            phase=None if new.phase is None else new.phase.value, revision=entry.revision,
            stable_revision=new.stable_revision, reason=entry.reason,
            reason_kind=entry.reason_kind, started_at=entry.started_at,
            finished_at=entry.finished_at, breach=breach))
    if new.phase is Phase.INVALID and old.phase is not Phase.INVALID:
        found.append(Outcome(
            event=INVALID, namespace=namespace, name=name, phase=INVALID,
            revision=new.candidate_revision, stable_revision=new.stable_revision,
            reason=new.message, reason_kind=None, started_at=None, finished_at=now))
    return found


def breach_of(spec: FinNexusDeploymentSpec | None, analysis: AnalysisStatus | None
              ) -> Breach | None:
    """The metric that broke its limit in ``analysis`` (the first, in spec order, as the
    core's verdict names it), with the bound its value crossed."""
    if spec is None or spec.analysis is None or analysis is None:
        return None
    limits = spec.analysis
    measured = {m.name: m for m in analysis.metrics}
    for check in ("failures", "no_data", "errors"):
        for metric in limits.metrics:
            status = measured.get(metric.name)
            if status is None:
                continue
            limit = {"failures": limits.failure_limit, "no_data": limits.no_data_limit,
                     "errors": limits.error_limit}[check]
            if getattr(status, check) <= limit:
                continue
            value = status.value
            if value is not None and metric.max is not None and value > metric.max:
                return Breach(metric.name, value, metric.max, "max")
            if value is not None and metric.min is not None and value < metric.min:
                return Breach(metric.name, value, metric.min, "min")
            if value is not None and status.bound is not None and value > status.bound:
                return Breach(metric.name, value, status.bound, "max")  # relative bound
            bound, kind = ((metric.max, "max") if metric.max is not None
                           else (metric.min, "min") if metric.min is not None
                           else (status.bound, "max"))
            return Breach(metric.name, value if check == "failures" else None, bound, kind)
    return None


def command(outcome: Outcome) -> str:
    """What to run to look at the resource."""
    return f"kubectl finnexus get {outcome.name} -n {outcome.namespace}"


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def webhook_body(outcome: Outcome) -> dict[str, Any]:
    """The generic JSON webhook body (DESIGN §4; metric/value/bound null unless a metric)."""
    breach = outcome.breach
    return {
        "event": outcome.event,
        "namespace": outcome.namespace,
        "name": outcome.name,
        "phase": outcome.phase,
        "revision": outcome.revision,
        "stableRevision": outcome.stable_revision,
        "reason": outcome.reason,
        "metric": breach.metric if breach else None,
        "value": _number(breach.value) if breach else None,
        "bound": _number(breach.bound) if breach else None,
        "startedAt": outcome.started_at,
        "finishedAt": outcome.finished_at,
        "command": command(outcome),
    }


_STATUS = {
    Result.ROLLED_BACK.value: ("rolled back", ":rotating_light:"),
    Result.FAILED.value: ("failed", ":x:"),
    Result.PROMOTED.value: ("promoted", ":white_check_mark:"),
    INVALID: ("invalid spec", ":warning:"),
}


def _impact(outcome: Outcome) -> str:
    stable = outcome.stable_revision or "none"
    if outcome.event == Result.ROLLED_BACK.value:
        return (f"production traffic is back on the stable revision {stable}; "
                f"{outcome.revision} is rejected and scaled down")
    if outcome.event == Result.FAILED.value:
        return (f"{outcome.revision} was rejected and there is no stable revision to return "
                "to: the service has no promoted version")
    if outcome.event == Result.PROMOTED.value:
        return f"{outcome.revision} now serves all production traffic"
    return ("the operator cannot act on the spec: no release moves until it is fixed "
            f"(traffic stays on {stable})")


def _reason_line(outcome: Outcome) -> str:
    breach = outcome.breach
    if breach is None:
        return outcome.reason or "-"
    if breach.value is None:
        return f"{breach.metric}: {outcome.reason}"
    sign = ">" if breach.bound_kind == "max" else "<"
    return (f"{breach.metric} {fmt(breach.value)} {sign} {fmt(breach.bound)} "
            f"({breach.bound_kind} bound) -- {outcome.reason}")


def slack_body(outcome: Outcome) -> dict[str, Any]:
    """A Slack-compatible body laid out like an incident alert: service, status, impact,
    start time, the reason with the value and bound, the revision and the command."""
    status, icon = _STATUS.get(outcome.event, (outcome.event, ":information_source:"))
    service = f"{outcome.namespace}/{outcome.name}"
    title = f"{icon} {service}: {status}"
    fields = [
        ("Service", service),
        ("Status", f"{outcome.event} (phase {outcome.phase or '-'})"),
        ("Impact", _impact(outcome)),
        ("Started", outcome.started_at or "-"),
        ("Reason", _reason_line(outcome)),
        ("Revision", f"{outcome.revision or '-'} (stable {outcome.stable_revision or '-'})"),
    ]
    lines = "\n".join(f"*{label}:* {text}" for label, text in fields)
    look = f"`{command(outcome)}`"
    return {
        "text": f"{title} -- {_reason_line(outcome)}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": lines}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Look: {look}"}]},
        ],
    }
