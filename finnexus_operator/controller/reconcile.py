"""One reconcile pass: observe -> due probes -> plan() -> apply actions -> status, Events.

The pass itself is ``core.passes.run_pass``; this module gives it the real cluster
(:class:`_ClusterIO`) and records the result. It is the one place that maps errors: retryable
API errors (409, 5xx, unreachable) propagate to the work queue, which retries with backoff; an
object we do not own is reported (status message, ``Degraded`` condition, Warning Event) and
waited out; nothing else is swallowed silently.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from finnexus_operator import errors
from finnexus_operator.adapters.cache import ClusterCache
from finnexus_operator.adapters.health import HealthProber
from finnexus_operator.adapters.kube import KubeClient
from finnexus_operator.adapters.metrics import MetricProvider, measure
from finnexus_operator.adapters.objects import ObjectStore
from finnexus_operator.adapters.resource import ResourceClient
from finnexus_operator.controller import telemetry, templates
from finnexus_operator.controller.executor import Executor
from finnexus_operator.controller.notifier import Notifier
from finnexus_operator.controller.observe import observe
from finnexus_operator.core.observed import HealthRound, MetricSample, Observed
from finnexus_operator.core.passes import run_pass
from finnexus_operator.core.plan import Plan
from finnexus_operator.core.probes import HealthProbe, Measurement
from finnexus_operator.core.rollout import Event
from finnexus_operator.core.validation import InvalidSpec, parse_spec
from finnexus_operator.logs import get_logger
from finnexus_operator.models.phases import Phase, Reason
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from finnexus_operator.models.status import FinNexusDeploymentStatus

__all__ = ["PassResult", "Reconciler"]

log = get_logger("finnexus.reconcile")
OWNERSHIP_RETRY_SECONDS = 30.0
_BLOCKED = "; blocked: "  # what a foreign object of our name keeps from happening


@dataclass(frozen=True)
class PassResult:
    """What the work queue needs after a pass."""

    requeue_after: float | None  # None: the resource is gone
    resource_version: str | None = None  # of our own status write (its watch event is skipped)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _ClusterIO:
    """The real cluster, pods and metric backend, as one pass of one resource sees them."""

    def __init__(self, reconciler: Reconciler, body: Mapping[str, Any],
                 spec: FinNexusDeploymentSpec | None) -> None:
        meta = body["metadata"]
        self.reconciler, self.body, self.spec = reconciler, body, spec
        self.owner = {"name": meta["name"], "namespace": meta["namespace"],
                      "uid": meta.get("uid", "")}
        self.store = ObjectStore(reconciler.kube, self.owner["uid"], reconciler.cache)
        self.pods: Sequence[Mapping[str, Any]] = ()
        self.decided_at = time.time()  # when the last input of the decision arrived
        self.stored: FinNexusDeploymentStatus | None = None  # the status as last written
        self.recorded: FinNexusDeploymentStatus | None = None  # a decision written ahead
        self.decided: Plan | None = None  # what is being applied

    async def observe(self) -> Observed:
        snapshot = await observe(self.store, self.body, self.spec)
        self.pods, self.decided_at = snapshot.pods, time.time()
        return snapshot.observed

    async def probe_health(self, probe: HealthProbe) -> HealthRound | None:
        result = await self.reconciler.prober.run(probe, self.pods)
        self.decided_at = time.time()
        if result is not None:
            telemetry.health_round(self.owner["namespace"], self.owner["name"], result.ok)
        return result

    async def measure(self, measurement: Measurement) -> Sequence[MetricSample] | None:
        samples = await measure(self.reconciler.provider, measurement)
        self.decided_at = time.time()
        ns, name = self.owner["namespace"], self.owner["name"]
        for sample in samples:
            if sample.baseline:  # the stable side of a relative bound, asked once per rollout
                continue
            telemetry.MEASUREMENTS.labels(ns, name, sample.name,
                                          sample.result.outcome.value).inc()
        return samples

    async def record(self, decision: FinNexusDeploymentStatus) -> None:
        """Write the decision ahead of any action: if this write fails, nothing acts."""
        assert self.stored is not None
        try:
            await self.reconciler.write_status(self.body, self.stored, decision)
        except errors.ApiError:
            # Nothing acted on it; it is still the decision, kept in memory as the next
            # pass's starting point (the API answers again -> it is written, then acted on).
            self.reconciler.keep_unwritten(self.body, self.stored, decision)
            raise
        self.stored = self.recorded = decision
        meta = self.body["metadata"]
        log.info("decision recorded", object=f"{meta['namespace']}/{meta['name']}",
                 phase=str(decision.phase), rejected=decision.rejected_revision)

    async def apply(self, decided: Plan) -> None:
        self.decided = decided
        if not decided.actions:
            return
        executor = Executor(self.store, self.reconciler.resources, self.owner, self.spec)
        try:
            await executor.apply(decided.actions, self.decided_at)
        finally:
            telemetry.route_accepted(decided, self.decided_at, executor.routed_at)


class Reconciler:
    """Runs passes for any FinNexusDeployment; holds the shared clients."""

    def __init__(self, kube: KubeClient, *, prober: HealthProber | None = None,
                 provider: MetricProvider | None = None,
                 clock: Callable[[], datetime] = _utcnow,
                 cache: ClusterCache | None = None,
                 notifier: Notifier | None = None) -> None:
        self.kube = kube
        self.cache = cache  # None: every pass reads from the API (tools, unit tests)
        self.resources = ResourceClient(kube)
        self.prober = prober or HealthProber()
        self.provider = provider
        self.clock = clock
        self.notifier = notifier or Notifier()  # no receivers: sends nothing
        self._unwritten: dict[tuple[str, str], tuple[dict[str, Any], FinNexusDeploymentStatus]] = {}

    async def __call__(self, namespace: str, name: str) -> PassResult:
        started = time.perf_counter()
        try:
            return await self.reconcile(namespace, name)
        except Exception:
            telemetry.RECONCILE_ERRORS.labels(namespace, name).inc()
            raise
        finally:
            telemetry.RECONCILE_DURATION.observe(time.perf_counter() - started)

    async def _body(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The resource as last seen: from the cache (kopf's watch and our writes' answers;
        never decided on before every informer has listed), else a GET."""
        if self.cache is None:
            return await self.resources.get(namespace, name)
        await self.cache.wait_synced()
        return self.cache.resource(namespace, name)

    async def reconcile(self, namespace: str, name: str) -> PassResult:
        body = await self._body(namespace, name)
        if body is None:
            telemetry.forget(namespace, name)  # gone, even if its DELETED event was missed
            return PassResult(None)
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            return PassResult(None)
        stored = _parse_status(body, namespace, name)
        status = self._recover_unwritten(namespace, name, stored)
        # once per pass, for all of it; shared SLO templates merged (fixed per rollout)
        resolved = await templates.resolve(parse_spec(body.get("spec"), name=name), status,
                                           self.cache, self.kube)
        spec = resolved.spec
        io = _ClusterIO(self, body, None if isinstance(spec, InvalidSpec) else spec)
        io.stored = stored
        if status is not stored and status.phase is Phase.ROLLING_BACK and (
            stored.phase is not Phase.ROLLING_BACK
        ):
            # A rollback decision that failed to write is still only in memory: record it
            # before this pass acts on it (§2.1 rule 2), or act on nothing.
            await io.record(status)
        # A rollback decision is written before it is acted on (io.record, §2.1 rule 2);
        # everything else acts, then records: when the status says so, it is already true.
        # A status write that fails after the actions were applied is also kept in memory and
        # becomes the starting point of the next pass.
        try:
            result = await run_pass(spec, status, io, self.clock)
            result = dataclasses.replace(result, status=resolved.pin(status, result.status))
        except errors.OwnershipError as exc:
            if io.decided is None:
                return await self._report_ownership(body, io.recorded or status, str(exc))
            # Every action the foreign object did not block was applied (§2.1 rule 6):
            # record the decided status, saying what is blocked.
            return await self._record_blocked(body, io, io.decided, str(exc))
        written = io.stored
        try:
            rv = await self.write_status(body, written, result.status)
        except errors.ApiError:
            self.keep_unwritten(body, written, result.status)
            raise
        await self._post_events(body, result)
        telemetry.set_phase(namespace, name, result.status.phase)
        self.notifier.post(telemetry.observe_pass(namespace, name, status, result.status,
                                                  io.spec))
        if io.store.writes:
            log.info("applied", object=f"{namespace}/{name}", writes=io.store.writes,
                     phase=str(result.status.phase))
        return PassResult(result.requeue_after, rv)

    def keep_unwritten(self, body: Mapping[str, Any], stored: FinNexusDeploymentStatus,
                       decided: FinNexusDeploymentStatus) -> None:
        """A status that failed to write: the next pass starts from it if nobody wrote since."""
        meta = body["metadata"]
        self._unwritten[(meta["namespace"], meta["name"])] = (_dump(stored), decided)

    def _recover_unwritten(self, namespace: str, name: str, stored: FinNexusDeploymentStatus
                           ) -> FinNexusDeploymentStatus:
        """The status a failed write left behind, if nobody has written the status since."""
        pending = self._unwritten.pop((namespace, name), None)
        if pending is None or pending[0] != _dump(stored):
            return stored
        log.info("resuming from a status that failed to write", object=f"{namespace}/{name}")
        return pending[1]

    async def write_status(self, body: Mapping[str, Any], old: FinNexusDeploymentStatus,
                            new: FinNexusDeploymentStatus) -> str | None:
        before = _dump(old)
        after = _dump(new)
        if before == after and body.get("status"):
            return None
        meta = body["metadata"]
        return await self.resources.write_status(meta["namespace"], meta["name"], after)

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

    async def _record_blocked(self, body: Mapping[str, Any], io: _ClusterIO, decided: Plan,
                              conflict: str) -> PassResult:
        meta = body["metadata"]
        log.warning("ownership conflict", object=f"{meta['namespace']}/{meta['name']}",
                    error=conflict)
        base = decided.status.message.split(_BLOCKED)[0]
        status = decided.status.model_copy(update={"message": f"{base}{_BLOCKED}{conflict}"})
        assert io.stored is not None
        events = decided.events
        if _BLOCKED + conflict not in io.stored.message:
            events = (*events, Event("Warning", Reason.OWNERSHIP_CONFLICT.value, conflict))
        try:
            await self.write_status(body, io.stored, status)
        except errors.ApiError:
            self.keep_unwritten(body, io.stored, status)
            raise
        await self._post_events(body, Plan(status=status, events=events))
        telemetry.set_phase(meta["namespace"], meta["name"], status.phase)
        requeue = decided.requeue_after
        return PassResult(OWNERSHIP_RETRY_SECONDS if requeue is None
                          else min(requeue, OWNERSHIP_RETRY_SECONDS))

    async def _report_ownership(self, body: Mapping[str, Any], status: FinNexusDeploymentStatus,
                                message: str) -> PassResult:
        meta = body["metadata"]
        log.warning("ownership conflict", object=f"{meta['namespace']}/{meta['name']}",
                    error=message)
        if status.message != message:
            blocked = status.model_copy(update={"message": message})
            await self.write_status(body, status, blocked)
            await self._post_events(body, Plan(status=blocked, events=(
                Event("Warning", Reason.OWNERSHIP_CONFLICT.value, message),)))
        return PassResult(OWNERSHIP_RETRY_SECONDS)


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
