"""A work queue like client-go's: dirty keys, a fixed pool of workers, a delayed heap.

``notify`` marks a FinNexusDeployment dirty; a fixed number of worker tasks (``--workers``)
take dirty keys in arrival order and run one pass each, never two passes of one key at once.
A key notified while its pass runs is run again right after it — unless every event that
arrived meanwhile was the echo of the pass's own writes (``is_own``: the resourceVersion its
write returned). A pass's ``requeue_after`` puts the key on a delayed heap (one timer task for
all keys); an event before then runs it early. Nothing is held for an idle key: no task, no
timer. Failed passes are retried with exponential backoff per key; when the API server asked
for a wait (a 429 or 503 with Retry-After), the retry waits at least that long, events or not.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
from collections.abc import Awaitable, Callable

from finnexus_operator import errors
from finnexus_operator.adapters.informer import Cause
from finnexus_operator.controller import telemetry
from finnexus_operator.controller.reconcile import PassResult
from finnexus_operator.logs import get_logger

__all__ = ["DEFAULT_WORKERS", "WorkQueue"]

log = get_logger("finnexus.workqueue")
Key = tuple[str, str]
DEFAULT_WORKERS = 8


def _never_own(cause: Cause) -> bool:
    return False


class WorkQueue:
    """Schedules reconcile passes per (namespace, name) on a fixed pool of workers."""

    def __init__(self, reconcile: Callable[[str, str], Awaitable[PassResult]], *,
                 workers: int = DEFAULT_WORKERS, min_backoff: float = 0.5,
                 max_backoff: float = 60.0, is_own: Callable[[Cause], bool] = _never_own
                 ) -> None:
        self._reconcile = reconcile
        self._size = max(1, workers)
        self._min_backoff, self._max_backoff = min_backoff, max_backoff
        self._is_own = is_own
        self._ready: asyncio.Queue[Key] | None = None
        self._queued: dict[Key, str] = {}  # waiting for a worker -> why
        self._processing: set[Key] = set()
        self._again: dict[Key, list[Cause]] = {}  # events that arrived during its pass
        self._timers: dict[Key, tuple[float, str]] = {}  # next timed pass (loop time), why
        self._heap: list[tuple[float, Key]] = []
        self._hold: dict[Key, float] = {}  # a Retry-After: no pass before this
        self._backoff: dict[Key, float] = {}
        self._own_rv: dict[Key, str] = {}
        self._wakeup: asyncio.Event | None = None  # the timer task re-reads the heap
        self._tasks: list[asyncio.Task[None]] = []
        self.begun: collections.Counter[Key] = collections.Counter()  # passes begun
        self.causes: dict[Key, collections.deque[str]] = {}  # why its recent passes ran
        # (loop time, key, why) of the recent passes begun, for tests and benches
        self.timeline: collections.deque[tuple[float, Key, str]] = collections.deque(
            maxlen=10_000)
        self.busy_peak = 0  # most passes running at once

    # -- events --
    def notify(self, namespace: str, name: str, *, deleted: bool = False,
               resource_version: str | None = None, cause: Cause | None = None) -> None:
        """A watch event arrived for the resource (or, with ``cause``, an object it owns)."""
        key = (namespace, name)
        if deleted:
            self._forget(key)
            telemetry.forget(namespace, name)  # every series of the resource goes with it
            return
        if resource_version is not None and self._own_rv.get(key) == resource_version:
            return  # the echo of our own status write: nothing new to see
        if cause is not None and self._is_own(cause):
            return
        if key in self._processing:  # looked at again after the pass, unless its own echo
            self._again.setdefault(key, []).append(cause or ("event", namespace, name, None))
            return
        self._enqueue(key, cause[0] if cause else "event")

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def _enqueue(self, key: Key, why: str) -> None:
        self._start()
        hold = self._hold.get(key)
        if hold is not None and hold > self._loop_time():
            self._schedule(key, hold, why)  # the server asked us to wait: no event cuts it
            return
        self._hold.pop(key, None)
        if key in self._queued or key in self._processing:
            return
        self._timers.pop(key, None)
        self._queued[key] = why
        assert self._ready is not None
        self._ready.put_nowait(key)

    def _schedule(self, key: Key, when: float, why: str) -> None:
        current = self._timers.get(key)
        if current is not None and current[0] <= when:
            return
        self._start()
        self._timers[key] = (when, why)
        heapq.heappush(self._heap, (when, key))
        assert self._wakeup is not None
        self._wakeup.set()

    def _forget(self, key: Key) -> None:
        for table in (self._timers, self._hold, self._backoff, self._own_rv, self._again,
                      self._queued):
            table.pop(key, None)

    # -- workers --
    def _start(self) -> None:
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._ready, self._wakeup = asyncio.Queue(), asyncio.Event()
        self._tasks = [loop.create_task(self._work(), name=f"worker-{i}")
                       for i in range(self._size)]
        self._tasks.append(loop.create_task(self._timer(), name="workqueue-timer"))

    async def _work(self) -> None:
        assert self._ready is not None
        while True:
            key = await self._ready.get()
            why = self._queued.pop(key, None)
            if why is None:
                continue  # forgotten (deleted) or a stale duplicate
            self._processing.add(key)
            self.busy_peak = max(self.busy_peak, len(self._processing))
            self.begun[key] += 1
            self.causes.setdefault(key, collections.deque(maxlen=50)).append(why)
            self.timeline.append((self._loop_time(), key, why))
            try:
                delay, next_why = await self._run(key)
            finally:
                self._processing.discard(key)
            events = [c for c in self._again.pop(key, []) if not self._is_own(c)]
            if events:
                self._enqueue(key, events[0][0])
            elif delay is not None:
                self._schedule(key, self._loop_time() + max(delay, 0.0), next_why)

    async def _run(self, key: Key) -> tuple[float | None, str]:
        """One pass; the seconds until the next one (None: only an event brings it)."""
        namespace, name = key
        backoff = self._backoff.get(key, self._min_backoff)
        try:
            outcome = await self._reconcile(namespace, name)
        except asyncio.CancelledError:
            raise
        except errors.ApiError as exc:
            hold = min(exc.retry_after or 0.0, self._max_backoff)
            log.warning("reconcile failed, retrying", object=f"{namespace}/{name}",
                        error=str(exc), retry_in=max(backoff, hold), retryable=exc.retryable)
            self._backoff[key] = min(backoff * 2, self._max_backoff)
            if hold:
                self._hold[key] = self._loop_time() + hold
            return max(backoff, hold), "retry"
        except Exception:
            log.exception("reconcile crashed, retrying", object=f"{namespace}/{name}",
                          retry_in=backoff)
            self._backoff[key] = min(backoff * 2, self._max_backoff)
            return backoff, "retry"
        self._backoff.pop(key, None)
        if outcome.resource_version:
            self._own_rv[key] = outcome.resource_version
        return outcome.requeue_after, "timer"

    async def _timer(self) -> None:
        assert self._wakeup is not None
        while True:
            self._wakeup.clear()
            now = self._loop_time()
            while self._heap and self._heap[0][0] <= now:
                when, key = heapq.heappop(self._heap)
                timer = self._timers.get(key)
                if timer is None or timer[0] != when:
                    continue  # superseded: an earlier timer, a pass that ran, a deletion
                del self._timers[key]
                self._enqueue(key, timer[1])
            timeout = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def resync(self, keys: list[Key]) -> None:
        """Run every pass once more (the periodic safety resync: from the caches)."""
        for key in keys:
            self._enqueue(key, "resync")

    @property
    def active(self) -> int:
        """Keys with something to do: queued, in a pass, or waiting for a timer."""
        return len(set(self._queued) | self._processing | set(self._timers))

    @property
    def workers(self) -> int:
        return self._size

    @property
    def tasks(self) -> int:
        """The queue's tasks: the worker pool and one timer, whatever the number of keys."""
        return sum(1 for t in self._tasks if not t.done())
