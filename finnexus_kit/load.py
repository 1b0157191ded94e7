"""A small, bounded load generator for the demo apps: GETs to loopback addresses only.

It refuses any URL whose host is not a literal loopback address (``127.0.0.0/8`` or ``::1``),
paces requests at ``rps`` (round-robin over the URLs, each request in its own task so slow
answers do not lower the rate), and always stops by itself: at ``duration``, when ``stop`` is
set, and in any case after :data:`MAX_DURATION` seconds.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

__all__ = ["MAX_DURATION", "LoadStats", "check_loopback_url", "generate_load"]

MAX_DURATION = 3600.0
MAX_RPS = 2000.0


@dataclass
class LoadStats:
    """What a load run did."""

    sent: int = 0
    by_status: collections.Counter[int] = field(default_factory=collections.Counter)
    failed: int = 0  # no HTTP answer (connection refused, timeout, ...)
    skipped: int = 0  # ticks dropped because ``max_in_flight`` requests were pending

    @property
    def answered(self) -> int:
        """Requests that got an HTTP status."""
        return sum(self.by_status.values())


def check_loopback_url(url: str) -> str:
    """Return ``url`` if it is http(s) to a literal loopback address; raise ValueError if not."""
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"load target {url!r} is not an http(s) URL")
    try:
        address = ipaddress.ip_address(parsed.host)
    except ValueError:
        raise ValueError(
            f"load target {url!r}: the host must be a literal loopback address (127.0.0.0/8)"
        ) from None
    if not address.is_loopback:
        raise ValueError(f"load target {url!r} is not on loopback (127.0.0.0/8); refused")
    return url


async def _one(
    session: aiohttp.ClientSession, url: str, stats: LoadStats, slots: asyncio.Semaphore
) -> None:
    try:
        async with session.get(url) as response:
            await response.read()
            stats.by_status[response.status] += 1
    except (aiohttp.ClientError, TimeoutError, OSError):
        stats.failed += 1
    finally:
        slots.release()


async def generate_load(
    urls: Sequence[str],
    rps: float,
    duration: float | None = None,
    stop: asyncio.Event | None = None,
    *,
    max_in_flight: int = 64,
    request_timeout: float = 10.0,
) -> LoadStats:
    """Send GETs at ``rps`` until ``duration`` elapses or ``stop`` is set; return the counts."""
    targets = [check_loopback_url(u) for u in urls]
    if not targets:
        raise ValueError("no load targets")
    if not 0 < rps <= MAX_RPS:
        raise ValueError(f"rps must be within (0, {MAX_RPS:g}]")
    if duration is not None and duration < 0:
        raise ValueError("duration must be >= 0")
    stop = stop if stop is not None else asyncio.Event()
    limit = min(duration if duration is not None else MAX_DURATION, MAX_DURATION)
    loop = asyncio.get_running_loop()
    started = loop.time()
    stats = LoadStats()
    slots = asyncio.Semaphore(max_in_flight)
    tasks: set[asyncio.Task[None]] = set()
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for number, url in zip(itertools.count(), itertools.cycle(targets), strict=False):
            due = started + number / rps
            if due - started >= limit or stop.is_set():
                break
            if due > loop.time():
                try:
                    await asyncio.wait_for(stop.wait(), due - loop.time())
                    break
                except TimeoutError:
                    pass
            if slots.locked():
                stats.skipped += 1
                continue
            await slots.acquire()
            stats.sent += 1
            task = asyncio.create_task(_one(session, url, stats, slots))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(set(tasks), timeout=request_timeout)
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return stats
