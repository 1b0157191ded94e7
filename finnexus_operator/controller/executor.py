"""Apply a plan's ensure-actions to the cluster, in order: one adapter call per action.

The only place that maps the core's action types to adapter calls. Every call is an ensure
(no-op when already true). The first accepted traffic write of a pass is timed against the
moment its deciding probe result arrived (``finnexus_decision_to_route_seconds``).

An object of our name that we do not own blocks only itself (DESIGN §2.1 rule 6): when one
action -- or one router of a RouteTraffic, or one Service of EnsureServices -- meets such an
object, every other action is still applied (the Service route of a rollback moves even when
a foreign Ingress has our name), and one :class:`~finnexus_operator.errors.OwnershipError`
naming every blocked object is raised at the end. Any other error stops the pass at once.

Without a valid spec (``spec`` None: the resource is Invalid) the actions that need none
work as usual, and RouteTraffic/RoutePreview re-point the existing owned objects as they
stand (only their colour changes); EnsureServices, which builds Services from the spec, is
a programming error then.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence

from finnexus_operator import constants, errors
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
        self._blocked: list[errors.OwnershipError] = []
        self.routed_at: float | None = None  # when the API accepted this pass's first route

    async def apply(self, todo: Sequence[actions.Action], decided_at: float) -> None:
        """Apply every action; then raise one OwnershipError for all objects that blocked."""
        self._blocked = []
        for action in todo:
            await self._apply(action, decided_at)
        self._raise_blocked()

    async def apply_one(self, action: actions.Action, decided_at: float) -> None:
        self._blocked = []
        await self._apply(action, decided_at)
        self._raise_blocked()

    def _raise_blocked(self) -> None:
        blocked, self._blocked = self._blocked, []
        if blocked:
            raise errors.OwnershipError.joined(blocked)

    async def _guarded(self, write: Awaitable[bool]) -> bool:
        """Run one write; an object we do not own is noted (it blocks only itself)."""
        try:
            return await write
        except errors.OwnershipError as exc:
            log.warning("blocked by an object we do not own",
                        object=f"{self.owner['namespace']}/{self.owner['name']}", error=str(exc))
            self._blocked.append(exc)
            return False

    def _valid_spec(self, action: actions.Action) -> FinNexusDeploymentSpec:
        if self.spec is None:
            raise ValueError(f"{action!r} needs a valid spec")
        return self.spec

    async def _apply(self, action: actions.Action, decided_at: float) -> None:
        store, owner = self.store, self.owner
        ns, name = owner["namespace"], owner["name"]
        if isinstance(action, actions.EnsureServices):
            spec = self._valid_spec(action)
            for color in constants.COLORS:
                await self._guarded(store.ensure(manifests.color_service(owner, color, spec)))
        elif isinstance(action, actions.EnsureDeployment):
            await self._guarded(store.ensure(manifests.deployment(
                owner, action.color, action.revision, action.template, action.replicas)))
        elif isinstance(action, actions.ScaleDeployment):
            await self._guarded(store.scale(ns, manifests.colored_name(name, action.color),
                                            action.replicas))
        elif isinstance(action, actions.RouteTraffic):
            await self._route(action.color, decided_at)
        elif isinstance(action, actions.RoutePreview):
            preview = manifests.preview_service_name(name)
            await self._guarded(
                store.repoint_service(ns, preview, name, action.color) if self.spec is None
                else store.ensure(manifests.service(owner, preview, action.color, self.spec)))
        elif isinstance(action, actions.RemoveIngress):
            await self._guarded(store.remove("Ingress", ns, name))
        elif isinstance(action, actions.ClearRequest):
            await self.resources.clear_request(ns, name, action.value)
        elif isinstance(action, actions.RecordRevision):
            await self._guarded(store.record_revision(owner, action.revision, action.template))
        elif isinstance(action, actions.PruneRevisions):
            await store.prune_revisions(ns, name, action.keep)
        elif isinstance(action, actions.CreateJob):
            await self._guarded(store.create_once(manifests.hook_job(
                owner, action.name, action.revision, action.hook, action.spec)))
        elif isinstance(action, actions.DeleteJob):
            await self._guarded(store.remove("Job", ns, action.name, propagation="Background"))
        else:  # pragma: no cover - mypy proves the ladder complete
            raise AssertionError(f"no executor for {action!r}")

    async def _route(self, color: str, decided_at: float) -> None:
        routed_at: float | None = None  # the first write: the Ingress when there is one
        for router in make_routers(self.store, self.owner, self.spec):
            if await self._guarded(router.ensure(color)) and routed_at is None:
                routed_at = time.time()
        if routed_at is not None:
            self.routed_at = self.routed_at or routed_at
            telemetry.DECISION_TO_ROUTE.observe(routed_at - decided_at)
            log.info("traffic routed", object=f"{self.owner['namespace']}/{self.owner['name']}",
                     color=color, seconds_since_decision=round(routed_at - decided_at, 4))
