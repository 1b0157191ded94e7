"""Which FinNexusAnalysisTemplates gate a pass: fixed when a candidate starts. Pure: no I/O.

A template edited (or deleted) while a rollout is under way must not move the bounds under
it: the rollout was started, and may be half-way through its rounds, against the template as
it was. So the status keeps a copy of each template's metrics (``status.analysisTemplates``),
keyed by the candidate's revision *and* the time its rollout started (a revision retried later
is a new rollout and takes the templates of then).

Why the content and not only generation + hash: a hash tells that a template changed, not what
it said; the operator would have nothing to gate on after an edit or a delete. The copy is
small (at most 10 templates of at most 20 metrics).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from finnexus_operator.core import slo
from finnexus_operator.core.validation import InvalidSpec
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from finnexus_operator.models.status import (
    AnalysisTemplatesStatus,
    FinNexusDeploymentStatus,
    TemplateSnapshot,
)
from finnexus_operator.models.template import FinNexusAnalysisTemplateSpec

__all__ = ["LiveTemplate", "in_force", "pin"]


@dataclass(frozen=True)
class LiveTemplate:
    """A template as the cache holds it now."""

    spec: FinNexusAnalysisTemplateSpec | InvalidSpec
    generation: int | None = None


def _pinned_for(status: FinNexusDeploymentStatus) -> AnalysisTemplatesStatus | None:
    held = status.analysis_templates
    if held is None or status.candidate_revision is None:
        return None
    if (held.revision, held.since) != (status.candidate_revision, status.candidate_since):
        return None
    return held


def in_force(status: FinNexusDeploymentStatus, live: Mapping[str, LiveTemplate]
             ) -> dict[str, FinNexusAnalysisTemplateSpec | InvalidSpec]:
    """The templates a pass merges: the ones fixed for the running candidate, else the live
    ones (a name the candidate did not start with -- a reference added mid-rollout -- live)."""
    out: dict[str, FinNexusAnalysisTemplateSpec | InvalidSpec] = {
        name: t.spec for name, t in live.items()}
    held = _pinned_for(status)
    for snap in held.templates if held is not None else ():
        out[snap.name] = FinNexusAnalysisTemplateSpec(metrics=list(snap.metrics))
    return out


def pin(spec: FinNexusDeploymentSpec | None, before: FinNexusDeploymentStatus,
        after: FinNexusDeploymentStatus, used: slo.Templates,
        live: Mapping[str, LiveTemplate]) -> FinNexusDeploymentStatus:
    """``after`` with the templates of its candidate fixed: kept while the same rollout runs,
    taken from ``used`` (what this pass merged) when the pass started a new one."""
    names = list(spec.analysis.templates) if spec is not None and spec.analysis else []
    if not names or after.candidate_revision is None:
        return after
    if (held := before.analysis_templates) is not None and (held.revision, held.since) == (
            after.candidate_revision, after.candidate_since):
        return after.model_copy(update={"analysis_templates": held})
    snaps = []
    for n in names:
        template = used.get(n)
        if isinstance(template, FinNexusAnalysisTemplateSpec):
            snaps.append(TemplateSnapshot(
                name=n, generation=live[n].generation if n in live else None,
                fingerprint=slo.fingerprint(template.metrics), metrics=list(template.metrics)))
    record = AnalysisTemplatesStatus(revision=after.candidate_revision,
                                     since=after.candidate_since, templates=snaps)
    return after.model_copy(update={"analysis_templates": record})
