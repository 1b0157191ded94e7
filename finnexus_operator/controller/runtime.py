"""Everything one operator process shares: clients, prober, metric provider, controller."""

from __future__ import annotations

from typing import Any

from prometheus_client import start_http_server

from finnexus_operator.adapters.health import HealthProber
from finnexus_operator.adapters.kube import KubeClient, load_api_client
from finnexus_operator.adapters.metrics import MetricProvider, make_provider
from finnexus_operator.adapters.notify import load_config
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
        self._api_client = api_client
        self.queue: WorkQueue | None = None
        self.reconciler: Reconciler | None = None
        self.provider: MetricProvider | None = None
        self.notifier: Notifier | None = None

    async def start(self) -> None:
        """Check the registries, then build the clients; a ConfigError stops the start."""
        s = self.settings
        check_routers()
        api_client = self._api_client or load_api_client(s.kubeconfig)
        self.provider = make_provider(s)
        if self.provider is None:
            log.warning("no --prometheus-url: resources with spec.analysis will see query "
                        "errors and be rolled back, never promoted")
        self.notifier = Notifier(load_config(s.notifications_config)
                                 if s.notifications_config else ())
        await self.notifier.start()
        self.reconciler = Reconciler(KubeClient(api_client), prober=HealthProber(),
                                     provider=self.provider, notifier=self.notifier)
        self.queue = WorkQueue(self.reconciler)
        if s.metrics_port:
            start_http_server(s.metrics_port)
        log.info("operator started", namespaces=list(s.namespaces) or "all",
                 metrics_provider=s.metrics_provider,
                 prometheus=display_url(s.prometheus_url) if s.prometheus_url else None,
                 metrics_port=s.metrics_port,
                 notification_receivers=[r.name for r in self.notifier.receivers])

    async def stop(self) -> None:
        if self.queue is not None:
            await self.queue.stop()
        if self.reconciler is not None:
            await self.reconciler.prober.close()
        if self.provider is not None:
            await self.provider.close()
        if self.notifier is not None:
            await self.notifier.stop()
