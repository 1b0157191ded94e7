"""Apply a plan's ensure-actions to the cluster, in order: one adapter call per action.

The only place that maps the core's action types to adapter calls. Every call is an ensure
(no-op when already true). The first accepted traffic write of a pass is timed against the
moment its deciding probe result arrived (``finnexus_decision_to_route_seconds``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from finnexus_operator import constants
from finnexus_operator.adapters.objects import ObjectStore
from finnexus_operator.adapters.resource import ResourceClient
from finnexus_operator.adapters.routers import make_routers
from finnexus_operator.controller import telemetry
from finnexus_operator.core import actions, manifests
from finnexus_operator.logs import get_logger
from finnexus_operator.models.spec import FinNexusDeploymentSpec

__all__ = ["Executor"]

log = get_logger("finnexus.executor")


class Executor:
    """Applies the actions of one pass for one FinNexusDeployment."""

    def __init__(self, store: ObjectStore, resources: ResourceClient,
                 owner: manifests.Owner, spec: FinNexusDeploymentSpec | None) -> None:
        self.store, self.resources, self.owner, self.spec = store, resources, owner, spec

    async def apply(self, todo: Sequence[actions.Action], decided_at: float) -> None:
        for action in todo:
            await self.apply_one(action, decided_at)

    async def apply_one(self, action: actions.Action, decided_at: float) -> None:
        store, owner, spec = self.store, self.owner, self.spec
        ns, name = owner["namespace"], owner["name"]
        if isinstance(action, actions.ScaleDeployment):
            await store.scale(ns, manifests.colored_name(name, action.color), action.replicas)
            return
        if isinstance(action, actions.ClearRequest):
            await self.resources.clear_request(ns, name, action.value)
            return
        assert spec is not None, f"{action!r} needs a valid spec"
        if isinstance(action, actions.EnsureServices):
            for color in constants.COLORS:
                await store.ensure(manifests.color_service(owner, color, spec))
        elif isinstance(action, actions.EnsureDeployment):
            await store.ensure(manifests.deployment(owner, action.color, action.revision,
                                                    action.template, action.replicas))
        elif isinstance(action, actions.ScaleDeployment):
            await store.scale(ns, manifests.colored_name(name, action.color), action.replicas)
        elif isinstance(action, actions.RouteTraffic):
            await self._route(action.color, decided_at)
        elif isinstance(action, actions.RoutePreview):
            await store.ensure(manifests.service(
                owner, manifests.preview_service_name(name), action.color, spec))
        elif isinstance(action, actions.RemoveIngress):
            await store.remove("Ingress", ns, name)
        elif isinstance(action, actions.ClearRequest):
            await self.resources.clear_request(ns, name, action.value)
        else:  # pragma: no cover - mypy proves the ladder complete
            raise AssertionError(f"no executor for {action!r}")

    async def _route(self, color: str, decided_at: float) -> None:
        routed_at: float | None = None  # the first write: the Ingress when there is one
        assert self.spec is not None
        for router in make_routers(self.store, self.owner, self.spec):
            if await router.ensure(color) and routed_at is None:
                routed_at = time.time()
        if routed_at is not None:
            telemetry.DECISION_TO_ROUTE.observe(routed_at - decided_at)
            log.info("traffic routed", object=f"{self.owner['namespace']}/{self.owner['name']}",
                     color=color, seconds_since_decision=round(routed_at - decided_at, 4))
