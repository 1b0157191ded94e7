"""What ``kubectl finnexus get`` prints: the resource as a tree, as kubectl-argo-rollouts does.

Pure functions of a `Snapshot` (the resource, its colours' Deployments and Ready pod counts,
its Ingress and Events, and the time): no API calls here, so every line is unit-tested.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from finnexus_operator import constants
from finnexus_operator.models.phases import Phase
from finnexus_operator.models.status import FinNexusDeploymentStatus

__all__ = ["Snapshot", "age", "next_step", "parse_time", "roles", "table", "tree"]

Obj = dict[str, Any]
EVENTS_SHOWN = 5
_ICONS = {Phase.STABLE: "✔", Phase.ROLLED_BACK: "✖", Phase.FAILED: "✖", Phase.INVALID: "⚠",
          Phase.ROLLING_BACK: "↺", Phase.AWAITING_PROMOTION: "॥"}


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Everything one drawing of the tree needs, read once."""

    resource: Obj
    deployments: Mapping[str, Obj | None]  # by colour
    ready: Mapping[str, int]  # Ready pods of each colour's own revision
    ingress: Obj | None
    events: Sequence[Obj]
    now: float  # seconds since the epoch

    @property
    def name(self) -> str:
        return str((self.resource.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str:
        return str((self.resource.get("metadata") or {}).get("namespace", ""))

    @property
    def spec(self) -> Obj:
        spec = self.resource.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def status(self) -> FinNexusDeploymentStatus:
        return status_of(self.resource)


def status_of(resource: Mapping[str, Any]) -> FinNexusDeploymentStatus:
    """The resource's status as the model; an unreadable status reads as empty (Pending)."""
    try:
        return FinNexusDeploymentStatus.model_validate(resource.get("status") or {})
    except ValidationError:
        return FinNexusDeploymentStatus()


def parse_time(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC).timestamp()
    except ValueError:
        return None


def age(seconds: float | None) -> str:
    """kubectl's way of saying how old: 45s, 3m12s, 5h, 2d."""
    if seconds is None:
        return "<unknown>"
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    if s < 600:
        return f"{s // 60}m{s % 60}s"
    if s < 3 * 3600:
        return f"{s // 60}m"
    if s < 48 * 3600:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def table(rows: Sequence[Sequence[object]], indent: str = "") -> str:
    """Columns padded to their widest cell (the last column is not padded)."""
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    if not cells:
        return ""
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(len(cells[0]))]
    return "\n".join(indent + "   ".join(c.ljust(widths[i]) if i < len(row) - 1 else c
                                        for i, c in enumerate(row)).rstrip() for row in cells)


def roles(snap: Snapshot, color: str) -> list[str]:
    """What a colour is now: active (production traffic), preview (the preview Service),
    stable (runs the promoted revision), candidate (the revision being rolled out)."""
    st = snap.status
    rev = _revision(snap.deployments.get(color))
    out = []
    if color == st.active_color:
        out.append("active")
    if color == (st.candidate_color or st.active_color):
        out.append("preview")
    if color == st.candidate_color:
        out.append("candidate")
    elif st.stable_revision is not None and rev == st.stable_revision:
        out.append("stable")
    return out


def next_step(snap: Snapshot) -> str:
    """What the operator waits for next, in words (derived from the phase and the status)."""
    st, spec, meta = snap.status, snap.spec, snap.resource.get("metadata") or {}
    generation, observed = meta.get("generation"), st.observed_generation
    hc = spec.get("healthCheck") or {}
    if isinstance(generation, int) and (observed is None or observed < generation):
        return f"the operator to observe generation {generation} (it has seen {observed or 0})"
    phase = st.phase or Phase.PENDING
    paused = " (paused: kubectl finnexus resume to continue)" if spec.get("paused") else ""
    if phase is Phase.PENDING:
        return "the operator's first pass"
    if phase is Phase.DEPLOYING:
        color = st.candidate_color or "?"
        return (f"candidate {color} pods Ready ({snap.ready.get(color, 0)}/"
                f"{spec.get('replicas', 1)}){paused}")
    if phase is Phase.VERIFYING:
        needed = hc.get("successThreshold", 3)
        done = min(st.health_check.consecutive_successes + 1, int(needed))
        return f"health round {done}/{needed}{paused}"
    if phase is Phase.AWAITING_PROMOTION:
        return (f"waiting for a promote request (kubectl finnexus promote {snap.name} "
                f"-n {snap.namespace}){paused}")
    if phase is Phase.ANALYZING:
        a = st.analysis
        rnd, checks = (a.round + 1, a.checks) if a else (1, (spec.get("analysis") or {})
                                                        .get("checks", 10))
        return f"analysis round {rnd}/{checks}" + (" (paused: no promotion)" if paused else "")
    if phase is Phase.ROLLING_BACK:
        return f"traffic back on {st.active_color or 'the stable colour'}: {st.message}"
    if phase is Phase.INVALID:
        return "a corrected spec (see the message)"
    if phase in (Phase.ROLLED_BACK, Phase.FAILED):
        return (f"a new spec.template, or a retry request (kubectl finnexus retry {snap.name} "
                f"-n {snap.namespace})")
    if st.scale_down is not None:
        due = parse_time(st.scale_down.after)
        wait = "now" if due is None or due <= snap.now else f"in {int(due - snap.now + 0.999)} s"
        return f"scale-down of {st.scale_down.color} {wait}"
    return "nothing: a new spec.template starts a rollout"


def _revision(dep: Obj | None) -> str | None:
    if dep is None:
        return None
    labels = ((dep.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels")
    return (labels or {}).get(constants.LABEL_REVISION)


def _images(dep: Obj) -> str:
    containers = ((dep.get("spec") or {}).get("template") or {}).get("spec", {}).get(
        "containers") or []
    return ",".join(str(c.get("image", "?")) for c in containers) or "-"


def _bound(metric: Mapping[str, Any]) -> str:
    low, high = metric.get("min"), metric.get("max")
    if low is not None and high is not None:
        return f"{low:g}..{high:g}"
    if high is not None:
        return f"<= {high:g}"
    if low is not None:
        return f">= {low:g}"
    return "-"


def tree(snap: Snapshot) -> str:
    """The whole drawing: header, object tree, health, analysis, Events."""
    st, spec = snap.status, snap.spec
    phase = st.phase or Phase.PENDING
    lines = [
        f"Name:        {snap.name}",
        f"Namespace:   {snap.namespace}",
        f"Phase:       {_ICONS.get(phase, '◌')} {phase.value}"
        + ("  (paused)" if spec.get("paused") else ""),
        f"Message:     {st.message or '-'}",
        f"Revisions:   stable {st.stable_revision or '-'}, candidate "
        f"{st.candidate_revision or '-'}" + (f", rejected {st.rejected_revision}"
                                             if st.rejected_revision else ""),
        f"Next:        {next_step(snap)}",
        "",
    ]
    rows: list[list[object]] = [["NAME", "KIND", "ROLE", "REVISION", "READY", "IMAGE"],
                                [f"⟳ {snap.name}", constants.KIND, "", "", "", ""]]
    items: list[list[object]] = []
    for color in constants.COLORS:
        dep = snap.deployments.get(color)
        if dep is None:
            continue
        desired = (dep.get("spec") or {}).get("replicas", 0)
        items.append([f"{color}: {snap.name}-{color}", "Deployment",
                      ",".join(roles(snap, color)) or "-", _revision(dep) or "-",
                      f"{snap.ready.get(color, 0)}/{desired}", _images(dep)])
    if snap.ingress is not None:
        items.append([f"ingress: {snap.name}", "Ingress", "route",
                      "", "", f"backend {_ingress_backend(snap.ingress)}"])
    for i, item in enumerate(items):
        item[0] = ("└──" if i == len(items) - 1 else "├──") + " " + str(item[0])
        rows.append(item)
    lines.append(table(rows))
    hc, spec_hc = st.health_check, spec.get("healthCheck") or {}
    lines += ["", f"Health:      {hc.consecutive_successes} passed / "
              f"{hc.consecutive_failures} failed consecutive rounds (need "
              f"{spec_hc.get('successThreshold', 3)}, reject at "
              f"{spec_hc.get('failureThreshold', 3)})"
              + (f"; last error: {hc.last_error}" if hc.last_error else "")]
    lines += _analysis_lines(snap)
    lines += _event_lines(snap)
    return "\n".join(lines)


def _ingress_backend(ingress: Obj) -> str:
    try:
        path = ingress["spec"]["rules"][0]["http"]["paths"][0]
        return str(path["backend"]["service"]["name"])
    except (KeyError, IndexError, TypeError):
        return "-"


def _analysis_lines(snap: Snapshot) -> list[str]:
    a, spec_a = snap.status.analysis, snap.spec.get("analysis") or {}
    if a is None and not spec_a:
        return []
    bounds = {str(m.get("name")): m for m in spec_a.get("metrics") or [] if isinstance(m, dict)}
    head = (f"Analysis:    round {a.round}/{a.checks} ({a.passed} passed)" if a else
            "Analysis:    not started")
    limits = (f"; limits: failures {spec_a.get('failureLimit', 0)}, noData "
              f"{spec_a.get('noDataLimit', 3)}, errors {spec_a.get('errorLimit', 3)}")
    rows: list[list[object]] = [["METRIC", "VALUE", "BOUND", "VERDICT", "FAILURES", "NODATA",
                                 "ERRORS"]]
    measured = {m.name: m for m in (a.metrics if a else [])}
    for name in [*bounds, *(n for n in measured if n not in bounds)]:
        m = measured.get(name)
        rows.append([name, "-" if m is None or m.value is None else f"{m.value:.4g}",
                     _bound(bounds.get(name) or {}), (m.verdict if m else None) or "-",
                     m.failures if m else 0, m.no_data if m else 0, m.errors if m else 0])
    return ["", head + limits, table(rows, "  ")]


def _event_lines(snap: Snapshot) -> list[str]:
    def when(e: Obj) -> float:
        stamp = (e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp")
                 or (e.get("metadata") or {}).get("creationTimestamp"))
        return parse_time(stamp) or 0.0
    events = sorted(snap.events, key=when)[-EVENTS_SHOWN:]
    if not events:
        return ["", "Events:      none"]
    rows: list[list[object]] = [["AGE", "TYPE", "REASON", "MESSAGE"]]
    rows += [[age(snap.now - when(e)) if when(e) else "-", e.get("type", ""),
              e.get("reason", ""), e.get("message", "")] for e in events]
    return ["", f"Events (last {len(events)}, newest last):", table(rows, "  ")]
