"""The emulated cluster of the benchmark, in a process of its own: the API, the pod simulator
(in the API's process, on its change feed), one shared health server answering 200 and the
:class:`~bench.scale.tracker.Tracker`. The bench drives it over a pipe (:class:`World`).

The bench's own writes (creating the resources, the release) are made inside the API's event
loop, all at once in one step, without HTTP: they reach the watchers like any change.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import multiprocessing
import multiprocessing.connection
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.scale.tracker import Tracker, is_operator
from finnexus_kit.apiserver import ApiServer
from finnexus_kit.kubeapi.store import MERGE_PATCH, Route
from finnexus_kit.kubelet import PodSimulator

__all__ = ["NAMESPACE", "World", "request_kind"]

NAMESPACE = "default"
API, PLURAL = "finnexus.ai/v1alpha1", "finnexusdeployments"


def request_kind(method: str, path: str, query: dict[str, str]) -> tuple[str, str]:
    """(verb, resource) of one request: ``get``/``list``/``watch``/``create``/``patch``/...,
    and the plural (with ``/status`` for the subresource)."""
    segments = path.strip("/").split("/")
    rest = segments[2:] if segments[:1] == ["api"] else segments[3:]
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) > 2:
        rest = rest[2:]
    plural = rest[0] if rest else path
    named = len(rest) > 1
    sub = f"/{rest[2]}" if len(rest) > 2 else ""
    verb = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}.get(method)
    if verb is None:
        verb = ("watch" if query.get("watch") in ("true", "1") else
                "get" if named else "list")
    return verb, plural + sub


class _Health:
    """An HTTP server on 127.0.0.1 answering 200 on every path, in its own thread and loop."""

    def __init__(self) -> None:
        self.port = 0
        self._ready = threading.Event()
        threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True).start()
        self._ready.wait(10)

    async def _serve(self) -> None:
        async def ok(request: web.BaseRequest) -> web.Response:
            return web.Response(text="ok")
        runner = web.ServerRunner(web.Server(ok, access_log=None))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.port = int(runner.addresses[0][1])
        self._ready.set()
        await asyncio.Event().wait()


class _Commands:
    """What the bench can ask the world, one method per command (``ask(name, *args)``)."""

    def __init__(self, api: ApiServer, tracker: Tracker, sim: PodSimulator) -> None:
        self.api, self.tracker, self.sim = api, tracker, sim
        emulator = api.emulator
        assert emulator is not None
        self.store = emulator.store
        self.rtype = self.store.rtype(API, PLURAL)

    def create(self, bodies: list[dict[str, Any]]) -> None:
        """Create every resource in one step of the API's loop."""
        def create() -> None:
            for body in bodies:
                self.store.create(Route(self.rtype, NAMESPACE, None, None), body)
        self.api.in_loop(create, timeout=120)

    def patch_all(self, names: list[str], data: Any) -> None:
        """Merge-patch every named resource in one step of the API's loop."""
        def patch() -> None:
            for name in names:
                self.store.patch(Route(self.rtype, NAMESPACE, name, None), data, MERGE_PATCH)
        self.api.in_loop(patch, timeout=120)

    def progress(self) -> dict[str, int]:
        return self.api.in_loop(self.tracker.progress)

    def releases(self) -> dict[str, dict[str, Any]]:
        return self.api.in_loop(self.tracker.current_releases)

    def mark(self) -> int:
        """Where the request log is now (pass it to the counting commands)."""
        return self.api.requests.total

    def count(self, start: int, end: int) -> dict[tuple[str, str], int]:
        """The operator's requests between two marks, by (verb, resource)."""
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        for method, path, query, agent, _ in self.api.requests.entries(start)[:end - start]:
            if is_operator(agent):
                counts[request_kind(method, path, query)] += 1
        return dict(counts)

    def first_gets(self, start: int, names: list[str]) -> float | None:
        """When the operator had GOT every named resource since ``start`` (None: not yet)."""
        first: dict[str, float] = {}
        for method, path, query, agent, at in self.api.requests.entries(start):
            if method == "GET" and is_operator(agent) and "watch" not in query:
                first.setdefault(path, at)
        times = [first.get(f"/apis/{API}/namespaces/{NAMESPACE}/{PLURAL}/{name}")
                 for name in names]
        return None if None in times else max(t for t in times if t is not None)

    def last_write(self, start: int) -> float | None:
        """When the operator last wrote since ``start`` (None: it has not)."""
        return max((at for method, _, _, agent, at in self.api.requests.entries(start)
                    if method != "GET" and is_operator(agent)), default=None)

    def errors(self) -> list[str]:
        return list(self.sim.errors)


def _serve(conn: multiprocessing.connection.Connection, workdir: str, replicas: int,
           ready_delay: float, request_cap: int | None) -> None:
    """The world process: serve until told to stop or the bench is gone."""
    health = _Health()
    with ApiServer((NAMESPACE,), request_cap=request_cap) as api:
        emulator = api.emulator
        assert emulator is not None
        tracker: Tracker = api.in_loop(lambda: Tracker(emulator, replicas))
        sim = PodSimulator(api, NAMESPACE, endpoint=lambda dep: health.port, interval=0.5,
                           ready_delay=ready_delay).start()
        commands = _Commands(api, tracker, sim)
        kubeconfig = api.write_kubeconfig(Path(workdir) / "kubeconfig")
        conn.send({"url": api.url, "kubeconfig": kubeconfig, "health_port": health.port})
        try:
            while True:
                try:
                    name, *args = conn.recv()
                except EOFError:  # the bench is gone
                    return
                if name == "stop":
                    conn.send(None)
                    return
                conn.send(getattr(commands, name)(*args))
        finally:
            sim.stop()


class World:
    """The bench's handle on the world process."""

    def __init__(self, workdir: Path, *, replicas: int, ready_delay: float = 0.0,
                 request_cap: int | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, daemon=True, name="bench-world",
                                   args=(child, str(workdir), replicas, ready_delay,
                                         request_cap))
        self.process.start()
        child.close()
        if not self._conn.poll(60):
            raise RuntimeError("the emulated API did not start")
        info = self._conn.recv()
        self.url, self.kubeconfig = info["url"], info["kubeconfig"]
        assert self.process.pid is not None
        self.pid: int = self.process.pid

    def ask(self, *order: Any, timeout: float = 120) -> Any:
        self._conn.send(order)
        if not self._conn.poll(timeout):
            raise TimeoutError(f"the world did not answer {order[0]!r}")
        return self._conn.recv()

    def close(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError, EOFError, TimeoutError):
                self.ask("stop", timeout=10)
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
