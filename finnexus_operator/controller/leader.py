"""Leader election on a ``coordination.k8s.io/v1`` Lease: several replicas, one acting.

client-go's algorithm (``tools/leaderelection``), with its safety made explicit:

* **Acquire** when the Lease does not exist (create; a 409 means someone else was first), is
  released (no holder), or has **expired by our own clock**: its holder has not changed the
  record for ``duration`` seconds *since we first saw it as it is now*. ``renewTime`` is a
  remote clock's word and never decides anything.
* **Renew** every ``retry_period``: a conditional replace (the read ``resourceVersion`` as a
  precondition; a 409 means someone else won).
* **Stop acting before the Lease can expire.** The leader counts from the *start* of its last
  successful renewal (the earliest instant the others can have seen it). When it has not
  renewed for ``renew_deadline`` seconds it stops: :meth:`Leadership.on_stopped_leading` stops
  the work and waits for passes in flight to finish or be cancelled, bounded by what is left of
  the lease (``duration - renew_deadline``). Only then does it try to acquire again.
* **Release on a clean shutdown** (holder cleared, duration 1 s), so a standby takes over at
  its next attempt instead of after a whole lease.

A standby aims its next attempt at the instant the lease would expire (no later than
``retry_period``), so a takeover after a crash costs ``duration`` seconds from the last renewal
the standby saw, not that plus a whole retry period.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import random
import re
import socket
import string
import time
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from finnexus_operator import errors
from finnexus_operator.adapters.lease import LeaseRecord
from finnexus_operator.logs import get_logger

__all__ = [
    "DEFAULT_LEASE_NAME",
    "SYSTEM_CLOCK",
    "Clock",
    "LeaderElector",
    "Leadership",
    "LeaseStore",
    "LeaseTiming",
    "default_identity",
    "lease_name",
]

log = get_logger("finnexus.leader")
T = TypeVar("T")
DEFAULT_LEASE_NAME = "finnexus-operator"


class LeaseStore(Protocol):
    """One Lease object (``adapters.lease.KubeLeaseStore``; an in-memory one in the tests)."""

    async def get(self) -> LeaseRecord | None: ...
    async def create(self, record: LeaseRecord) -> LeaseRecord:
        """Raises ``errors.Conflict`` when it already exists."""
        ...
    async def replace(self, record: LeaseRecord) -> LeaseRecord:
        """Raises ``errors.Conflict`` unless still at ``record.resource_version``."""
        ...


class Leadership(Protocol):
    """What leadership switches on and off (``controller.runtime.Runtime``)."""

    async def on_started_leading(self) -> None: ...
    async def on_stopped_leading(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def wall(self) -> datetime: ...
    async def sleep(self, seconds: float) -> None: ...


class _SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = _SystemClock()


@dataclasses.dataclass(frozen=True)
class LeaseTiming:
    """Seconds: lease 15, renew deadline 10, retry 2 (client-go's defaults)."""

    duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.duration:
            raise ValueError("leader election needs 0 < retry period < renew deadline < lease "
                             f"duration (got {self.retry_period:g} / {self.renew_deadline:g} / "
                             f"{self.duration:g} s)")


def default_identity() -> str:
    """``$POD_NAME`` (or the host name) and a random suffix: unique even across restarts."""
    base = os.environ.get("POD_NAME") or socket.gethostname() or "finnexus-operator"
    return f"{base}-{''.join(random.choices(string.ascii_lowercase + string.digits, k=5))}"


def lease_name(selector: str | None, namespaces: Sequence[str] = ()) -> str:
    """The Lease of a shard: ``finnexus-operator`` for the whole cluster, else
    ``finnexus-operator-<readable part>-<hash>`` of the selector and the namespaces."""
    shard = ";".join(filter(None, [",".join(sorted(namespaces)), (selector or "").strip()]))
    if not shard:
        return DEFAULT_LEASE_NAME
    slug = re.sub(r"[^a-z0-9]+", "-", shard.lower()).strip("-")[:40].strip("-")
    digest = hashlib.sha256(shard.encode()).hexdigest()[:8]
    return f"{DEFAULT_LEASE_NAME}-{slug}-{digest}" if slug else f"{DEFAULT_LEASE_NAME}-{digest}"


def _microtime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Campaigns for one Lease and switches a :class:`Leadership` on and off (:meth:`run`)."""

    def __init__(self, store: LeaseStore, identity: str, timing: LeaseTiming = LeaseTiming(),
                 *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store, self.identity, self.timing, self.clock = store, identity, timing, clock
        self.leading = False
        self.observed: LeaseRecord | None = None  # the record as we last saw it
        self.observed_at = 0.0  # our clock when it last changed (or we first saw it)
        self.renewed_at = 0.0  # our clock at the start of our last successful acquire/renew

    # -- one attempt (client-go's tryAcquireOrRenew) --

    async def try_acquire_or_renew(self) -> bool:
        """One attempt to become or stay the holder; False when someone else holds it."""
        now, stamp = self.clock.monotonic(), _microtime(self.clock.wall())
        record = await self.store.get()
        if record is None:
            mine = LeaseRecord(self.identity, self.timing.duration, stamp, stamp, 0)
            try:
                return self._won(await self.store.create(mine), now)
            except errors.Conflict:
                return False
        if record != self.observed:
            self.observed, self.observed_at = record, now
        if self.held_by_another(now):
            return False
        kept = record.holder == self.identity
        mine = dataclasses.replace(
            record, holder=self.identity, duration=self.timing.duration, renew_time=stamp,
            acquire_time=record.acquire_time if kept else stamp,
            transitions=record.transitions if kept else record.transitions + 1)
        try:
            return self._won(await self.store.replace(mine), now)
        except errors.Conflict:
            return False

    def _won(self, stored: LeaseRecord, now: float) -> bool:
        self.observed, self.observed_at, self.renewed_at = stored, now, now
        return True

    def held_by_another(self, now: float) -> bool:
        """Someone else holds the Lease and it has not expired by our own clock."""
        seen = self.observed
        return (seen is not None and bool(seen.holder) and seen.holder != self.identity
                and now < self.observed_at + seen.duration)

    # -- the campaign --

    async def run(self, leadership: Leadership) -> None:
        """Acquire, lead until renewals fail or someone else wins, stop, repeat; on
        cancellation stop leading and release the Lease."""
        try:
            while True:
                await self._acquire()
                self.leading = True
                log.info("started leading", lease=repr(self.store), identity=self.identity)
                await leadership.on_started_leading()
                why = await self._hold()
                log.warning("stopped leading", lease=repr(self.store), identity=self.identity,
                            reason=why)
                await self._stop(leadership)
        except asyncio.CancelledError:
            if self.leading:
                await self._stop(leadership)
                await self.release()
            raise

    async def _stop(self, leadership: Leadership) -> None:
        """Stop the work, bounded by what is left of our lease; then we are not leading."""
        left = self.renewed_at + self.timing.duration - self.clock.monotonic()
        stopping = asyncio.ensure_future(leadership.on_stopped_leading())
        timer = asyncio.ensure_future(self.clock.sleep(max(left, 0.0)))
        try:
            await asyncio.wait({stopping, timer}, return_when=asyncio.FIRST_COMPLETED)
            if not stopping.done():  # never cut short: a half-stopped queue would act on
                log.error("the work did not stop before the lease could expire",
                          lease=repr(self.store), identity=self.identity)
            await stopping
        finally:
            timer.cancel()
            self.leading = False

    async def _acquire(self) -> None:
        while True:
            if await self._attempt(self.timing.renew_deadline):
                return
            wait = self.timing.retry_period
            seen, now = self.observed, self.clock.monotonic()
            if self.held_by_another(now) and seen is not None:
                wait = min(wait, self.observed_at + seen.duration - now + 0.01)  # at expiry
            await self.clock.sleep(max(wait, 0.0))

    async def _hold(self) -> str:
        """Renew every retry period until it fails for ``renew_deadline``; why it ended."""
        while True:
            await self.clock.sleep(self.timing.retry_period)
            while True:
                left = self.renewed_at + self.timing.renew_deadline - self.clock.monotonic()
                if left <= 0:
                    return f"not renewed for {self.timing.renew_deadline:g}s"
                if await self._attempt(left):
                    break
                now = self.clock.monotonic()
                if self.held_by_another(now):
                    return f"held by {self.observed.holder if self.observed else '?'}"
                left = self.renewed_at + self.timing.renew_deadline - now  # after the attempt
                await self.clock.sleep(min(self.timing.retry_period, max(left, 0.0)))

    async def _attempt(self, timeout: float) -> bool:
        try:
            return await self._bounded(self.try_acquire_or_renew(), timeout)
        except TimeoutError:
            log.warning("lease request timed out", lease=repr(self.store))
        except errors.ApiError as exc:
            log.warning("lease request failed", lease=repr(self.store), error=str(exc))
        except Exception:  # e.g. a Lease we cannot read: a failed attempt, never a crash
            log.exception("lease attempt crashed", lease=repr(self.store))
        return False

    async def release(self) -> None:
        """Give the Lease up (holder cleared, 1 s duration) if we still hold it."""
        seen = self.observed
        if seen is None or seen.holder != self.identity:
            return
        stamp = _microtime(self.clock.wall())
        freed = dataclasses.replace(seen, holder="", duration=1, renew_time=stamp)
        try:
            self.observed = await self._bounded(self.store.replace(freed),
                                                self.timing.retry_period)
            log.info("lease released", lease=repr(self.store), identity=self.identity)
        except (TimeoutError, errors.ApiError) as exc:
            log.warning("lease not released", lease=repr(self.store), error=repr(exc))

    async def _bounded(self, work: Awaitable[T], timeout: float) -> T:
        """``work`` or TimeoutError after ``timeout`` seconds of :attr:`clock` time."""
        task = asyncio.ensure_future(work)
        timer = asyncio.ensure_future(self.clock.sleep(timeout))
        try:
            await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if task.cancelled():
            raise TimeoutError
        return task.result()
