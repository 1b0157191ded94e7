"""Everything one operator process shares: clients, prober, metric provider, controller.

Leadership gates the work (issue 9 item 6): the kopf handlers always run and tell the runtime
which resources exist (:meth:`Runtime.notify`, :meth:`Runtime.wake`), but passes run only
while this instance leads. :meth:`Runtime.on_started_leading` builds the work queue and gives
every known resource a pass; :meth:`Runtime.on_stopped_leading` stops the queue and waits for
passes in flight to end or be cancelled. Without ``--leader-election`` the runtime leads from
the start; with it, a ``controller.leader.LeaderElector`` on the shard's Lease switches it.
Only resources of this instance's shard (``--selector``) are known.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import start_http_server

from finnexus_operator.adapters.health import HealthProber
from finnexus_operator.adapters.kube import USER_AGENT, KubeClient, load_api_client
from finnexus_operator.adapters.lease import KubeLeaseStore
from finnexus_operator.adapters.metrics import MetricProvider, make_provider
from finnexus_operator.adapters.prometheus import display_url
from finnexus_operator.adapters.routers import check_routers
from finnexus_operator.controller.leader import (
    LeaderElector,
    LeaseTiming,
    default_identity,
    lease_name,
)
from finnexus_operator.controller.reconcile import Reconciler
from finnexus_operator.controller.workqueue import WorkQueue
from finnexus_operator.core.selector import LabelSelector
from finnexus_operator.logs import get_logger
from finnexus_operator.settings import Settings

__all__ = ["Runtime"]

log = get_logger("finnexus.runtime")
Key = tuple[str, str]


class Runtime:
    """Built in the kopf startup handler, torn down in the cleanup handler."""

    def __init__(self, settings: Settings, api_client: Any = None) -> None:
        self.settings = settings
        self._api_client = api_client
        self.queue: WorkQueue | None = None
        self.reconciler: Reconciler | None = None
        self.provider: MetricProvider | None = None
        # -- leadership and the shard (issue 9 items 6-7) --
        self.identity = settings.instance_id or default_identity()
        self.shard = LabelSelector.parse(settings.selector)
        self.known: set[Key] = set()  # resources of our shard that exist (from the watch)
        self.elector: LeaderElector | None = None
        self._campaign: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Check the registries, then build the clients; a ConfigError stops the start."""
        s = self.settings
        check_routers()
        api_client = self._api_client or load_api_client(
            s.kubeconfig, user_agent=f"{USER_AGENT} ({self.identity})")
        self.provider = make_provider(s)
        if self.provider is None:
            log.warning("no --prometheus-url: resources with spec.analysis will see query "
                        "errors and be rolled back, never promoted")
        self.reconciler = Reconciler(KubeClient(api_client), prober=HealthProber(),
                                     provider=self.provider)
        if s.metrics_port:
            start_http_server(s.metrics_port)
        log.info("operator started", namespaces=list(s.namespaces) or "all",
                 metrics_provider=s.metrics_provider,
                 prometheus=display_url(s.prometheus_url) if s.prometheus_url else None,
                 metrics_port=s.metrics_port, identity=self.identity,
                 selector=s.selector or None)
        if not s.leader_election:
            await self.on_started_leading()
            return
        store = KubeLeaseStore(self.reconciler.kube, s.lease_namespace or "default",
                               s.lease_name or lease_name(s.selector, s.namespaces))
        self.elector = LeaderElector(store, self.identity, LeaseTiming(
            s.lease_duration, s.lease_renew_deadline, s.lease_retry_period))
        self._campaign = asyncio.create_task(self.elector.run(self), name="leader-election")

    # -- what the kopf handlers call --

    def in_shard(self, labels: Any) -> bool:
        """The client-side check of ``--selector`` (the watch filters server-side too)."""
        return self.shard.matches(labels)

    def notify(self, namespace: str, name: str, *, deleted: bool = False,
               resource_version: str | None = None) -> None:
        """A watch event of a resource of our shard (``deleted``: gone, or left the shard)."""
        key = (namespace, name)
        if deleted:
            self.known.discard(key)
        else:
            self.known.add(key)
        if self.queue is not None:
            self.queue.notify(namespace, name, deleted=deleted,
                              resource_version=resource_version)

    def wake(self, namespace: str, name: str) -> None:
        """An object owned by ``namespace/name`` changed: a pass, if the resource is ours."""
        if self.queue is not None and (namespace, name) in self.known:
            self.queue.notify(namespace, name)

    # -- what leadership switches (controller.leader.Leadership) --

    async def on_started_leading(self) -> None:
        """Run passes from now on: every known resource gets one at once."""
        if self.reconciler is None or self.queue is not None:
            return
        self.queue = WorkQueue(self.reconciler)
        for namespace, name in sorted(self.known):
            self.queue.notify(namespace, name)
        log.info("acting on resources", identity=self.identity, resources=len(self.known))

    async def on_stopped_leading(self) -> None:
        """Run no pass from now on; return once the passes in flight ended or were cancelled."""
        queue, self.queue = self.queue, None
        if queue is not None:
            await queue.stop()
            log.info("stopped acting on resources", identity=self.identity)

    async def stop(self) -> None:
        campaign, self._campaign = self._campaign, None
        if campaign is not None:  # stops acting, then releases the Lease
            campaign.cancel()
            try:
                await campaign
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("leader election ended with an error")
        await self.on_stopped_leading()
        if self.reconciler is not None:
            await self.reconciler.prober.close()
        if self.provider is not None:
            await self.provider.close()
