"""The operator's view of the cluster: one informer per watched kind (and namespace), plus the
FinNexusDeployment bodies from kopf's watch of the resource.

Watched (:data:`WATCHED`): Deployments, Services, Ingresses, ControllerRevisions and Jobs labelled
``app.kubernetes.io/managed-by: finnexus-operator`` (every object the operator creates carries
it), and the ReplicaSets and pods that carry ``finnexus.ai/color`` (their labels come from our
pod templates). A pass reads from here (:meth:`ClusterCache.get`, :meth:`labelled`) and GETs
only what the cache cannot answer (an object of our name without our label: a 409 on create).

Our own writes: :meth:`absorb` is the API client's ``on_write`` hook, so the answer of every
create/patch (status writes included) is in the cache, and its resourceVersion recorded as
ours, before the caller continues. A watch event carrying that resourceVersion then changes
nothing and wakes nobody (:meth:`is_own` lets the work queue drop one that arrived while the
pass that caused it was still running).

Passes wait for :meth:`wait_synced` (every informer has listed once): a missing object in an
unsynced cache would otherwise lead to a create.

Shared SLO templates: one more informer, cluster-scoped (FinNexusAnalysisTemplates have no
namespace; it runs once whatever the watched namespaces), unfiltered (nobody labels them).
A template change wakes every known resource whose ``spec.analysis.templates`` names it
(:class:`TemplateInformer`); what the change does to a rollout under way is the core's
(``core.slo_pin``: nothing until the next rollout).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from finnexus_operator import constants
from finnexus_operator.adapters.informer import Cause, Informer, Key, Wake, newer, slim
from finnexus_operator.adapters.kube import KubeClient

__all__ = ["MANAGED_SELECTOR", "WATCHED", "ClusterCache", "TemplateInformer"]

MANAGED_SELECTOR = f"{constants.LABEL_MANAGED_BY}={constants.MANAGED_BY}"
WATCHED: tuple[tuple[str, str, str, str], ...] = (  # kind, apiVersion, plural, selector
    ("Deployment", "apps/v1", "deployments", MANAGED_SELECTOR),
    ("Service", "v1", "services", MANAGED_SELECTOR),
    ("Ingress", "networking.k8s.io/v1", "ingresses", MANAGED_SELECTOR),
    ("ControllerRevision", "apps/v1", "controllerrevisions", MANAGED_SELECTOR),
    ("Job", "batch/v1", "jobs", MANAGED_SELECTOR),  # hook Jobs (spec.hooks)
    ("ReplicaSet", "apps/v1", "replicasets", constants.LABEL_COLOR),
    ("Pod", "v1", "pods", constants.LABEL_COLOR),
)


def _nobody(namespace: str, name: str, cause: Cause) -> None:
    pass


class TemplateInformer(Informer):
    """The FinNexusAnalysisTemplates: a change wakes the resources that name the template
    (they are not its owners: ``users`` finds them)."""

    def __init__(self, kube: KubeClient, users: Callable[[str], list[tuple[str, str]]],
                 wake: Wake, *, watch_timeout: int = 300) -> None:
        super().__init__(kube, constants.TEMPLATE_KIND, constants.API_VERSION,
                         constants.TEMPLATE_PLURAL, "", None, wake, watch_timeout=watch_timeout)
        self.users = users

    def _wake(self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, key: Key,
              rv: str | None) -> None:
        for namespace, name in self.users(key[1]):
            self.wake(namespace, name, (self.kind, "", key[1], rv))


class ClusterCache:
    """Informers for what the resources own, and the resources' bodies."""

    def __init__(self, kube: KubeClient, namespaces: tuple[str, ...] = (), *,
                 wake: Wake = _nobody, watch_timeout: int = 300) -> None:
        self.wake = wake
        self.informers: dict[str, list[Informer]] = {
            kind: [Informer(kube, kind, api_version, plural, selector, ns, self._wake,
                            watch_timeout=watch_timeout)
                   for ns in (namespaces or (None,))]
            for kind, api_version, plural, selector in WATCHED}
        self.templates = TemplateInformer(kube, self.template_users, self._wake,
                                          watch_timeout=watch_timeout)
        self.informers[constants.TEMPLATE_KIND] = [self.templates]
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self._own: dict[tuple[str, str, str], str] = {}  # our writes' resourceVersions
        self._tasks: list[asyncio.Task[None]] = []

    def _wake(self, namespace: str, name: str, cause: Cause) -> None:
        kind, ns, obj_name, _ = cause
        if self.get(kind, ns, obj_name) is None:  # gone: forget our last write of it
            self._own.pop((kind, ns, obj_name), None)
        self.wake(namespace, name, cause)

    # -- lifecycle --
    def start(self) -> None:
        for kind, informers in self.informers.items():
            for informer in informers:
                self._tasks.append(asyncio.create_task(
                    informer.run(), name=f"informer:{kind}:{informer.namespace or '*'}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    @property
    def synced(self) -> bool:
        return all(i.synced.is_set() for infs in self.informers.values() for i in infs)

    async def wait_synced(self) -> None:
        for informers in self.informers.values():
            for informer in informers:
                await informer.synced.wait()

    # -- reads --
    def _informer(self, kind: str, namespace: str) -> Informer | None:
        for informer in self.informers.get(kind, ()):
            if informer.namespace in (None, namespace):
                return informer
        return None

    def watches(self, kind: str, namespace: str) -> bool:
        return self._informer(kind, namespace) is not None

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        informer = self._informer(kind, namespace)
        return None if informer is None else informer.get(namespace, name)

    def labelled(self, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
        informer = self._informer(kind, namespace)
        return [] if informer is None else informer.labelled(namespace, name)

    def resource(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.resources.get((namespace, name))

    def template(self, name: str) -> dict[str, Any] | None:
        """A FinNexusAnalysisTemplate (cluster-scoped) as last seen."""
        return self.templates.get("", name)

    def template_users(self, template: str) -> list[tuple[str, str]]:
        """The known resources whose spec.analysis.templates names ``template``."""
        out = []
        for key, body in self.resources.items():
            analysis = (body.get("spec") or {}).get("analysis")
            names = analysis.get("templates") if isinstance(analysis, Mapping) else None
            if isinstance(names, list) and template in names:
                out.append(key)
        return sorted(out)

    # -- our own writes --
    def absorb(self, obj: Mapping[str, Any]) -> None:
        """A write's answer: into the cache at once, its resourceVersion recorded as ours."""
        meta = obj.get("metadata") or {}
        kind, ns, name = str(obj.get("kind") or ""), meta.get("namespace"), meta.get("name")
        rv = meta.get("resourceVersion")
        if not ns or not name:
            return
        if kind == constants.KIND:
            self._own[(kind, ns, name)] = str(rv)
            self._keep_resource(obj)
            return
        informer = self._informer(kind, ns)
        if informer is not None:
            if rv is not None:
                self._own[(kind, ns, name)] = str(rv)
            informer.apply(obj, wake=False)

    def forget(self, kind: str, namespace: str, name: str) -> None:
        """We deleted it: gone from the cache now, its DELETED event wakes nobody."""
        informer = self._informer(kind, namespace)
        if informer is not None:
            informer.remove((namespace, name), wake=False)
        self._own.pop((kind, namespace, name), None)

    def is_own(self, cause: Cause) -> bool:
        """The event is the echo of one of our writes (its exact resourceVersion)."""
        kind, ns, name, rv = cause
        return rv is not None and self._own.get((kind, ns, name)) == rv

    # -- the resource, from kopf's watch --
    def _keep_resource(self, body: Mapping[str, Any]) -> bool:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        held = self.resources.get(key)
        rv = meta.get("resourceVersion")
        if held is not None and not newer(None if rv is None else str(rv),
                                          (held.get("metadata") or {}).get("resourceVersion")):
            return False
        self.resources[key] = slim(body)
        return True

    def resource_event(self, type_: str, body: Mapping[str, Any]) -> Cause | None:
        """A watch event of a FinNexusDeployment; the cause to wake it with (None: nothing
        new — an older version, or the echo of our own write)."""
        meta = body.get("metadata") or {}
        ns, name = str(meta.get("namespace")), str(meta.get("name"))
        rv = meta.get("resourceVersion")
        cause: Cause = (constants.KIND, ns, name, None if rv is None else str(rv))
        if type_ == "DELETED":
            self.resources.pop((ns, name), None)
            for key in [k for k in self._own if k[1:] == (ns, name) and k[0] == constants.KIND]:
                del self._own[key]
            return cause
        if not self._keep_resource(body) or self.is_own(cause):
            return None
        return cause
