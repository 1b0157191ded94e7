"""Traffic routers: where production traffic goes, behind one small Protocol.

A router *observes* which colour it sends traffic to and *ensures* a colour; ensure is a no-op
when the colour already holds. ``service`` (the active Service's selector) and ``ingress`` (the
Ingress backend) exist today; a Gateway API HTTPRoute router would be one more entry in
:data:`ROUTERS`. An unknown router name is an error, never a silent fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from finnexus_operator import constants as c
from finnexus_operator.adapters.objects import ObjectStore
from finnexus_operator.core import manifests as m
from finnexus_operator.models.spec import FinNexusDeploymentSpec

__all__ = [
    "ROUTERS",
    "IngressRouter",
    "ServiceRouter",
    "TrafficRouter",
    "ingress_color",
    "make_routers",
    "service_color",
]


def service_color(current: Mapping[str, Any] | None) -> str | None:
    """The colour a Service selects (None when absent)."""
    if current is None:
        return None
    return ((current.get("spec") or {}).get("selector") or {}).get(c.LABEL_COLOR)


def ingress_color(name: str, current: Mapping[str, Any] | None) -> str | None:
    """The colour whose Service is the backend of Ingress ``name`` (None when absent)."""
    for rule in ((current or {}).get("spec") or {}).get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            backend = ((path.get("backend") or {}).get("service") or {}).get("name")
            return m.color_of_service(name, backend)
    return None


class TrafficRouter(Protocol):
    """Sends a FinNexusDeployment's production traffic to one colour."""

    kind: str

    def observe(self, current: Mapping[str, Any] | None) -> str | None:
        """The colour the routing object currently sends traffic to (None: absent/foreign)."""

    async def ensure(self, color: str) -> bool:
        """Route to ``color``; True when something was written."""


class ServiceRouter:
    """Active Service ``<name>``: its selector names the active colour."""

    kind = "service"

    def __init__(self, store: ObjectStore, owner: Mapping[str, Any],
                 spec: FinNexusDeploymentSpec) -> None:
        self._store, self._owner, self._spec = store, owner, spec

    def observe(self, current: Mapping[str, Any] | None) -> str | None:
        return service_color(current)

    async def ensure(self, color: str) -> bool:
        name = m.active_service_name(self._owner["name"])
        return await self._store.ensure(m.service(self._owner, name, color, self._spec))


class IngressRouter:
    """Ingress ``<name>``: its backend is Service ``<name>-<activeColor>``."""

    kind = "ingress"

    def __init__(self, store: ObjectStore, owner: Mapping[str, Any],
                 spec: FinNexusDeploymentSpec) -> None:
        self._store, self._owner, self._spec = store, owner, spec

    def observe(self, current: Mapping[str, Any] | None) -> str | None:
        return ingress_color(self._owner["name"], current)

    async def ensure(self, color: str) -> bool:
        return await self._store.ensure(m.ingress(self._owner, color, self._spec))


ROUTERS: dict[str, type[ServiceRouter] | type[IngressRouter]] = {
    "ingress": IngressRouter,
    "service": ServiceRouter,
}


def make_routers(store: ObjectStore, owner: Mapping[str, Any], spec: FinNexusDeploymentSpec
                 ) -> list[TrafficRouter]:
    """The routers a spec needs, Ingress first (external traffic moves first)."""
    kinds = (["ingress"] if spec.ingress is not None else []) + ["service"]
    unknown = [k for k in kinds if k not in ROUTERS]
    if unknown:
        raise ValueError(f"unknown traffic router {unknown[0]!r}; known: {sorted(ROUTERS)}")
    return [ROUTERS[k](store, owner, spec) for k in kinds]
