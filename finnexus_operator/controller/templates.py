"""The shared SLO templates of one pass: read them, merge them, fix them for the rollout.

:func:`resolve` runs right after ``parse_spec``: the templates the spec names are read from
the cache's cluster-scoped informer (or listed, without a cache), the ones fixed for the
running candidate replace the live ones (``core.slo_pin.in_force``), and ``core.slo.merge``
turns the spec into one whose ``analysis.metrics`` is the merged set (or ``Invalid`` naming
the field and the template). :meth:`Resolved.pin` then records, in the status the pass
decided, the templates a newly started candidate is gated on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from finnexus_operator import constants
from finnexus_operator.adapters.cache import ClusterCache
from finnexus_operator.adapters.kube import KubeClient, api_path
from finnexus_operator.core import slo, slo_pin
from finnexus_operator.core.validation import InvalidSpec, ParsedSpec
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from finnexus_operator.models.status import FinNexusDeploymentStatus

__all__ = ["Resolved", "resolve"]


@dataclass(frozen=True)
class Resolved:
    """The spec a pass acts on, and what it was merged from."""

    spec: ParsedSpec
    declared: FinNexusDeploymentSpec | None = None  # as written, templates unresolved
    used: Mapping[str, Any] = field(default_factory=dict)
    live: Mapping[str, slo_pin.LiveTemplate] = field(default_factory=dict)

    def pin(self, before: FinNexusDeploymentStatus, after: FinNexusDeploymentStatus
            ) -> FinNexusDeploymentStatus:
        if self.declared is None:
            return after
        return slo_pin.pin(self.declared, before, after, self.used, self.live)


def _live(body: Mapping[str, Any]) -> slo_pin.LiveTemplate:
    generation = (body.get("metadata") or {}).get("generation")
    return slo_pin.LiveTemplate(slo.parse_template(body.get("spec")),
                                generation if isinstance(generation, int) else None)


async def _read(names: list[str], cache: ClusterCache | None, kube: KubeClient
                ) -> dict[str, slo_pin.LiveTemplate]:
    if cache is not None:
        bodies = {n: b for n in names if (b := cache.template(n)) is not None}
    else:  # tools and unit tests: one list, no informer
        items, _ = await kube.list_page(
            api_path(constants.API_VERSION, constants.TEMPLATE_PLURAL, None))
        bodies = {str((b.get("metadata") or {}).get("name")): b for b in items}
    return {n: _live(b) for n, b in bodies.items() if n in names}


async def resolve(spec: ParsedSpec, status: FinNexusDeploymentStatus,
                  cache: ClusterCache | None, kube: KubeClient) -> Resolved:
    """``spec`` with its templates merged (unchanged when it names none)."""
    if isinstance(spec, InvalidSpec) or spec.analysis is None or not spec.analysis.templates:
        return Resolved(spec)
    live = await _read(list(spec.analysis.templates), cache, kube)
    used = slo_pin.in_force(status, live)
    return Resolved(slo.merge(spec, used), spec, used, live)
