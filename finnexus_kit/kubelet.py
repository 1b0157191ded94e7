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
marks pods Running and Ready with podIP 127.0.0.1 and the port named by the template pointing
at a local process that ``endpoint(deployment)`` chooses. When ``endpoint`` returns None the
pods stay Pending (readiness never reached).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from finnexus_kit.apiserver import ApiRequestError, ApiServer, path_for

__all__ = ["POD_TEMPLATE_HASH", "PodSimulator", "owner_reference", "pod_template_hash"]

Endpoint = Callable[[dict[str, Any]], int | None]
POD_TEMPLATE_HASH = "pod-template-hash"


def pod_template_hash(template: dict[str, Any]) -> str:
    """A stable hash of a pod template (the real controller uses FNV; any stable hash does)."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    """The controller ownerReference the real controllers put on what they create."""
    return {"apiVersion": owner.get("apiVersion", "apps/v1"), "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _owner_uids(obj: dict[str, Any], kind: str) -> set[str]:
    return {ref.get("uid") for ref in (obj.get("metadata") or {}).get("ownerReferences") or []
            if ref.get("kind") == kind}


class PodSimulator:
    """Reconciles ReplicaSets and pods to Deployments in a background thread (polling the API)."""

    def __init__(self, api: ApiServer, namespace: str = "default", *, endpoint: Endpoint,
                 interval: float = 0.05) -> None:
        self.api, self.namespace, self.endpoint, self.interval = api, namespace, endpoint, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._serial = 0
        self.errors: list[str] = []

    def start(self) -> PodSimulator:
        self._thread = threading.Thread(target=self._loop, name="pod-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> PodSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync()
            except Exception as exc:  # keep simulating; tests read .errors
                self.errors.append(repr(exc))

    def sync(self) -> None:
        """One pass over every Deployment of the namespace."""
        ns = self.namespace
        deployments = self.api.list(path_for("apps/v1", "deployments", ns))
        replicasets = self.api.list(path_for("apps/v1", "replicasets", ns))
        pods = self.api.list(path_for("v1", "pods", ns))
        # The garbage collector: what a deleted owner leaves behind goes first.
        live = {d["metadata"]["uid"] for d in deployments}
        for rs in [r for r in replicasets if _orphaned(r, "Deployment", live)]:
            self._delete("replicasets", rs)
            replicasets.remove(rs)
        live = {r["metadata"]["uid"] for r in replicasets}
        for pod in [p for p in pods if _orphaned(p, "ReplicaSet", live)]:
            self._delete("pods", pod)
            pods.remove(pod)
        for dep in deployments:
            uid = dep["metadata"]["uid"]
            owned = [r for r in replicasets if uid in _owner_uids(r, "Deployment")]
            self._sync_deployment(dep, owned, pods)

    def _delete(self, plural: str, obj: dict[str, Any]) -> None:
        api_version = "v1" if plural == "pods" else "apps/v1"
        with contextlib.suppress(ApiRequestError):  # gone meanwhile (the test deleted it)
            self.api.delete(path_for(api_version, plural, self.namespace,
                                     obj["metadata"]["name"]))

    def _sync_deployment(self, dep: dict[str, Any], replicasets: list[dict[str, Any]],
                         pods: list[dict[str, Any]]) -> None:
        """The Deployment controller: the current template's ReplicaSet at the Deployment's
        replicas, every older one at 0."""
        ns = self.namespace
        template = dep["spec"].get("template") or {}
        want = int(dep["spec"].get("replicas") or 0)
        digest = pod_template_hash(template)
        current = next((r for r in replicasets if ((r["metadata"].get("labels") or {})
                                                   .get(POD_TEMPLATE_HASH)) == digest), None)
        for rs in replicasets:
            if rs is not current:
                if int(rs["spec"].get("replicas") or 0):
                    rs = self.api.patch(path_for("apps/v1", "replicasets", ns,
                                                 rs["metadata"]["name"]),
                                        {"spec": {"replicas": 0}})
                self._sync_replicaset(dep, rs, pods)
        if current is None:
            labels = {**((template.get("metadata") or {}).get("labels") or {}),
                      POD_TEMPLATE_HASH: digest}
            match = ((dep["spec"].get("selector") or {}).get("matchLabels") or {})
            current = self.api.create(path_for("apps/v1", "replicasets", ns), {
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
            current = self.api.patch(path_for("apps/v1", "replicasets", ns,
                                              current["metadata"]["name"]),
                                     {"spec": {"replicas": want}})
        self._sync_replicaset(dep, current, pods)

    def _sync_replicaset(self, dep: dict[str, Any], rs: dict[str, Any],
                         pods: list[dict[str, Any]]) -> None:
        """The ReplicaSet controller and kubelet: ``spec.replicas`` pods owned by ``rs``."""
        ns = self.namespace
        uid = rs["metadata"]["uid"]
        mine = [p for p in pods if uid in _owner_uids(p, "ReplicaSet")]
        want = int(rs["spec"].get("replicas") or 0)
        template = rs["spec"].get("template") or {}
        for pod in mine[want:]:
            self._delete("pods", pod)
        port = self.endpoint(dep) if want else None
        for pod in mine[:want]:
            if port is not None and not _ready(pod):
                if _ports(pod) != {port}:  # created before its process listened: replace it
                    self._delete("pods", pod)
                    continue
                self._mark_ready(pod["metadata"]["name"])
            elif port is None and _ready(pod):
                self._mark_unready(pod["metadata"]["name"])
        for _ in range(want - len(mine[:want])):
            self._serial += 1
            pod_name = f"{rs['metadata']['name']}-{self._serial}"
            self.api.create(path_for("v1", "pods", ns), {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": ns,
                             "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                             "ownerReferences": [owner_reference(rs)]},
                "spec": _pod_spec(template, port or 1),
            })
            if port is not None:
                self._mark_ready(pod_name)

    def _mark_ready(self, pod_name: str) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.api.patch(path_for("v1", "pods", self.namespace, pod_name, "status"), {"status": {
            "phase": "Running", "podIP": "127.0.0.1", "hostIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
        }})

    def _mark_unready(self, pod_name: str) -> None:
        self.api.patch(path_for("v1", "pods", self.namespace, pod_name, "status"), {"status": {
            "phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}})


def _orphaned(obj: dict[str, Any], owner_kind: str, live: set[str]) -> bool:
    """``obj`` has owners of ``owner_kind`` and none of them exists any more."""
    owners = _owner_uids(obj, owner_kind)
    return bool(owners) and not owners & live


def _ports(pod: dict[str, Any]) -> set[int]:
    return {p.get("containerPort") for c in (pod.get("spec") or {}).get("containers") or []
            for p in c.get("ports") or []}


def _ready(pod: dict[str, Any]) -> bool:
    return any(cond.get("type") == "Ready" and cond.get("status") == "True"
               for cond in (pod.get("status") or {}).get("conditions") or [])


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
