"""Notifications off the pass: a bounded queue and a sender task per receiver.

The reconciler hands :meth:`Notifier.post` the outcomes a written pass recorded (found once
by ``telemetry.observe_pass``); ``post`` only queues them and never waits, so a dead or
hanging receiver never delays or changes a rollout. Each receiver has its own queue and task:
one that hangs delays only its own notifications. A POST that fails is retried with backoff
(by default 3 retries after 1, 2 and 4 s, each attempt bounded by a 5 s timeout), then
dropped with an error log. A full queue drops the new notification with a warning. Logs name
the receiver and the resource, never the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from finnexus_operator import errors
from finnexus_operator.adapters.notify import Receiver, WebhookPoster, subscribed
from finnexus_operator.core.notices import Outcome
from finnexus_operator.logs import get_logger

__all__ = ["Notifier", "Poster"]

log = get_logger("finnexus.notify")


class Poster(Protocol):
    async def post(self, receiver: Receiver, body: Mapping[str, Any]) -> None: ...

    async def close(self) -> None: ...


class Notifier:
    """Queues outcomes for the receivers that asked for them; sends them in the background."""

    def __init__(self, receivers: Sequence[Receiver] = (), *, poster: Poster | None = None,
                 queue_size: int = 100, backoff: Sequence[float] = (1.0, 2.0, 4.0)) -> None:
        self.receivers = tuple(receivers)
        self.poster: Poster = poster or WebhookPoster()
        self.backoff = tuple(backoff)
        self._queues: dict[str, asyncio.Queue[Outcome]] = {
            r.name: asyncio.Queue(maxsize=queue_size) for r in self.receivers}
        self._tasks: list[asyncio.Task[None]] = []
        self.sent = 0
        self.dropped = 0

    def post(self, outcomes: Sequence[Outcome]) -> None:
        """Queue each outcome for its receivers; never blocks, never raises."""
        for outcome in outcomes:
            for receiver in subscribed(self.receivers, outcome.event):
                try:
                    self._queues[receiver.name].put_nowait(outcome)
                except asyncio.QueueFull:
                    self.dropped += 1
                    log.warning("notification dropped: queue full", receiver=receiver.name,
                                notification=outcome.event,
                                object=f"{outcome.namespace}/{outcome.name}")

    def pending(self) -> dict[str, int]:
        """Notifications queued per receiver."""
        return {name: queue.qsize() for name, queue in self._queues.items()}

    async def start(self) -> None:
        for receiver in self.receivers:
            self._tasks.append(asyncio.create_task(self._run(receiver),
                                                   name=f"notify:{receiver.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.poster.close()

    async def _run(self, receiver: Receiver) -> None:
        queue = self._queues[receiver.name]
        while True:
            outcome = await queue.get()
            await self._deliver(receiver, outcome)

    async def _deliver(self, receiver: Receiver, outcome: Outcome) -> None:
        what = {"receiver": receiver.name, "notification": outcome.event,
                "object": f"{outcome.namespace}/{outcome.name}"}
        body = receiver.body(outcome)
        for attempt, wait in enumerate((*self.backoff, None), start=1):
            try:
                await self.poster.post(receiver, body)
            except errors.NotificationFailed as exc:
                if wait is None:
                    self.dropped += 1
                    log.error("notification not delivered", attempts=attempt, error=str(exc),
                              **what)
                    return
                log.warning("notification failed, retrying", attempt=attempt,
                            retry_in=wait, error=str(exc), **what)
                await asyncio.sleep(wait)
            else:
                self.sent += 1
                log.info("notification sent", attempt=attempt, **what)
                return
