"""A pod simulator: stands in for kubelet, the Deployment and ReplicaSet controllers and the
garbage collector.

Like the real Deployment controller, it keeps one ReplicaSet per pod template of each
Deployment, named ``<deployment>-<pod-template-hash>``, labelled with the template's labels plus
``pod-template-hash`` and owned by the Deployment (an ownerReference with its uid): the one of
the current template has ``spec.replicas`` of the Deployment, older ones are scaled to 0. Like
the ReplicaSet controller, it keeps that many pods per ReplicaSet, each owned by it (labels
copied from the ReplicaSet's template, so colour and revision are right), and deletes the
surplus. Like the garbage collector, it deletes ReplicaSets whose owning Deployment is gone and
pods whose owning ReplicaSet is gone (objects without an owner are left alone). Like kubelet it
marks pods Running and Ready (``ready_delay`` seconds after it created them) with podIP
127.0.0.1 and the port named by the template pointing at a local process that
``endpoint(deployment)`` chooses. When ``endpoint`` returns None the pods stay Pending
(readiness never reached) and the Deployment is looked at again every ``interval`` seconds.

Event-driven, like the real controllers: it runs in the API server's process, subscribed to
the store's change feed (the events the watch streams are made of; see
`finnexus_kit.podcache`), and a worker thread reconciles only the Deployments a change
concerns (a Deployment, one of its ReplicaSets or their pods), from that cache; it writes
through the HTTP API (one keep-alive connection), so its writes reach every watcher and the
request log like anybody's. Nothing is relisted; ``resync`` (seconds, off by default) looks
at every Deployment again, and ``sync()`` does once, at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import http.client
import json
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from finnexus_kit.apiserver import ApiRequestError, ApiServer, path_for
from finnexus_kit.follower import StoreFollower
from finnexus_kit.kubeapi.store import WatchEvent
from finnexus_kit.podcache import KINDS, OwnedObjects, Snapshot, ready

__all__ = ["POD_TEMPLATE_HASH", "USER_AGENT", "PodSimulator", "owner_reference",
           "pod_template_hash"]

Endpoint = Callable[[dict[str, Any]], int | None]
POD_TEMPLATE_HASH = "pod-template-hash"
USER_AGENT = "finnexus-kit-pods/1"
_API = {"deployments": "apps/v1", "replicasets": "apps/v1", "pods": "v1"}


def pod_template_hash(template: dict[str, Any]) -> str:
    """A stable hash of a pod template (the real controller uses FNV; any stable hash does)."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    """The controller ownerReference the real controllers put on what they create."""
    return {"apiVersion": owner.get("apiVersion", "apps/v1"), "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


class _Client:
    """One keep-alive HTTP connection to the API (the worker thread's only)."""

    def __init__(self, url: str) -> None:
        self._netloc = urllib.parse.urlsplit(url).netloc
        self._conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/merge-patch+json" if method == "PATCH"
                   else "application/json", "User-Agent": USER_AGENT}
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self._netloc, timeout=30)
            try:
                self._conn.request(method, path, body=data, headers=headers)
                response = self._conn.getresponse()
                payload = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                self.close()  # the server closed the idle connection: once more on a new one
                if attempt == 2:
                    raise
        text = payload.decode(errors="replace")
        try:
            decoded = json.loads(text) if text else None
        except ValueError:
            decoded = text
        if response.status >= 300:
            raise ApiRequestError(method, path, response.status, decoded)
        return decoded

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PodSimulator(StoreFollower):
    """Reconciles ReplicaSets and pods to Deployments in a background thread, on events."""

    thread_name = "pod-simulator"

    def __init__(self, api: ApiServer, namespace: str | None = "default", *,
                 endpoint: Endpoint, interval: float = 0.05, ready_delay: float = 0.0,
                 resync: float | None = None) -> None:
        super().__init__(api)
        self.namespace, self.endpoint = namespace, endpoint
        self.interval, self.ready_delay, self.resync = interval, ready_delay, resync
        self.cache = OwnedObjects(namespace)
        self.errors: list[str] = []
        self.reconciles = 0  # Deployments looked at so far
        self._client = _Client(api.url)
        self._dirty: set[str] = set()
        self._timers: list[tuple[float, str]] = []  # (when, uid): look again then
        self._serial = 0
        self._born: dict[str, float] = {}  # pod name -> when this simulator created it

    # -- what the follower asks of it (the life cycle is StoreFollower's) --

    def _closed(self) -> None:
        self._client.close()

    def _take(self, store: Any) -> None:
        for plural in KINDS:
            rtype = store.rtype(_API[plural], plural)
            for obj in store.items(rtype, store.keys(rtype, self.namespace)):
                todo = self.cache.apply(plural, "ADDED", obj, time.monotonic())
                with self._wake:
                    self._dirty |= todo

    def _on_change(self, event: WatchEvent) -> None:
        """In the API's loop, at each commit: keep the cache, note what to look at."""
        if event.rtype.plural not in KINDS or _API[event.rtype.plural] != event.rtype.api_version:
            return
        todo = self.cache.apply(event.rtype.plural, event.type, event.obj, time.monotonic())
        if todo:
            with self._wake:
                self._dirty |= todo
                self._wake.notify()

    # -- the worker --

    def _loop(self) -> None:
        next_resync = None if self.resync is None else time.monotonic() + self.resync
        while not self._stop.is_set():
            with self._wake:
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    self._dirty.add(heapq.heappop(self._timers)[1])
                if next_resync is not None and now >= next_resync:
                    self._dirty.update(self.cache.deployments())
                    next_resync = now + (self.resync or 0)
                if not self._dirty:
                    due = [when for when, _ in self._timers[:1]]
                    due += [next_resync] if next_resync is not None else []
                    self._wake.wait(max(0.0, min(due) - now) if due else None)
                    continue
                batch, self._dirty = self._dirty, set()
            for uid in sorted(batch):
                self._reconcile(uid)

    def _later(self, uid: str, when: float) -> None:
        with self._wake:
            heapq.heappush(self._timers, (when, uid))

    def sync(self) -> None:
        """Look at every Deployment once, now (and at what the changes it makes concern)."""
        self._subscribe()
        with self._wake:
            self._dirty.update(self.cache.deployments())
        for _ in range(100):  # until nothing is left to do (bounded)
            with self._wake:
                batch, self._dirty = self._dirty, set()
            if not batch:
                return
            for uid in sorted(batch):
                self._reconcile(uid)

    def _reconcile(self, uid: str) -> None:
        self.reconciles += 1
        try:
            snap = self.cache.snapshot(uid)
            if snap.deployment is None:
                for plural, obj in snap.orphans:  # the garbage collector
                    self._delete(plural, obj)
            else:
                self._sync_deployment(snap)
        except Exception as exc:  # keep simulating; tests read .errors
            self.errors.append(repr(exc))

    # -- the controllers --

    def _path(self, plural: str, namespace: str, name: str | None = None,
              sub: str | None = None) -> str:
        return path_for(_API[plural], plural, namespace, name, sub)

    def _delete(self, plural: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        with contextlib.suppress(ApiRequestError):  # gone meanwhile (the test deleted it)
            self._client.call("DELETE", self._path(plural, meta["namespace"], meta["name"]))

    def _sync_deployment(self, snap: Snapshot) -> None:
        """The Deployment controller: the current template's ReplicaSet at the Deployment's
        replicas, every older one at 0."""
        dep = snap.deployment
        assert dep is not None
        ns = dep["metadata"]["namespace"]
        template = dep["spec"].get("template") or {}
        want = int(dep["spec"].get("replicas") or 0)
        digest = pod_template_hash(template)
        current = next((r for r in snap.replicasets if ((r["metadata"].get("labels") or {})
                                                        .get(POD_TEMPLATE_HASH)) == digest), None)
        for rs in snap.replicasets:
            if rs is not current:
                if int(rs["spec"].get("replicas") or 0):
                    rs = self._client.call("PATCH", self._path("replicasets", ns,
                                                               rs["metadata"]["name"]),
                                           {"spec": {"replicas": 0}})
                self._sync_replicaset(dep, rs, snap.pods.get(rs["metadata"]["uid"], []))
        if current is None:
            labels = {**((template.get("metadata") or {}).get("labels") or {}),
                      POD_TEMPLATE_HASH: digest}
            match = ((dep["spec"].get("selector") or {}).get("matchLabels") or {})
            current = self._client.call("POST", self._path("replicasets", ns), {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{dep['metadata']['name']}-{digest}", "namespace": ns,
                             "labels": labels, "ownerReferences": [owner_reference(dep)]},
                "spec": {"replicas": want,
                         "selector": {"matchLabels": {**match, POD_TEMPLATE_HASH: digest}},
                         "template": {**template,
                                      "metadata": {**(template.get("metadata") or {}),
                                                   "labels": labels}}},
            })
        elif int(current["spec"].get("replicas") or 0) != want:
            current = self._client.call("PATCH", self._path("replicasets", ns,
                                                            current["metadata"]["name"]),
                                        {"spec": {"replicas": want}})
        assert current is not None
        self._sync_replicaset(dep, current, snap.pods.get(current["metadata"]["uid"], []))

    def _sync_replicaset(self, dep: dict[str, Any], rs: dict[str, Any],
                         mine: list[dict[str, Any]]) -> None:
        """The ReplicaSet controller and kubelet: ``spec.replicas`` pods owned by ``rs``."""
        ns = rs["metadata"]["namespace"]
        want = int(rs["spec"].get("replicas") or 0)
        template = rs["spec"].get("template") or {}
        for pod in mine[want:]:
            self._delete("pods", pod)
        port = self.endpoint(dep) if want else None
        if want and port is None:  # waiting for the endpoint: look again soon
            self._later(dep["metadata"]["uid"], time.monotonic() + self.interval)
        for pod in mine[:want]:
            name = pod["metadata"]["name"]
            if port is not None and not ready(pod):
                if _ports(pod) != {port}:  # created before its process listened: replace it
                    self._delete("pods", pod)
                    continue
                self._ready_when_due(dep, ns, name)
            elif port is None and ready(pod):
                self._mark(ns, name, {"phase": "Running",
                                      "conditions": [{"type": "Ready", "status": "False"}]})
        for _ in range(want - len(mine[:want])):
            self._serial += 1
            pod_name = f"{rs['metadata']['name']}-{self._serial}"
            self._client.call("POST", self._path("pods", ns), {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": ns,
                             "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                             "ownerReferences": [owner_reference(rs)]},
                "spec": _pod_spec(template, port or 1),
            })
            self._born[pod_name] = time.monotonic()
            if port is not None:
                self._ready_when_due(dep, ns, pod_name)

    def _ready_when_due(self, dep: dict[str, Any], ns: str, pod_name: str) -> None:
        due = self._born.get(pod_name, 0.0) + self.ready_delay
        if time.monotonic() < due:
            self._later(dep["metadata"]["uid"], due)
            return
        self._born.pop(pod_name, None)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._mark(ns, pod_name, {
            "phase": "Running", "podIP": "127.0.0.1", "hostIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]})

    def _mark(self, ns: str, pod_name: str, status: dict[str, Any]) -> None:
        self._client.call("PATCH", self._path("pods", ns, pod_name, "status"),
                          {"status": status})


def _ports(pod: dict[str, Any]) -> set[int]:
    return {p.get("containerPort") for c in (pod.get("spec") or {}).get("containers") or []
            for p in c.get("ports") or []}


def _pod_spec(template: dict[str, Any], port: int) -> dict[str, Any]:
    """The template's PodSpec with every declared container port pointing at ``port``."""
    spec = dict(template.get("spec") or {})
    containers = []
    for container in spec.get("containers") or []:
        container = dict(container)
        with contextlib.suppress(TypeError):
            ports = container.get("ports") or []
            container["ports"] = [{**p, "containerPort": port} for p in ports]
        containers.append(container)
    spec["containers"] = containers
    return spec
