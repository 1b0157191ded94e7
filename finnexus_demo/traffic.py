"""Production traffic for the demo: what an ingress controller would send, on loopback.

Every ``period`` seconds `Traffic` resolves the Ingress the way a controller does (Ingress
backend -> Service -> selector -> Ready pods -> podIP and the target port) and sends
``rps`` requests per second for that period to the pods found, with `load.generate_load`.
Traffic therefore follows the Ingress: after the operator's switch it reaches the candidate
(that is when its error rate and latency show in Prometheus), and a candidate that never got the
switch never sees a request. Answers are counted per revision.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_kit.load import generate_load
from finnexus_operator import constants

__all__ = ["Backend", "RevisionCounts", "Traffic", "ingress_backend", "resolve"]

Note = Callable[[str], None]


@dataclasses.dataclass
class RevisionCounts:
    """Requests one revision answered (or not)."""

    ok: int = 0
    errors: int = 0  # 5xx answers
    failed: int = 0  # no answer

    @property
    def total(self) -> int:
        return self.ok + self.errors + self.failed


@dataclasses.dataclass(frozen=True)
class Backend:
    """Where the Ingress sends requests right now."""

    service: str
    color: str | None
    urls_by_revision: dict[str, list[str]]


def ingress_backend(ingress: dict[str, Any] | None) -> str | None:
    """The Service name behind the first path of the first rule of an Ingress."""
    for rule in ((ingress or {}).get("spec") or {}).get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            name = ((path.get("backend") or {}).get("service") or {}).get("name")
            return str(name) if name else None
    return None


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return bool(status.get("podIP")) and any(
        cond.get("type") == "Ready" and cond.get("status") == "True"
        for cond in status.get("conditions") or []
    )


def _pod_port(pod: dict[str, Any], target: Any) -> int | None:
    if isinstance(target, int):
        return target
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    return None


def resolve(api: ApiServer, namespace: str, name: str) -> Backend | None:
    """Ingress ``name`` -> its backend Service -> the Ready pods it selects, as URLs."""
    service_name = ingress_backend(
        api.get(path_for("networking.k8s.io/v1", "ingresses", namespace, name))
    )
    if service_name is None:
        return None
    service = api.get(path_for("v1", "services", namespace, service_name))
    if service is None:
        return Backend(service_name, None, {})
    selector: dict[str, str] = (service.get("spec") or {}).get("selector") or {}
    ports = (service.get("spec") or {}).get("ports") or [{}]
    target = ports[0].get("targetPort", "http")
    urls: dict[str, list[str]] = collections.defaultdict(list)
    for pod in api.list(path_for("v1", "pods", namespace)):
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            continue
        port = _pod_port(pod, target)
        if _ready(pod) and port is not None:
            revision = labels.get(constants.LABEL_REVISION, "?")
            urls[revision].append(f"http://{pod['status']['podIP']}:{port}/")
    return Backend(service_name, selector.get(constants.LABEL_COLOR), dict(urls))


class Traffic:
    """Sends ``rps`` requests/s to wherever the Ingress points, from a thread of its own."""

    def __init__(
        self,
        api: ApiServer,
        namespace: str,
        name: str,
        *,
        rps: float,
        note: Note,
        describe: Callable[[str], str],
        period: float = 0.2,
    ) -> None:
        self.api, self.namespace, self.name = api, namespace, name
        self.rps, self.period = rps, period
        self._note, self._describe = note, describe
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._counts: dict[str, RevisionCounts] = collections.defaultdict(RevisionCounts)
        self.errors: list[str] = []

    def counts(self) -> dict[str, RevisionCounts]:
        """Answers per revision so far (a copy)."""
        with self._lock:
            return {rev: dataclasses.replace(n) for rev, n in self._counts.items()}

    def start(self) -> Traffic:
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), name="demo-traffic", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    async def _main(self) -> None:
        shown: tuple[str | None, tuple[str, ...]] | None = None
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            started = loop.time()
            try:
                backend = await asyncio.to_thread(resolve, self.api, self.namespace, self.name)
            except Exception as exc:  # the API went away (shutdown) or hiccuped: try again
                self.errors.append(repr(exc))
                backend = None
            targets = backend.urls_by_revision if backend else {}
            now = (backend.service if backend else None, tuple(sorted(targets)))
            if now != shown and (targets or shown is not None):
                shown = now
                self._note(self._summary(backend))
            if targets:
                await self._send(targets)
            rest = self.period - (loop.time() - started)
            if rest > 0:
                await asyncio.sleep(rest)

    def _summary(self, backend: Backend | None) -> str:
        if backend is None or not backend.urls_by_revision:
            where = backend.service if backend else "nothing"
            return f"traffic: the Ingress points at {where}, which has no Ready pods"
        parts = [
            f"{self._describe(rev)} ({len(urls)} pods)"
            for rev, urls in sorted(backend.urls_by_revision.items())
        ]
        return f"traffic: {self.rps:g} req/s via the Ingress -> {backend.service}: " + ", ".join(
            parts
        )

    async def _send(self, targets: dict[str, list[str]]) -> None:
        pods = sum(len(urls) for urls in targets.values())
        runs = [
            generate_load(
                urls, self.rps * len(urls) / pods, duration=self.period, request_timeout=2.0
            )
            for urls in targets.values()
        ]
        results = await asyncio.gather(*runs, return_exceptions=True)
        with self._lock:
            for revision, result in zip(targets, results, strict=True):
                if isinstance(result, BaseException):
                    self.errors.append(repr(result))
                    continue
                counts = self._counts[revision]
                counts.errors += sum(n for status, n in result.by_status.items() if status >= 500)
                counts.ok += sum(n for status, n in result.by_status.items() if status < 500)
                counts.failed += result.failed
