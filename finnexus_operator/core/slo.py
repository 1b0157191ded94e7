"""Merge shared SLO templates into a resource's analysis. Pure: no I/O.

A resource's ``spec.analysis.templates`` names cluster-scoped FinNexusAnalysisTemplates; their
metrics come first (in template order), then the resource's own. A resource metric with the
name of a template metric *overrides* it and may only tighten it:

- the query must be the template's, whitespace aside (a different query is another gate);
- a template ``max`` must be kept or lowered, a ``min`` kept or raised;
- a template ``relative`` bound must be kept or made stricter (compared as a ratio:
  ``maxRatio`` or ``1 + maxIncrease``); bounds the template lacks may be added.

``spec.analysis.dropMetrics`` drops template metrics marked ``required: false``. Everything
else -- an unknown template, a loosened or dropped required bound, two templates defining the
same metric -- makes the spec :class:`~finnexus_operator.core.validation.InvalidSpec`, the
reason naming the field and the template.

:func:`fingerprint` hashes the merged metrics: the status records it when a candidate starts,
so that a template edited mid-rollout is told apart (the rollout keeps what it started with).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from finnexus_operator.core.templating import unknown_placeholders
from finnexus_operator.core.validation import InvalidSpec
from finnexus_operator.models.spec import FinNexusDeploymentSpec, MetricSpec, RelativeSpec
from finnexus_operator.models.template import FinNexusAnalysisTemplateSpec, TemplateMetricSpec

__all__ = ["Templates", "fingerprint", "loosened", "merge", "merged_metrics", "parse_template"]

# name -> the template's spec, or why it cannot be used (a template the CRD let through but
# the operator cannot act on: an older CRD, an unknown placeholder)
Templates = Mapping[str, "FinNexusAnalysisTemplateSpec | InvalidSpec"]


def parse_template(raw: object) -> FinNexusAnalysisTemplateSpec | InvalidSpec:
    """A template's ``spec``, validated like a resource's metrics. Never raises."""
    try:
        spec = FinNexusAnalysisTemplateSpec.model_validate(raw)
    except ValidationError as exc:
        return InvalidSpec("; ".join(
            f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    for i, metric in enumerate(spec.metrics):
        unknown = unknown_placeholders(metric.query)
        if unknown:
            names = ", ".join("{{" + u + "}}" for u in unknown)
            return InvalidSpec(f"spec.metrics[{i}].query: unknown placeholder {names}")
    return spec


def _ratio(rel: RelativeSpec) -> float:
    return rel.max_ratio if rel.max_ratio is not None else 1.0 + (rel.max_increase or 0.0)


def loosened(base: MetricSpec, own: MetricSpec) -> list[str]:
    """The fields in which ``own`` is looser than ``base`` (empty: same or tighter)."""
    out = []
    if own.query.split() != base.query.split():  # whitespace aside (YAML folding)
        out.append("query")
    if base.max is not None and (own.max is None or own.max > base.max):
        out.append("max")
    if base.min is not None and (own.min is None or own.min < base.min):
        out.append("min")
    if base.relative is not None and (
            own.relative is None or _ratio(own.relative) > _ratio(base.relative)):
        out.append("relative")
    return out


def _bound(metric: MetricSpec, field: str) -> str:
    value = getattr(metric, field)
    if isinstance(value, RelativeSpec):
        return f"x{_ratio(value):g}"
    return "absent" if value is None else repr(value) if field == "query" else f"{value:g}"


def merged_metrics(
    spec: FinNexusDeploymentSpec, templates: Templates,
) -> list[MetricSpec] | InvalidSpec:
    """The metric set in force for ``spec``, or why it cannot be merged."""
    analysis = spec.analysis
    if analysis is None:
        return []
    problems: list[str] = []
    imposed: dict[str, tuple[str, TemplateMetricSpec]] = {}
    for i, name in enumerate(analysis.templates):
        template = templates.get(name)
        if template is None:
            problems.append(f"spec.analysis.templates[{i}]: no FinNexusAnalysisTemplate "
                            f"{name!r}")
            continue
        if isinstance(template, InvalidSpec):
            problems.append(f"spec.analysis.templates[{i}]: FinNexusAnalysisTemplate {name!r} "
                            f"is invalid: {template.reason}")
            continue
        for metric in template.metrics:
            if metric.name in imposed:
                problems.append(f"spec.analysis.templates[{i}]: metric {metric.name!r} of "
                                f"template {name!r} is also defined by template "
                                f"{imposed[metric.name][0]!r}")
                continue
            imposed[metric.name] = (name, metric)
    own = {m.name: (i, m) for i, m in enumerate(analysis.metrics)}
    for j, drop in enumerate(analysis.drop_metrics):
        where = f"spec.analysis.dropMetrics[{j}]"
        if drop not in imposed:
            problems.append(f"{where}: no template metric {drop!r}")
        elif imposed[drop][1].required:
            problems.append(f"{where}: metric {drop!r} is required by template "
                            f"{imposed[drop][0]!r}")
        elif drop in own:
            problems.append(f"{where}: metric {drop!r} is both dropped and in "
                            "spec.analysis.metrics")
    merged: list[MetricSpec] = []
    for name, (tname, metric) in imposed.items():
        if name in analysis.drop_metrics:
            continue
        if name not in own:
            merged.append(metric.as_metric())
            continue
        i, override = own[name]
        for field in loosened(metric, override):
            problems.append(
                f"spec.analysis.metrics[{i}].{field}: {_bound(override, field)} loosens "
                f"{_bound(metric, field)} of template {tname!r} (metric {name!r}): a resource "
                "may only tighten a template's bounds")
        merged.append(override)
    merged.extend(m for m in analysis.metrics if m.name not in imposed)
    if len(merged) > 20:
        problems.append(f"spec.analysis: {len(merged)} metrics after merging the templates "
                        "(at most 20)")
    return InvalidSpec("; ".join(problems)) if problems else merged


def merge(
    spec: FinNexusDeploymentSpec, templates: Templates,
) -> FinNexusDeploymentSpec | InvalidSpec:
    """``spec`` with ``analysis.metrics`` replaced by the merged set (templates resolved)."""
    if spec.analysis is None or not spec.analysis.templates:
        return spec
    metrics = merged_metrics(spec, templates)
    if isinstance(metrics, InvalidSpec):
        return metrics
    analysis = spec.analysis.model_copy(update={"metrics": metrics, "templates": [],
                                                "drop_metrics": []})
    return spec.model_copy(update={"analysis": analysis})


def fingerprint(metrics: Sequence[MetricSpec]) -> str:
    """A short stable hash of a metric set (what a rollout was gated on)."""
    raw = json.dumps([m.model_dump(by_alias=True, exclude_none=True) for m in metrics],
                     sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:12]
