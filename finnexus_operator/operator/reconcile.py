"""One reconcile pass: observe -> due probes -> plan() -> apply actions -> status, Events.

The one place that maps errors: retryable API errors (409, 5xx, unreachable) propagate to the
controller, which retries with backoff; an object we do not own is reported (status message,
``Degraded`` condition, Warning Event) and waited out; nothing else is swallowed silently.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from finnexus_operator import constants as c
from finnexus_operator import errors
from finnexus_operator.adapters.health import HealthProber
from finnexus_operator.adapters.kube import KubeClient
from finnexus_operator.adapters.metrics import MetricProvider
from finnexus_operator.adapters.objects import ObjectStore
from finnexus_operator.adapters.resource import ResourceClient
from finnexus_operator.adapters.routers import make_routers
from finnexus_operator.core import actions as a
from finnexus_operator.core import manifests as m
from finnexus_operator.core.phases import Phase
from finnexus_operator.core.plan import Event, Plan, due, plan
from finnexus_operator.core.validation import validate_spec
from finnexus_operator.logs import get_logger
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from finnexus_operator.models.status import FinNexusDeploymentStatus
from finnexus_operator.operator import opmetrics
from finnexus_operator.operator.observe import measure, observe, query_values

__all__ = ["Outcome", "Reconciler", "RouteTiming"]

log = get_logger("finnexus.reconcile")
OWNERSHIP_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class RouteTiming:
    """One traffic switch: when the deciding result came back and when the route was accepted."""

    namespace: str
    name: str
    color: str
    decided_at: float  # time.time() when the probe/measurement results were in
    routed_at: float  # time.time() when the last router write was accepted by the API


@dataclass(frozen=True)
class Outcome:
    """What the controller needs after a pass."""

    requeue_after: float | None  # None: the resource is gone
    resource_version: str | None = None  # of our own status write (its watch event is skipped)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    """Runs passes for any FinNexusDeployment; holds the shared clients."""

    def __init__(self, kube: KubeClient, *, prober: HealthProber | None = None,
                 provider: MetricProvider | None = None,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.kube = kube
        self.resources = ResourceClient(kube)
        self.prober = prober or HealthProber()
        self.provider = provider
        self.clock = clock
        self.route_timings: deque[RouteTiming] = deque(maxlen=1000)  # read by bench/
        self._unwritten: dict[tuple[str, str], tuple[dict[str, Any], FinNexusDeploymentStatus]] = {}

    async def __call__(self, namespace: str, name: str) -> Outcome:
        started = time.perf_counter()
        try:
            return await self.reconcile(namespace, name)
        except Exception:
            opmetrics.RECONCILE_ERRORS.labels(namespace, name).inc()
            raise
        finally:
            opmetrics.RECONCILE_DURATION.observe(time.perf_counter() - started)

    async def reconcile(self, namespace: str, name: str) -> Outcome:
        body = await self.resources.get(namespace, name)
        if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
            return Outcome(None)
        uid = body["metadata"].get("uid", "")
        stored = _parse_status(body, namespace, name)
        status = self._recover_unwritten(namespace, name, stored)
        raw_spec = body.get("spec")
        parsed = validate_spec(raw_spec)
        spec = parsed if isinstance(parsed, FinNexusDeploymentSpec) else None
        store = ObjectStore(self.kube, uid)
        snapshot = await observe(store, body, spec)
        observed = snapshot.observed
        wants = due(raw_spec, status, observed, self.clock())
        if spec is not None and wants.health and status.candidate_color:
            hc = spec.health_check
            observed = dataclasses.replace(observed, health=await self.prober.probe_round(
                snapshot.pods, name=name, color=status.candidate_color,
                revision=status.candidate_revision or "", port=spec.health_port, path=hc.path,
                timeout=float(hc.timeout_seconds), expected=spec.replicas))
        if spec is not None and wants.metrics:
            samples = await measure(self.provider, spec, query_values(namespace, name, status))
            observed = dataclasses.replace(observed, metrics=samples)
            for sample in samples:
                opmetrics.MEASUREMENTS.labels(namespace, name, sample.name,
                                              sample.result.outcome.value).inc()
        decided_at = time.time()
        result = plan(raw_spec, status, observed, self.clock())
        owner = {"name": name, "namespace": namespace, "uid": uid}
        # Act, then record: when the status says so, it is already true. A status write that
        # fails after the actions were applied is kept in memory and becomes the starting
        # point of the next pass (a decided rollback is never undone by a lost write).
        try:
            await self._apply(result, store, owner, spec, decided_at)
        except errors.OwnershipError as exc:
            return await self._report_ownership(body, status, str(exc))
        try:
            rv = await self._write_status(body, stored, result.status)
        except errors.ApiError:
            self._unwritten[(namespace, name)] = (_dump(stored), result.status)
            raise
        await self._post_events(body, result)
        opmetrics.set_phase(namespace, name, result.status.phase)
        self._count_results(namespace, name, status, result.status)
        if store.writes:
            log.info("applied", object=f"{namespace}/{name}", writes=store.writes,
                     phase=str(result.status.phase))
        return Outcome(result.requeue_after, rv)

    async def _apply(self, result: Plan, store: ObjectStore, owner: Mapping[str, Any],
                     spec: FinNexusDeploymentSpec | None, decided_at: float) -> None:
        if not result.actions:
            return
        assert spec is not None  # an invalid spec yields no actions
        ns, name = owner["namespace"], owner["name"]
        for action in result.actions:
            if isinstance(action, a.EnsureServices):
                for color in c.COLORS:
                    await store.ensure(m.color_service(owner, color, spec))
            elif isinstance(action, a.EnsureDeployment):
                await store.ensure(m.deployment(owner, action.color, action.revision,
                                                action.template, action.replicas))
            elif isinstance(action, a.ScaleDeployment):
                await store.scale(ns, m.colored_name(name, action.color), action.replicas)
            elif isinstance(action, a.RouteTraffic):
                routed_at: float | None = None  # the first write: the Ingress when there is one
                for router in make_routers(store, owner, spec):
                    if await router.ensure(action.color) and routed_at is None:
                        routed_at = time.time()
                if routed_at is not None:
                    self.route_timings.append(
                        RouteTiming(ns, name, action.color, decided_at, routed_at))
                    opmetrics.DECISION_TO_ROUTE.observe(routed_at - decided_at)
                    log.info("traffic routed", object=f"{ns}/{name}", color=action.color,
                             seconds_since_decision=round(routed_at - decided_at, 4))
            elif isinstance(action, a.RoutePreview):
                await store.ensure(m.service(owner, m.preview_service_name(name),
                                             action.color, spec))
            elif isinstance(action, a.RemoveIngress):
                await store.remove("Ingress", ns, name)
            elif isinstance(action, a.ClearRequest):
                await self.resources.clear_request(ns, name, action.value)

    def _recover_unwritten(self, namespace: str, name: str, stored: FinNexusDeploymentStatus
                           ) -> FinNexusDeploymentStatus:
        """The status a failed write left behind, if nobody has written the status since."""
        pending = self._unwritten.pop((namespace, name), None)
        if pending is None or pending[0] != _dump(stored):
            return stored
        log.info("resuming from a status that failed to write", object=f"{namespace}/{name}")
        return pending[1]

    async def _write_status(self, body: Mapping[str, Any], old: FinNexusDeploymentStatus,
                            new: FinNexusDeploymentStatus) -> str | None:
        before = _dump(old)
        after = _dump(new)
        if before == after and body.get("status"):
            return None
        meta = body["metadata"]
        written = await self.kube.patch(
            self.resources.path(meta["namespace"], meta["name"], "status"), {"status": after})
        rv = (written.get("metadata") or {}).get("resourceVersion")
        return str(rv) if rv is not None else None

    async def _post_events(self, body: Mapping[str, Any], result: Plan) -> None:
        meta = body["metadata"]
        for event in result.events:
            log.info("event", object=f"{meta['namespace']}/{meta['name']}", type=event.type,
                     reason=event.reason, message=event.message)
            try:
                await self.resources.post_event(body, event.type, event.reason, event.message)
            except errors.ApiError as exc:  # an Event is worth a log line, not a retry
                log.warning("event not recorded", object=f"{meta['namespace']}/{meta['name']}",
                            error=str(exc))

    async def _report_ownership(self, body: Mapping[str, Any], status: FinNexusDeploymentStatus,
                                message: str) -> Outcome:
        meta = body["metadata"]
        log.warning("ownership conflict", object=f"{meta['namespace']}/{meta['name']}",
                    error=message)
        if status.message != message:
            blocked = status.model_copy(update={"message": message})
            await self._write_status(body, status, blocked)
            await self._post_events(body, Plan(status=blocked, events=(
                Event("Warning", "OwnershipConflict", message),)))
        return Outcome(OWNERSHIP_RETRY_SECONDS)

    @staticmethod
    def _count_results(namespace: str, name: str, old: FinNexusDeploymentStatus,
                       new: FinNexusDeploymentStatus) -> None:
        known = {(h.revision, h.result, h.finished_at) for h in old.history}
        for entry in new.history:
            if (entry.revision, entry.result, entry.finished_at) not in known:
                opmetrics.ROLLOUTS.labels(namespace, name, entry.result).inc()


def _dump(status: FinNexusDeploymentStatus) -> dict[str, Any]:
    return status.model_dump(by_alias=True, mode="json")


def _parse_status(body: Mapping[str, Any], namespace: str, name: str
                  ) -> FinNexusDeploymentStatus:
    try:
        return FinNexusDeploymentStatus.model_validate(body.get("status") or {})
    except ValidationError as exc:
        log.warning("status unreadable; starting from Pending", object=f"{namespace}/{name}",
                    error=str(exc).splitlines()[0])
        return FinNexusDeploymentStatus(phase=Phase.PENDING)
