"""A pod simulator: stands in for kubelet and the Deployment controller.

For every Deployment in a namespace it keeps ``spec.replicas`` pods of the Deployment's current
template (labels copied, so colour and revision are right), deletes pods of older templates and
of scaled-down Deployments, and marks pods Running and Ready with podIP 127.0.0.1 and the port
named by the template pointing at a local process that ``endpoint(deployment)`` chooses. When
``endpoint`` returns None the pods stay Pending (readiness never reached).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_operator import constants

__all__ = ["PodSimulator"]

Endpoint = Callable[[dict[str, Any]], int | None]


class PodSimulator:
    """Reconciles pods to Deployments in a background thread (polling the API)."""

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
        pods = self.api.list(path_for("v1", "pods", ns))
        for dep in deployments:
            self._sync_one(dep, [p for p in pods if _selected(dep, p)])

    def _sync_one(self, dep: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        ns, name = self.namespace, dep["metadata"]["name"]
        template = dep["spec"].get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        revision = labels.get(constants.LABEL_REVISION)
        want = int(dep["spec"].get("replicas") or 0)
        current = [p for p in pods
                   if p["metadata"]["labels"].get(constants.LABEL_REVISION) == revision]
        stale = [p for p in pods if p not in current] + current[want:]
        for pod in stale:
            self.api.delete(path_for("v1", "pods", ns, pod["metadata"]["name"]))
        port = self.endpoint(dep) if want else None
        for pod in current[:want]:
            if port is not None and not _ready(pod):
                if _ports(pod) != {port}:  # created before its process listened: replace it
                    self.api.delete(path_for("v1", "pods", ns, pod["metadata"]["name"]))
                    continue
                self._mark_ready(pod["metadata"]["name"])
            elif port is None and _ready(pod):
                self._mark_unready(pod["metadata"]["name"])
        for _ in range(want - len(current[:want])):
            self._serial += 1
            pod_name = f"{name}-{revision or 'x'}-{self._serial}"
            spec = _pod_spec(template, port or 1)
            self.api.create(path_for("v1", "pods", ns), {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": ns,
                             "labels": dict((template.get("metadata") or {}).get("labels") or {})},
                "spec": spec,
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


def _selected(dep: dict[str, Any], pod: dict[str, Any]) -> bool:
    match = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


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
