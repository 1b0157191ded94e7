"""The Lease elector (controller.leader) with a fake clock and an in-memory Lease.

Time is the fake clock's: ``advance(s)`` runs every sleeper due within ``s`` seconds in order,
so a minute of elections takes milliseconds and every instant is exact.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from finnexus_operator import errors
from finnexus_operator.adapters.cache import ClusterCache
from finnexus_operator.adapters.kube import ClientConfig, KubeClient
from finnexus_operator.adapters.lease import LeaseRecord
from finnexus_operator.controller.leader import (
    DEFAULT_LEASE_NAME,
    LeaderElector,
    LeaseTiming,
    lease_name,
)
from finnexus_operator.controller.runtime import Runtime
from finnexus_operator.settings import Settings

TIMING = LeaseTiming(duration=15, renew_deadline=10, retry_period=2)


class FakeClock:
    def __init__(self, skew: float = 0.0) -> None:
        self.now = 0.0
        self.skew = skew  # seconds this clock's wall time is off
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.now + self.skew)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), self._seq, future))
        await future

    async def advance(self, seconds: float) -> None:
        end = self.now + seconds
        for _ in range(20_000):  # wake-ups: more is a busy loop (a failure, never a hang)
            await settle()
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # a cancelled timer
            if not self._sleepers or self._sleepers[0][0] > end:
                break
            when, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, when)
            future.set_result(None)
        else:
            raise AssertionError(f"busy loop: 20000 wake-ups before t={end:g}")
        self.now = end
        await settle()


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


class Lease:
    """The API server's one Lease object: versions, conditional writes, a call log."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.record: LeaseRecord | None = None
        self.version = 0
        self.calls: list[tuple[float, str, str, bool]] = []  # (time, who, verb, ok)
        self.before_replace: Callable[[], None] | None = None  # runs once, then cleared

    def put(self, record: LeaseRecord) -> LeaseRecord:
        self.version += 1
        self.record = dataclasses.replace(record, resource_version=str(self.version))
        return self.record


class Client:
    """One instance's view of the Lease (its requests can fail or hang)."""

    def __init__(self, lease: Lease, who: str) -> None:
        self.lease, self.who = lease, who
        self.broken = False  # every request answers 503
        self.hang = False  # every request never answers

    async def _call(self, verb: str) -> None:
        if self.hang:
            await asyncio.get_running_loop().create_future()
        if self.broken:
            self.lease.calls.append((self.lease.clock.now, self.who, verb, False))
            raise errors.ApiUnavailable(f"{verb} lease: HTTP 503", status=503)

    async def get(self) -> LeaseRecord | None:
        await self._call("get")
        self.lease.calls.append((self.lease.clock.now, self.who, "get", True))
        return self.lease.record

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        await self._call("create")
        ok = self.lease.record is None
        self.lease.calls.append((self.lease.clock.now, self.who, "create", ok))
        if not ok:
            raise errors.Conflict("leases: AlreadyExists", status=409)
        return self.lease.put(record)

    async def replace(self, record: LeaseRecord) -> LeaseRecord:
        await self._call("replace")
        hook, self.lease.before_replace = self.lease.before_replace, None
        if hook is not None:
            hook()
        current = self.lease.record
        ok = current is not None and current.resource_version == record.resource_version
        self.lease.calls.append((self.lease.clock.now, self.who, "replace", ok))
        if not ok:
            raise errors.Conflict("leases: Conflict", status=409)
        return self.lease.put(record)


class Work:
    """The Leadership the elector drives: when it acted."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.acting = False
        self.log: list[tuple[str, float]] = []

    async def on_started_leading(self) -> None:
        self.acting = True
        self.log.append(("start", self.clock.now))

    async def on_stopped_leading(self) -> None:
        await self.clock.sleep(0.5)  # passes in flight end
        self.acting = False
        self.log.append(("stop", self.clock.now))

    def times(self, what: str) -> list[float]:
        return [t for w, t in self.log if w == what]


@dataclasses.dataclass
class Instance:
    elector: LeaderElector
    client: Client
    work: Work
    task: asyncio.Task[None]


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def lease(clock: FakeClock) -> Lease:
    return Lease(clock)


@pytest.fixture()
async def start(clock: FakeClock, lease: Lease) -> AsyncIterator[Callable[..., Instance]]:
    tasks: list[asyncio.Task[None]] = []

    def run(who: str, instance_clock: SkewedClock | None = None) -> Instance:
        client = Client(lease, who)
        elector = LeaderElector(client, who, TIMING, clock=instance_clock or clock)
        work = Work(clock)
        task = asyncio.get_running_loop().create_task(elector.run(work))
        tasks.append(task)
        return Instance(elector, client, work, task)
    yield run
    for task in tasks:
        task.cancel()
    for _ in range(100):  # a cancelled elector stops its work and releases: on fake time
        if all(t.done() for t in tasks):
            break
        await clock.advance(1)
    assert all(t.done() for t in tasks)


def holder(lease: Lease) -> str:
    return lease.record.holder if lease.record else ""


async def test_the_first_instance_creates_the_lease_and_acts(
        clock: FakeClock, lease: Lease, start: Callable[..., Instance]) -> None:
    a = start("a")
    await clock.advance(0)
    assert a.elector.leading and a.work.acting and a.work.times("start") == [0.0]
    assert lease.record is not None
    assert (lease.record.holder, lease.record.duration, lease.record.transitions) == ("a", 15, 0)
    assert lease.record.acquire_time == lease.record.renew_time == "2026-01-01T00:00:00.000000Z"


async def test_the_leader_renews_every_retry_period_and_a_standby_never_acts(
        clock: FakeClock, lease: Lease, start: Callable[..., Instance]) -> None:
    a = start("a")
    await clock.advance(0)
    b = start("b")
    await clock.advance(60)
    renewals = [t for t, who, verb, ok in lease.calls if who == "a" and verb == "replace" and ok]
    assert renewals == [float(t) for t in range(2, 61, 2)]
    assert holder(lease) == "a" and a.work.acting and lease.record is not None
    assert lease.record.acquire_time == "2026-01-01T00:00:00.000000Z"  # kept while renewed
    assert lease.record.renew_time == "2026-01-01T00:01:00.000000Z"
    assert b.work.log == [] and not b.elector.leading
    assert not [c for c in lease.calls if c[1] == "b" and c[2] != "get"]  # it only looked


async def test_a_lost_conditional_write_409_means_someone_else_won(
        clock: FakeClock, lease: Lease, start: Callable[..., Instance]) -> None:
    a = start("a")
    await clock.advance(1)

    def steal() -> None:  # between a's read and its write, another instance takes over
        assert lease.record is not None
        lease.put(dataclasses.replace(lease.record, holder="x", transitions=1))
    lease.before_replace = steal
    await clock.advance(1)  # a's renewal at t=2 answers 409
    assert [c for c in lease.calls if c[2] == "replace"][-1] == (2.0, "a", "replace", False)
    await clock.advance(3)
    assert holder(lease) == "x"  # never overwritten by a
    assert not a.elector.leading and not a.work.acting
    assert a.work.times("stop") and a.work.times("stop")[0] <= 2 + TIMING.retry_period + 0.5


@pytest.mark.parametrize("failure", ["broken", "hang"])
async def test_a_leader_that_cannot_renew_stops_acting_before_its_lease_can_expire(
        clock: FakeClock, lease: Lease, start: Callable[..., Instance], failure: str) -> None:
    a = start("a")
    await clock.advance(0)
    b = start("b")
    await clock.advance(5)  # renewed at 2 and 4
    setattr(a.client, failure, True)  # from t=5 on, a's Lease requests fail (or never answer)
    last_renewal = max(t for t, who, verb, ok in lease.calls
                       if who == "a" and verb == "replace" and ok)
    assert last_renewal == 4.0
    await clock.advance(40)
    (stopped,) = a.work.times("stop")
    (taken_over,) = b.work.times("start")
    # a stops within its renew deadline (+ the 0.5 s its passes take to end) ...
    assert last_renewal + TIMING.renew_deadline <= stopped <= last_renewal \
        + TIMING.renew_deadline + 0.5
    # ... strictly before the lease can expire for anybody, and before b acts
    assert stopped < last_renewal + TIMING.duration <= taken_over
    assert holder(lease) == "b" and not a.elector.leading
    assert lease.record is not None and lease.record.transitions == 1


async def test_a_standby_takes_over_exactly_when_the_lease_expires_by_its_own_clock(
        clock: FakeClock, lease: Lease, start: Callable[..., Instance]) -> None:
    lease.put(LeaseRecord("dead", 15, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 3))
    clock.now = 100.0  # the record's renewTime says "100 s ago": not trusted
    b = start("b")
    await clock.advance(14.9)
    assert not b.work.log  # 15 s of its own clock since it first saw the record: not yet
    await clock.advance(0.2)
    assert b.work.times("start") and 115.0 <= b.work.times("start")[0] <= 115.1
    assert lease.record is not None
    assert (lease.record.holder, lease.record.transitions) == ("b", 4)


async def test_a_clean_shutdown_stops_the_work_then_releases_so_a_standby_takes_over_at_once(
        clock: FakeClock, lease: Lease, start: Callable[..., Instance]) -> None:
    a = start("a")
    await clock.advance(0)
    b = start("b")
    await clock.advance(7)
    a.task.cancel()
    await clock.advance(0.5)  # a's passes end (0.5 s), then the release
    assert a.task.done() and a.work.times("stop") == [7.5]
    released = [c for c in lease.calls if c[1] == "a" and c[2] == "replace"][-1]
    assert released == (7.5, "a", "replace", True)  # after the work stopped
    assert lease.record is not None and lease.record.holder == ""
    assert lease.record.duration == 1
    await clock.advance(TIMING.retry_period)
    (started,) = b.work.times("start")
    assert started - 7.5 <= TIMING.retry_period  # not a whole lease duration


class SkewedClock:
    """The same timeline as ``base``, with a wall clock ``skew`` seconds off."""

    def __init__(self, base: FakeClock, skew: float) -> None:
        self.base, self.skew = base, skew

    def monotonic(self) -> float:
        return self.base.monotonic()

    def wall(self) -> datetime:
        return self.base.wall() + timedelta(seconds=self.skew)

    async def sleep(self, seconds: float) -> None:
        await self.base.sleep(seconds)


@pytest.mark.parametrize("skew", [-3600.0, 3600.0], ids=["remote-clock-behind",
                                                         "remote-clock-ahead"])
async def test_renew_times_from_a_skewed_clock_decide_nothing(
        clock: FakeClock, lease: Lease, start: Callable[..., Instance], skew: float) -> None:
    """The holder's clock is an hour off: its renewTime strings say "long expired" (or "far
    future"); the standby only counts how long the record has gone unchanged."""
    a = start("a", SkewedClock(clock, skew))
    await clock.advance(0)
    b = start("b")
    await clock.advance(30)
    assert lease.record is not None and lease.record.renew_time is not None
    assert lease.record.renew_time.startswith("2025-12-31T23:00:30" if skew < 0
                                              else "2026-01-01T01:00:30")
    assert holder(lease) == "a" and not b.work.log  # renewed: never taken over
    a.client.broken = True  # a can no longer renew; its record stops changing
    last_change = max(t for t, who, verb, ok in lease.calls if who == "a" and ok
                      and verb == "replace")
    await clock.advance(20)
    (started,) = b.work.times("start")
    assert last_change + TIMING.duration <= started <= last_change + TIMING.duration \
        + TIMING.retry_period + 0.1
    assert a.work.times("stop")[0] < last_change + TIMING.duration


def test_timings_must_leave_the_leader_time_to_stop() -> None:
    for bad in [(15, 15, 2), (15, 10, 10), (10, 15, 2), (15, 10, 0)]:
        with pytest.raises(ValueError, match="retry period < renew deadline < lease duration"):
            LeaseTiming(*bad)


def test_each_shard_has_its_own_valid_lease_name() -> None:
    dns = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
    names = {lease_name(None), lease_name("finnexus.ai/shard=a"),
             lease_name("finnexus.ai/shard=b"), lease_name("team in (x,y)"),
             lease_name(None, ["trading"]), lease_name(None, ["payments", "trading"]),
             lease_name("finnexus.ai/shard=a", ["trading"])}
    assert len(names) == 7 and lease_name(None) == DEFAULT_LEASE_NAME
    assert lease_name(None, ["trading", "payments"]) == lease_name(None, ["payments", "trading"])
    for name in names:
        assert dns.fullmatch(name) and len(name) <= 63, name
    assert lease_name("finnexus.ai/shard=a").startswith("finnexus-operator-finnexus-ai-shard-a-")


# -- the runtime side of leadership: the queue is gated ---------------------------------------


async def test_the_runtime_runs_passes_only_while_leading() -> None:
    passes: list[tuple[str, str]] = []
    in_flight = asyncio.Event()
    cancelled: list[tuple[str, str]] = []

    async def reconcile(namespace: str, name: str) -> object:
        passes.append((namespace, name))
        in_flight.set()
        try:
            await asyncio.Event().wait()  # a long pass
        except asyncio.CancelledError:
            cancelled.append((namespace, name))
            raise
        return None

    runtime = Runtime(Settings(metrics_port=0, leader_election=True))
    runtime.reconciler = reconcile  # type: ignore[assignment]
    runtime.cache = ClusterCache(KubeClient(ClientConfig("http://127.0.0.1:1")))

    def seen(name: str, rv: str, type_: str = "ADDED") -> None:
        runtime.resource_event(type_, {"metadata": {"namespace": "ns", "name": name,
                                                    "resourceVersion": rv}})

    seen("a", "1")  # known while standing by: no pass
    seen("b", "2")
    seen("b", "3", "DELETED")
    runtime._wake("ns", "a", ("Pod", "ns", "a-x", "4"))
    await settle()
    assert passes == [] and runtime.queue is None
    await runtime.on_started_leading()  # every known resource gets a pass at once
    await settle()
    assert passes == [("ns", "a")] and in_flight.is_set()
    await runtime.on_stopped_leading()  # returns once the pass in flight was cancelled
    assert cancelled == [("ns", "a")] and runtime.queue is None
    seen("a", "5", "MODIFIED")
    runtime._wake("ns", "a", ("Pod", "ns", "a-x", "6"))
    await settle()
    assert passes == [("ns", "a")]
