"""Fixtures for the real-Prometheus layer: one server per session, demo apps per test.

``prometheus`` (session): Debian's ``/usr/bin/prometheus`` on ``127.0.0.1:<free port>``,
scraping every second, with file-SD targets (``prometheus.set_targets(...)``) and eight
pre-registered scrape slots; the tests are skipped with a clear reason when the binary is
missing. ``demo_app`` (function): ``await demo_app(service="x", error_ratio=0.1, ...)`` starts
an in-process demo app on a slot port, so Prometheus scrapes it within a second; apps are
closed and slots returned after the test.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from finnexus_kit.app import AppHandle, start_app
from finnexus_kit.prometheus import PrometheusServer, missing_reason

DemoAppFactory = Callable[..., Awaitable[AppHandle]]


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A running Prometheus with data already scraped (the first scrape takes about 5 s)."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), slots=8)
    try:
        server.start(timeout=30)
        yield server
    finally:
        server.stop()


@pytest.fixture
async def demo_app(prometheus: PrometheusServer) -> AsyncIterator[DemoAppFactory]:
    """Factory of in-process demo apps bound on pre-registered scrape slots."""
    handles: list[AppHandle] = []

    async def factory(**settings: Any) -> AppHandle:
        last: OSError | None = None
        for _ in range(len(prometheus.slots)):
            port = prometheus.take_slot()
            try:
                handle = await start_app("127.0.0.1", port, **settings)
            except OSError as exc:  # someone else grabbed the reserved port meanwhile
                if exc.errno != errno.EADDRINUSE:
                    prometheus.release_slot(port)
                    raise
                last = exc
                continue
            handles.append(handle)
            return handle
        raise RuntimeError(f"no free scrape slot to bind a demo app on: {last}")

    try:
        yield factory
    finally:
        for handle in handles:
            await handle.close()
            prometheus.release_slot(handle.port)
