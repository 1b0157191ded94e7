"""`ApiServer`: the emulator served on 127.0.0.1 from its own thread, with a synchronous client.

The HTTP server is aiohttp's low-level server, not ``kmock.Server``: that one patches aiohttp's
DNS resolver process-wide and needs LIFO exits, which breaks with several servers in threads.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from finnexus_kit.kubeapi.emulator import Emulator, RequestLog
from finnexus_kit.kubeapi.hooks import Hook
from finnexus_kit.kubeapi.resources import Obj, Objs
from finnexus_kit.kubeapi.store import JSON_PATCH, MERGE_PATCH

__all__ = ["ApiRequestError", "ApiServer"]

T = TypeVar("T")


class ApiRequestError(Exception):
    """A non-2xx answer to the synchronous client; ``body`` is the decoded Status (or text)."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{method} {path}: HTTP {status}: {message}")
        self.status, self.body = status, body


class ApiServer:
    """An emulated Kubernetes API on 127.0.0.1 in its own thread and event loop."""

    def __init__(self, namespaces: Sequence[str] = ("default",), *,
                 request_cap: int | None = None) -> None:
        self.namespaces = tuple(namespaces)
        self.requests = RequestLog(request_cap)  # request_cap: keep only the last ones
        self.url = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self.emulator: Emulator | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self) -> ApiServer:
        if self._thread is not None:
            raise RuntimeError("the API server was already started")
        self._thread = threading.Thread(target=self._run, name="finnexus-apiserver", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=30) or self._failure is not None:
            raise RuntimeError("the emulated Kubernetes API did not start") from self._failure
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        emulator = self.emulator = Emulator(self.namespaces, self.requests)
        async with emulator:  # kmock renders its own errors only while entered
            runner = web.ServerRunner(web.Server(emulator, access_log=None), shutdown_timeout=2.0)
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
                self._ready.set()
                await self._stopping.wait()
            finally:
                emulator.close_watches()
                await runner.cleanup()

    # -- a test's hand inside the server (hooks run in its event loop) --

    def add_hook(self, hook: Hook) -> None:
        """Consult ``hook`` on every request from now on (see ``kubeapi.hooks``)."""
        self.in_loop(lambda: self._emulator().hooks.append(hook))

    def remove_hook(self, hook: Hook) -> None:
        def remove() -> None:
            if hook in self._emulator().hooks:
                self._emulator().hooks.remove(hook)
        self.in_loop(remove)

    def drop_watches(self, agent_prefix: str = "") -> int:
        """Cut the open watch streams of the clients whose User-Agent starts so."""
        return self.in_loop(lambda: self._emulator().drop_watches(agent_prefix))

    def in_loop(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn`` in the server's event loop (between two requests) and return its result:
        the way to read or hook the store from another thread, atomically."""
        loop = self._loop
        if loop is None or not loop.is_running():
            raise RuntimeError("the API server is not running")
        if threading.current_thread() is self._thread:
            return fn()

        async def run() -> T:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    def _emulator(self) -> Emulator:
        if self.emulator is None:
            raise RuntimeError("the API server is not running")
        return self.emulator

    def write_kubeconfig(self, path: str | os.PathLike[str]) -> str:
        """Write a kubeconfig for this server (usable by kubectl, kopf, kubernetes client)."""
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "emulator",
                          "cluster": {"server": self.url, "insecure-skip-tls-verify": True}}],
            "users": [{"name": "emulator", "user": {"token": "emulator-token"}}],
            "contexts": [{"name": "emulator", "context": {
                "cluster": "emulator", "user": "emulator", "namespace": "default"}}],
            "current-context": "emulator",
        }
        with open(path, "w", encoding="utf-8") as file:
            json.dump(config, file, indent=2)  # JSON is YAML
        return os.fspath(path)

    # -- a small synchronous client (plain HTTP; safe from any thread but the server's) --

    def _call(self, method: str, path: str, body: Any = None,
              content_type: str = "application/json") -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": content_type, "Accept": "application/json"})
        try:
            with self._opener.open(request, timeout=30) as response:
                return int(response.status), json.load(response)
        except urllib.error.HTTPError as err:
            text = err.read().decode(errors="replace")
            try:
                return err.code, json.loads(text)
            except ValueError:
                return err.code, text

    def _checked(self, method: str, path: str, body: Any = None,
                 content_type: str = "application/json") -> Any:
        status, data = self._call(method, path, body, content_type)
        if status >= 300:
            raise ApiRequestError(method, path, status, data)
        return data

    def get(self, path: str) -> Obj | None:
        """The object at ``path``, or None when it does not exist."""
        status, data = self._call("GET", path)
        if status == 404:
            return None
        if status >= 300:
            raise ApiRequestError("GET", path, status, data)
        result: Obj = data
        return result

    def list(self, path: str, label_selector: str | None = None) -> Objs:
        query = f"?{urllib.parse.urlencode({'labelSelector': label_selector})}"
        items: Objs = self._checked("GET", path + (query if label_selector else ""))["items"]
        return items

    def create(self, path: str, body: Obj) -> Obj:
        result: Obj = self._checked("POST", path, body)
        return result

    def patch(self, path: str, body: Obj | Objs, *, json_patch: bool = False) -> Obj:
        """Merge-patch (RFC 7386) by default; a JSON patch (RFC 6902) with ``json_patch``."""
        result: Obj = self._checked("PATCH", path, body, JSON_PATCH if json_patch else MERGE_PATCH)
        return result

    def delete(self, path: str) -> None:
        """Delete the object at ``path``; an object that is already gone is fine."""
        status, data = self._call("DELETE", path)
        if status >= 300 and status != 404:
            raise ApiRequestError("DELETE", path, status, data)
