"""Everything one operator process shares: the API client, the informer cache, the work queue,
the prober and the metric provider.

The wiring of one event: kopf's watch of the resource, or an informer of what it owns, hands
a change to the cache; the cache wakes the resource in the work queue (unless the change is
the echo of our own write); a worker runs its pass, reading the cache. The periodic safety
resync (``--resync-seconds``) runs every known resource's pass again, from the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from prometheus_client import start_http_server

from finnexus_operator.adapters import notify
from finnexus_operator.adapters.cache import ClusterCache
from finnexus_operator.adapters.health import HealthProber
from finnexus_operator.adapters.informer import Cause
from finnexus_operator.adapters.kube import KubeClient, load_config
from finnexus_operator.adapters.metrics import MetricProvider, make_provider
from finnexus_operator.adapters.prometheus import display_url
from finnexus_operator.adapters.routers import check_routers
from finnexus_operator.controller.notifier import Notifier
from finnexus_operator.controller.reconcile import Reconciler
from finnexus_operator.controller.workqueue import WorkQueue
from finnexus_operator.logs import get_logger
from finnexus_operator.settings import Settings

__all__ = ["Runtime"]

log = get_logger("finnexus.runtime")


class Runtime:
    """Built in the kopf startup handler, torn down in the cleanup handler."""

    def __init__(self, settings: Settings, api_client: Any = None) -> None:
        self.settings = settings
        self._api_client = api_client  # a ClientConfig or a ``kubernetes`` ApiClient
        self.kube: KubeClient | None = None
        self.cache: ClusterCache | None = None
        self.queue: WorkQueue | None = None
        self.reconciler: Reconciler | None = None
        self.provider: MetricProvider | None = None
        self._resync: asyncio.Task[None] | None = None
        self.notifier: Notifier | None = None

    async def start(self) -> None:
        """Check the registries, then build the clients; a ConfigError stops the start."""
        s = self.settings
        check_routers()
        self.provider = make_provider(s)
        if self.provider is None:
            log.warning("no --prometheus-url: resources with spec.analysis will see query "
                        "errors and be rolled back, never promoted")
        self.notifier = Notifier(notify.load_config(s.notifications_config)
                                 if s.notifications_config else ())
        await self.notifier.start()
        config = self._api_client or await asyncio.to_thread(load_config, s.kubeconfig)
        self.kube = kube = KubeClient(config, qps=s.api_qps, burst=s.api_burst)
        self.cache = cache = ClusterCache(kube, () if s.clusterwide else s.namespaces)
        kube.on_write = cache.absorb  # a write's answer is in the cache before anything else
        self.reconciler = Reconciler(
            kube, prober=HealthProber(max_concurrent=s.max_concurrent_probes),
            provider=self.provider, cache=cache, notifier=self.notifier)
        self.queue = WorkQueue(self.reconciler, workers=s.workers, is_own=cache.is_own)
        cache.wake = self._wake
        cache.start()
        if s.resync_seconds > 0:
            self._resync = asyncio.create_task(self._resync_loop(s.resync_seconds))
        if s.metrics_port:
            start_http_server(s.metrics_port)
        log.info("operator started", namespaces=list(s.namespaces) or "all",
                 metrics_provider=s.metrics_provider,
                 prometheus=display_url(s.prometheus_url) if s.prometheus_url else None,
                 metrics_port=s.metrics_port, workers=s.workers, api_qps=s.api_qps,
                 api_burst=s.api_burst, resync_seconds=s.resync_seconds,
                 notification_receivers=[r.name for r in self.notifier.receivers])

    def _wake(self, namespace: str, name: str, cause: Cause) -> None:
        if self.queue is not None:
            self.queue.notify(namespace, name, cause=cause)

    def resource_event(self, type_: str, body: Mapping[str, Any]) -> None:
        """A watch event of a FinNexusDeployment (from kopf): cache it, wake its pass."""
        if self.cache is None or self.queue is None:
            return
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace"), meta.get("name")
        if not namespace or not name:
            return
        cause = self.cache.resource_event(type_, body)
        if type_ == "DELETED":
            self.queue.notify(namespace, name, deleted=True)
        elif cause is not None:
            self.queue.notify(namespace, name, cause=cause)

    async def _resync_loop(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            if self.cache is not None and self.queue is not None:
                self.queue.resync(sorted(self.cache.resources))

    async def stop(self) -> None:
        if self._resync is not None:
            self._resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync
        if self.queue is not None:
            await self.queue.stop()
        if self.cache is not None:
            await self.cache.stop()
        if self.reconciler is not None:
            await self.reconciler.prober.close()
        if self.provider is not None:
            await self.provider.close()
        if self.notifier is not None:
            await self.notifier.stop()
        if self.kube is not None:
            await self.kube.close()
