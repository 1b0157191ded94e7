"""Baselines of relative bounds: what to ask Prometheus, and what its answers mean (pure).

A relative metric's baseline is the *same* query with ``{{service}}``, ``{{color}}`` and
``{{revision}}`` set to the stable colour's (``{{stableColor}}``/``{{stableService}}`` keep
naming the stable colour), evaluated at the time of the switch (``status.switchedAt``): the
stable revision as it served before traffic moved.

It is measured once per rollout and kept in ``status.analysis.metrics[].baseline`` with a
fingerprint of the rendered query and its time (``baselineQuery``): an instant query at a
fixed past instant has one answer, so asking again every round would cost a query per metric
per round for the same number. Until a usable number arrives (an empty vector, NaN, an
infinity or an error are not usable) it is asked again with every measurement, and the metric
is ``NoData`` meanwhile; a query edited mid-analysis has another fingerprint and is measured
again.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import datetime

from finnexus_operator.core import templating
from finnexus_operator.core.bounds import Baseline
from finnexus_operator.core.clock import iso, parse
from finnexus_operator.core.manifests import colored_name
from finnexus_operator.core.measurement import QueryOutcome
from finnexus_operator.core.observed import MetricSample
from finnexus_operator.core.probes import MetricQuery
from finnexus_operator.models.spec import AnalysisSpec, MetricSpec
from finnexus_operator.models.status import FinNexusDeploymentStatus

__all__ = ["NO_SWITCH_TIME", "expected", "queries", "resolve", "stable_values"]

NO_SWITCH_TIME = "no switch time recorded"


def stable_values(namespace: str, name: str, status: FinNexusDeploymentStatus
                  ) -> dict[str, str]:
    """The placeholder values of the candidate's, with the candidate's own set to the stable's."""
    values = templating.query_values(namespace, name, status)
    stable = values["stableColor"]
    values.update(color=stable, service=colored_name(name, stable),
                  revision=status.stable_revision or "")
    return values


def _key(promql: str, at: datetime) -> str:
    return hashlib.sha256(f"{iso(at)}\n{promql}".encode()).hexdigest()[:12]


def _planned(spec: AnalysisSpec, namespace: str, name: str, status: FinNexusDeploymentStatus
             ) -> list[tuple[MetricSpec, str, datetime | None]]:
    """(metric, rendered baseline query, switch time) of every relative metric."""
    at = parse(status.switched_at)
    values = stable_values(namespace, name, status)
    return [(m, templating.render(m.query, values), at) for m in spec.metrics
            if m.relative is not None]


def expected(spec: AnalysisSpec, namespace: str, name: str,
             status: FinNexusDeploymentStatus) -> dict[str, str]:
    """The fingerprint each relative metric's baseline must carry (no switch time: none)."""
    return {m.name: _key(q, at) for m, q, at in _planned(spec, namespace, name, status)
            if at is not None}


def queries(spec: AnalysisSpec, namespace: str, name: str,
            status: FinNexusDeploymentStatus) -> tuple[MetricQuery, ...]:
    """The baseline queries still to be measured (none once every baseline is known)."""
    stored = {m.name: m for m in (status.analysis.metrics if status.analysis else [])}
    out = []
    for metric, promql, at in _planned(spec, namespace, name, status):
        old = stored.get(metric.name)
        if at is None or (old is not None and old.baseline is not None
                          and old.baseline_query == _key(promql, at)):
            continue
        out.append(MetricQuery(metric.name, promql, at=at, baseline=True))
    return tuple(out)


def resolve(spec: AnalysisSpec, namespace: str, name: str, status: FinNexusDeploymentStatus,
            samples: Sequence[MetricSample]) -> Mapping[str, Baseline]:
    """Each relative metric's baseline: measured in this pass, else as stored, else none."""
    keys = expected(spec, namespace, name, status)
    measured = {s.name: s.result for s in samples if s.baseline}
    stored = {m.name: m for m in (status.analysis.metrics if status.analysis else [])}
    out: dict[str, Baseline] = {}
    for metric in spec.metrics:
        if metric.relative is None:
            continue
        key = keys.get(metric.name)
        if key is None:
            out[metric.name] = Baseline("", None, NO_SWITCH_TIME)
            continue
        result = measured.get(metric.name)
        old = stored.get(metric.name)
        if result is None:
            if old is not None and old.baseline is not None and old.baseline_query == key:
                out[metric.name] = Baseline(key, old.baseline)
            else:
                out[metric.name] = Baseline(key, None, "not measured")
        elif result.outcome is QueryOutcome.VALUE and result.value is not None and (
                math.isfinite(result.value)):
            out[metric.name] = Baseline(key, result.value)
        elif result.outcome is QueryOutcome.VALUE:
            out[metric.name] = Baseline(key, None, f"stable value {result.value} at the switch")
        else:
            out[metric.name] = Baseline(key, None, f"stable at the switch: {result.detail}")
    return out
