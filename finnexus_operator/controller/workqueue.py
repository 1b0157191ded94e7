"""A per-object work loop: one worker task per FinNexusDeployment, woken by watch events.

kopf delivers watch events; this loop makes progress independent of them: after each pass
the worker sleeps for the pass's ``requeue_after`` (bounded by the health/analysis intervals
while a rollout is in progress) or until the next event, whichever comes first. Passes for
one object never overlap. Failed passes are retried with exponential backoff; when the API
server asked for a wait (a 429 or 503 with Retry-After), the retry waits at least that long,
events or not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from finnexus_operator import errors
from finnexus_operator.controller import telemetry
from finnexus_operator.controller.reconcile import PassResult
from finnexus_operator.logs import get_logger

__all__ = ["WorkQueue"]

log = get_logger("finnexus.workqueue")
Key = tuple[str, str]


class WorkQueue:
    """Schedules reconcile passes per (namespace, name)."""

    def __init__(self, reconcile: Callable[[str, str], Awaitable[PassResult]], *,
                 min_backoff: float = 0.5, max_backoff: float = 60.0) -> None:
        self._reconcile = reconcile
        self._workers: dict[Key, asyncio.Task[None]] = {}
        self._wake: dict[Key, asyncio.Event] = {}
        self._own_rv: dict[Key, str] = {}
        self._min_backoff, self._max_backoff = min_backoff, max_backoff

    def notify(self, namespace: str, name: str, *, deleted: bool = False,
               resource_version: str | None = None) -> None:
        """A watch event arrived for the object."""
        key = (namespace, name)
        if deleted:
            self._cancel(key)
            telemetry.forget(namespace, name)  # every series of the resource goes with it
            return
        if resource_version is not None and self._own_rv.get(key) == resource_version:
            return  # the echo of our own status write: nothing new to see
        task = self._workers.get(key)
        if task is None or task.done():
            self._wake[key] = asyncio.Event()
            self._workers[key] = asyncio.create_task(self._work(key),
                                                     name=f"fnd:{namespace}/{name}")
        else:
            self._wake[key].set()

    def _cancel(self, key: Key) -> None:
        task = self._workers.pop(key, None)
        self._wake.pop(key, None)
        self._own_rv.pop(key, None)
        if task is not None:
            task.cancel()

    async def _work(self, key: Key) -> None:
        namespace, name = key
        backoff = self._min_backoff
        wake = self._wake[key]
        while True:
            wake.clear()
            try:
                outcome = await self._reconcile(namespace, name)
                backoff = self._min_backoff
                delay = outcome.requeue_after
                if outcome.resource_version:
                    self._own_rv[key] = outcome.resource_version
                if delay is None:
                    if wake.is_set():  # an event arrived during the pass: look again
                        continue
                    return
            except asyncio.CancelledError:
                raise
            except errors.ApiError as exc:
                hold = min(exc.retry_after or 0.0, self._max_backoff)
                log.warning("reconcile failed, retrying", object=f"{namespace}/{name}",
                            error=str(exc), retry_in=max(backoff, hold),
                            retryable=exc.retryable)
                delay, backoff = max(backoff, hold), min(backoff * 2, self._max_backoff)
                if hold:
                    # The API server asked us to wait (429/503 Retry-After): no event cuts
                    # that short; one that arrives meanwhile runs the pass right after.
                    await asyncio.sleep(hold)
                    delay -= hold
            except Exception:
                log.exception("reconcile crashed, retrying", object=f"{namespace}/{name}",
                              retry_in=backoff)
                delay, backoff = backoff, min(backoff * 2, self._max_backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=max(delay, 0.0))

    async def stop(self) -> None:
        tasks = list(self._workers.values())
        for key in list(self._workers):
            self._cancel(key)
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def active(self) -> int:
        return sum(1 for t in self._workers.values() if not t.done())
