"""``spec`` of a FinNexusAnalysisTemplate: a cluster-scoped, named set of SLO metrics.

A FinNexusDeployment lists templates in ``spec.analysis.templates``; ``core.slo`` merges their
metrics with the resource's own (a resource may tighten a bound, never loosen it, and may drop
a metric only when the template says ``required: false``). ``finnexus_operator.crd`` generates
the template's CRD from these models, like the resource's.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from finnexus_operator.models.spec import MetricSpec, _SpecModel

__all__ = ["FinNexusAnalysisTemplateSpec", "TemplateMetricSpec"]


class TemplateMetricSpec(MetricSpec):
    """A resource's metric (same query placeholders and bounds) that a template imposes."""

    required: bool = Field(
        True, description="true: a resource using the template cannot drop this metric "
        "(analysis.dropMetrics); false: it may.",
    )

    def as_metric(self) -> MetricSpec:
        """The metric as a resource's analysis measures it."""
        return MetricSpec.model_validate(self.model_dump(exclude={"required"}))


class FinNexusAnalysisTemplateSpec(_SpecModel):
    """Named SLO gates shared by FinNexusDeployments (spec.analysis.templates)."""

    metrics: list[TemplateMetricSpec] = Field(
        min_length=1, max_length=20, description="The metrics every resource using the "
        "template measures; a resource metric of the same name may only tighten the bounds.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @field_validator("metrics")
    @classmethod
    def _unique(cls, v: list[TemplateMetricSpec]) -> list[TemplateMetricSpec]:
        names = [m.name for m in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"metric names must be unique; repeated: {', '.join(dupes)}")
        return v
