"""Everything one operator process shares: the API client, the informer cache, the work queue,
the prober, the metric provider, the notifier and the Lease elector.

The wiring of one event: kopf's watch of the resource, or an informer of what it owns, hands
a change to the cache; the cache wakes the resource in the work queue (unless the change is
the echo of our own write); a worker runs its pass, reading the cache. The periodic safety
resync (``--resync-seconds``) runs every known resource's pass again, from the cache.

Leadership gates the work (issue 9 item 6): the watches and the cache always run (a standby
keeps its view of the cluster, so it takes over without a relist), but passes run only while
this instance leads. :meth:`Runtime.on_started_leading` builds the work queue and gives every
known resource a pass; :meth:`Runtime.on_stopped_leading` stops the queue and waits for the
passes in flight to end or be cancelled. Without ``--leader-election`` the runtime leads from
the start; with it, a :class:`~finnexus_operator.controller.leader.LeaderElector` on the
shard's Lease switches it. Only resources of this instance's shard (``--selector``) are known.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Mapping
from typing import Any

from prometheus_client import start_http_server

from finnexus_operator.adapters import notify
from finnexus_operator.adapters.cache import ClusterCache
from finnexus_operator.adapters.health import HealthProber
from finnexus_operator.adapters.informer import Cause
from finnexus_operator.adapters.kube import USER_AGENT, KubeClient, load_config
from finnexus_operator.adapters.kubeauth import ClientConfig
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
from finnexus_operator.controller.notifier import Notifier
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
        self._api_client = api_client  # a ClientConfig or a ``kubernetes`` ApiClient
        self.kube: KubeClient | None = None
        self.cache: ClusterCache | None = None
        self.queue: WorkQueue | None = None
        self.reconciler: Reconciler | None = None
        self.provider: MetricProvider | None = None
        self.notifier: Notifier | None = None
        self._resync: asyncio.Task[None] | None = None
        # -- leadership and the shard (issue 9 items 6-7) --
        self.identity = settings.instance_id or default_identity()
        self.shard = LabelSelector.parse(settings.selector)
        self.known: set[Key] = set()  # resources of our shard that exist (from the watch)
        self.elector: LeaderElector | None = None
        self._lease_kube: KubeClient | None = None
        self._campaign: asyncio.Task[None] | None = None

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
        config = self._client_config(
            self._api_client or await asyncio.to_thread(load_config, s.kubeconfig))
        self.kube = kube = KubeClient(config, qps=s.api_qps, burst=s.api_burst)
        self.cache = cache = ClusterCache(kube, () if s.clusterwide else s.namespaces)
        kube.on_write = cache.absorb  # a write's answer is in the cache before anything else
        self.reconciler = Reconciler(
            kube, prober=HealthProber(max_concurrent=s.max_concurrent_probes),
            provider=self.provider, cache=cache, notifier=self.notifier)
        cache.wake = self._wake
        cache.start()  # a standby watches too: it takes over without a relist
        if s.resync_seconds > 0:
            self._resync = asyncio.create_task(self._resync_loop(s.resync_seconds))
        if s.metrics_port:
            start_http_server(s.metrics_port)
        log.info("operator started", namespaces=list(s.namespaces) or "all",
                 metrics_provider=s.metrics_provider,
                 prometheus=display_url(s.prometheus_url) if s.prometheus_url else None,
                 metrics_port=s.metrics_port, workers=s.workers, api_qps=s.api_qps,
                 api_burst=s.api_burst, resync_seconds=s.resync_seconds,
                 notification_receivers=[r.name for r in self.notifier.receivers],
                 identity=self.identity, selector=s.selector or None)
        if not s.leader_election:
            await self.on_started_leading()
            return
        # The Lease has a client of its own: no rate limit to starve a renewal, no cache hook.
        self._lease_kube = KubeClient(config, qps=0, burst=0)
        store = KubeLeaseStore(self._lease_kube, s.lease_namespace or "default",
                               s.lease_name or lease_name(s.selector, s.namespaces))
        self.elector = LeaderElector(store, self.identity, LeaseTiming(
            s.lease_duration, s.lease_renew_deadline, s.lease_retry_period))
        self._campaign = asyncio.create_task(self.elector.run(self), name="leader-election")

    def _client_config(self, config: ClientConfig | Any) -> ClientConfig:
        """The API client's config, its User-Agent naming this instance (two replicas'
        requests are told apart in the API server's audit log)."""
        if not isinstance(config, ClientConfig):  # a ``kubernetes`` ApiClient
            config = ClientConfig.from_kubernetes(config.configuration,
                                                  getattr(config, "user_agent", None))
        if config.user_agent.endswith(f"({self.identity})"):
            return config
        return dataclasses.replace(config, user_agent=f"{USER_AGENT} ({self.identity})")

    # -- what the kopf handlers and the informers call --

    def in_shard(self, labels: Any) -> bool:
        """The client-side check of ``--selector`` (the watch filters server-side too)."""
        return self.shard.matches(labels)

    def _wake(self, namespace: str, name: str, cause: Cause) -> None:
        """An object owned by ``namespace/name`` changed: a pass, if the resource is ours."""
        if self.queue is not None and (namespace, name) in self.known:
            self.queue.notify(namespace, name, cause=cause)

    def resource_event(self, type_: str, body: Mapping[str, Any]) -> None:
        """A watch event of a FinNexusDeployment (from kopf): cache it, wake its pass. One
        outside our shard (``--selector``, checked here too) counts as deleted."""
        if self.cache is None:
            return
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace"), meta.get("name")
        if not namespace or not name:
            return
        key = (str(namespace), str(name))
        if type_ != "DELETED" and not self.in_shard(meta.get("labels") or {}):
            type_ = "DELETED"
        cause = self.cache.resource_event(type_, body)
        if type_ == "DELETED":
            self.known.discard(key)
            if self.queue is not None:
                self.queue.notify(*key, deleted=True)
            return
        self.known.add(key)
        if cause is not None and self.queue is not None:
            self.queue.notify(*key, cause=cause)

    async def _resync_loop(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            if self.queue is not None:
                self.queue.resync(sorted(self.known))

    # -- what leadership switches (controller.leader.Leadership) --

    async def on_started_leading(self) -> None:
        """Run passes from now on: every known resource gets one at once."""
        if self.reconciler is None or self.cache is None or self.queue is not None:
            return
        self.queue = WorkQueue(self.reconciler, workers=self.settings.workers,
                               is_own=self.cache.is_own)
        self.queue.resync(sorted(self.known))
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
        if self._resync is not None:
            self._resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync
        await self.on_stopped_leading()
        if self.cache is not None:
            await self.cache.stop()
        if self.reconciler is not None:
            await self.reconciler.prober.close()
        if self.provider is not None:
            await self.provider.close()
        if self.notifier is not None:
            await self.notifier.stop()
        for kube in (self.kube, self._lease_kube):
            if kube is not None:
                await kube.close()
