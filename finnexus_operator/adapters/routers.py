"""Traffic routers: where production traffic goes, behind one small Protocol.

A router names the object it routes with (:meth:`TrafficRouter.target`), *observes* which
colour that object sends traffic to, and *ensures* a colour; ensure is a no-op when the colour
already holds. ``ingress`` (the Ingress backend) and ``service`` (the active Service's
selector) exist today. :func:`router_kinds` says which a spec needs, :data:`ROUTERS` maps each
kind to its factory; a Gateway API HTTPRoute router would be one more class, one more row in
``_NEEDED`` and one more entry in :data:`ROUTERS`. An unknown kind is a
:class:`~finnexus_operator.errors.ConfigError` (:func:`check_routers` runs at start), never a
silent fallback.

Without a valid spec (``spec`` None: the resource is ``Invalid``) every router kind is made,
and ``ensure`` re-points the object *as it stands* -- only the colour it routes to changes,
with a minimal patch, and an absent object stays absent (DESIGN §2.1 rule 5: an invalid edit
after the switch returns traffic to the stable colour using the objects as they stand).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from finnexus_operator import constants, errors
from finnexus_operator.adapters.objects import ObjectStore
from finnexus_operator.core import manifests
from finnexus_operator.models.spec import FinNexusDeploymentSpec

__all__ = [
    "ROUTERS",
    "IngressRouter",
    "RouterFactory",
    "ServiceRouter",
    "TrafficRouter",
    "check_routers",
    "make_routers",
    "routed_colors",
    "router_kinds",
]


def _service_color(current: Mapping[str, Any] | None) -> str | None:
    """The colour a Service selects (None when absent): the active and the preview Service."""
    if current is None:
        return None
    return ((current.get("spec") or {}).get("selector") or {}).get(constants.LABEL_COLOR)


def _ingress_color(name: str, current: Mapping[str, Any] | None) -> str | None:
    """The colour whose Service is the backend of Ingress ``name`` (None when absent)."""
    for rule in ((current or {}).get("spec") or {}).get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            backend = ((path.get("backend") or {}).get("service") or {}).get("name")
            return manifests.color_of_service(name, backend)
    return None


class TrafficRouter(Protocol):
    """Sends a FinNexusDeployment's production traffic to one colour."""

    kind: str

    def target(self) -> tuple[str, str]:
        """The object this router writes and observes: (kind, name) in the owner's namespace."""
        ...

    def observe(self, current: Mapping[str, Any] | None) -> str | None:
        """The colour ``current`` (the target, if it is ours) sends traffic to; None: absent."""
        ...

    async def ensure(self, color: str) -> bool:
        """Route to ``color``; True when something was written."""
        ...


RouterFactory = Callable[[ObjectStore, Mapping[str, Any], FinNexusDeploymentSpec | None],
                         TrafficRouter]
"""Builds a router for one pass from the pass's store, the owner reference and the spec
(None when the spec is invalid: the router then re-points the object as it stands)."""


class ServiceRouter:
    """Active Service ``<name>``: its selector names the active colour."""

    kind = "service"

    def __init__(self, store: ObjectStore, owner: Mapping[str, Any],
                 spec: FinNexusDeploymentSpec | None) -> None:
        self._store, self._owner, self._spec = store, owner, spec

    def target(self) -> tuple[str, str]:
        return "Service", manifests.active_service_name(self._owner["name"])

    def observe(self, current: Mapping[str, Any] | None) -> str | None:
        return _service_color(current)

    async def ensure(self, color: str) -> bool:
        name = manifests.active_service_name(self._owner["name"])
        if self._spec is None:
            return await self._store.repoint_service(self._owner["namespace"], name,
                                                     self._owner["name"], color)
        return await self._store.ensure(manifests.service(self._owner, name, color, self._spec))


class IngressRouter:
    """Ingress ``<name>``: its backend is Service ``<name>-<activeColor>``."""

    kind = "ingress"

    def __init__(self, store: ObjectStore, owner: Mapping[str, Any],
                 spec: FinNexusDeploymentSpec | None) -> None:
        self._store, self._owner, self._spec = store, owner, spec

    def target(self) -> tuple[str, str]:
        return "Ingress", self._owner["name"]

    def observe(self, current: Mapping[str, Any] | None) -> str | None:
        return _ingress_color(self._owner["name"], current)

    async def ensure(self, color: str) -> bool:
        if self._spec is None:
            return await self._store.repoint_ingress(self._owner["namespace"],
                                                     self._owner["name"], color)
        return await self._store.ensure(manifests.ingress(self._owner, color, self._spec))


ROUTERS: dict[str, RouterFactory] = {
    "ingress": IngressRouter,
    "service": ServiceRouter,
}

# Every router kind a spec can need, in switching order (external traffic moves first), with
# when it is needed. router_kinds() and check_routers() both read this one table.
_NEEDED: tuple[tuple[str, Callable[[FinNexusDeploymentSpec], bool]], ...] = (
    ("ingress", lambda spec: spec.ingress is not None),
    ("service", lambda spec: True),
)


def router_kinds(spec: FinNexusDeploymentSpec | None) -> list[str]:
    """The router kinds a spec needs, in switching order: Ingress first when it has one.

    Without a valid spec: every kind (each re-points its object if it exists)."""
    return [kind for kind, needed in _NEEDED if spec is None or needed(spec)]


def _unknown(kinds: Sequence[str], registry: Mapping[str, RouterFactory]) -> errors.ConfigError:
    missing = ", ".join(repr(k) for k in kinds)
    known = ", ".join(sorted(registry)) or "none"
    return errors.ConfigError(f"unknown traffic router {missing}; known: {known}")


def check_routers(registry: Mapping[str, RouterFactory] = ROUTERS) -> None:
    """Every kind :func:`router_kinds` can return is registered (run once at start)."""
    missing = [kind for kind, _ in _NEEDED if kind not in registry]
    if missing:
        raise _unknown(missing, registry)


def make_routers(store: ObjectStore, owner: Mapping[str, Any],
                 spec: FinNexusDeploymentSpec | None,
                 registry: Mapping[str, RouterFactory] = ROUTERS) -> list[TrafficRouter]:
    """The routers a spec needs, in :func:`router_kinds` order."""
    kinds = router_kinds(spec)
    missing = [kind for kind in kinds if kind not in registry]
    if missing:
        raise _unknown(missing, registry)
    return [registry[kind](store, owner, spec) for kind in kinds]


def routed_colors(routers: Sequence[TrafficRouter],
                  objects: Mapping[tuple[str, str], Mapping[str, Any] | None]
                  ) -> dict[str, str | None]:
    """Each router's observed colour by kind, from ``objects`` keyed by router target.

    ``objects`` holds what the caller read (and found owned) for each target; a target that is
    missing from it is observed as absent.
    """
    return {router.kind: router.observe(objects.get(router.target())) for router in routers}
