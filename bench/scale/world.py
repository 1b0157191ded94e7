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
        kubeconfig = api.write_kubeconfig(Path(workdir) / "kubeconfig")
        conn.send({"url": api.url, "kubeconfig": kubeconfig, "health_port": health.port})
        store = emulator.store
        rtype = store.rtype(API, PLURAL)
        try:
            while True:
                try:
                    order = conn.recv()
                except EOFError:  # the bench is gone
                    return
                cmd, args = order[0], order[1:]
                if cmd == "stop":
                    conn.send(None)
                    return
                if cmd == "create":
                    def create(bodies: list[dict[str, Any]] = args[0]) -> None:
                        for body in bodies:
                            store.create(Route(rtype, NAMESPACE, None, None), body)
                    api.in_loop(create, timeout=120)
                    conn.send(None)
                elif cmd == "patch_all":
                    def patch(names: list[str] = args[0], data: Any = args[1]) -> None:
                        for name in names:
                            store.patch(Route(rtype, NAMESPACE, name, None), data, MERGE_PATCH)
                    api.in_loop(patch, timeout=120)
                    conn.send(None)
                elif cmd == "progress":
                    conn.send(api.in_loop(tracker.progress))
                elif cmd == "releases":
                    conn.send(api.in_loop(tracker.current_releases))
                elif cmd == "mark":
                    conn.send(api.requests.total)
                elif cmd == "count":
                    counts: collections.Counter[tuple[str, str]] = collections.Counter()
                    entries = api.requests.entries(args[0])[:args[1] - args[0]]
                    for method, path, query, agent, _ in entries:
                        if is_operator(agent):
                            counts[request_kind(method, path, query)] += 1
                    conn.send(dict(counts))
                elif cmd == "first_gets":  # when the operator first GOT each resource
                    first: dict[str, float] = {}
                    for m, p, q, a, t in api.requests.entries(args[0]):
                        if m == "GET" and is_operator(a) and "watch" not in q:
                            first.setdefault(p, t)
                    times = [first.get(f"/apis/{API}/namespaces/{NAMESPACE}/{PLURAL}/{name}")
                             for name in args[1]]
                    conn.send(None if None in times else max(t for t in times if t))
                elif cmd == "last_write":  # when the operator last wrote (since mark)
                    writes = [t for m, _, _, a, t in api.requests.entries(args[0])
                              if m != "GET" and is_operator(a)]
                    conn.send(max(writes, default=None))
                elif cmd == "errors":
                    conn.send(list(sim.errors))
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
