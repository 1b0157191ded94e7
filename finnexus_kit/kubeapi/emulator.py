"""The HTTP face of the emulated API: kmock's discovery plus routes to the store and watches."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import kmock
from aiohttp import web

from finnexus_kit.kubeapi import openapi
from finnexus_kit.kubeapi.hooks import Call, CutStream, Fault, Hook
from finnexus_kit.kubeapi.printer import as_table, columns_for, wants_table
from finnexus_kit.kubeapi.resources import (
    NAMESPACES,
    RESOURCES,
    VERBS,
    Obj,
    ResourceType,
    StatusError,
)
from finnexus_kit.kubeapi.store import ObjectTable, Route
from finnexus_kit.kubeapi.watch import Watches

__all__ = ["Emulator", "Request", "RequestLog"]

Request = tuple[str, str, dict[str, str]]


class RequestLog:
    """Every request the server received, as (method, path, query); thread-safe.

    The User-Agent and the arrival time (``time.monotonic()``, one clock for every process
    of the machine) of each are kept too, in one append-only list. With ``cap`` only the last
    ``cap`` entries are kept (a long benchmark); ``total`` still counts every request, and
    ``entries(start)`` reads by that running count.
    """

    def __init__(self, cap: int | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[str, str, dict[str, str], str, float]] = []
        self._dropped = 0  # entries trimmed off the front (cap)
        self.cap = cap

    def add(self, method: str, path: str, query: Mapping[str, str], user_agent: str = "") -> None:
        entry = (method, path, dict(query), user_agent, time.monotonic())
        with self._lock:
            self._entries.append(entry)
            if self.cap is not None and len(self._entries) > 2 * self.cap:  # trim in chunks
                cut = len(self._entries) - self.cap
                del self._entries[:cut]
                self._dropped += cut

    @property
    def total(self) -> int:
        """How many requests were received since the start (or the last clear)."""
        with self._lock:
            return self._dropped + len(self._entries)

    def entries(self, start: int = 0) -> list[tuple[str, str, dict[str, str], str, float]]:
        """(method, path, query, User-Agent, time) of request number ``start`` (0-based, by
        ``total``) onwards, as far as the cap kept them."""
        with self._lock:
            return self._entries[max(0, start - self._dropped):]

    def timed(self, prefix: str = "") -> list[tuple[float, Request]]:
        """(arrival time, request) of the requests whose User-Agent starts with ``prefix``."""
        with self._lock:
            return [(t, (m, p, q)) for m, p, q, a, t in self._entries if a.startswith(prefix)]

    def by_agent(self, prefix: str) -> list[Request]:
        """The requests whose User-Agent starts with ``prefix`` (e.g. one client's calls)."""
        with self._lock:
            return [(m, p, q) for m, p, q, a, _ in self._entries if a.startswith(prefix)]

    def all(self) -> list[Request]:
        with self._lock:
            return [(m, p, q) for m, p, q, _, _ in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._dropped = 0


class Emulator(kmock.KubernetesScaffold):
    """kmock's discovery scaffold plus a stateful, version-stamping object store.

    All state changes happen synchronously inside the event loop (never across an ``await``),
    so each request's change and its watch events are atomic without locks.
    """

    def __init__(self, namespaces: Iterable[str], log: RequestLog,
                 resources: Iterable[ResourceType] = RESOURCES) -> None:
        super().__init__()
        self._log = log
        self._types = {(r.api_version, r.plural): r for r in resources}
        self._store = ObjectTable(self._types.values())
        self._watches = Watches(self._store)
        self.hooks: list[Hook] = []  # consulted per request to a served resource, in order
        self.current: Call | None = None  # the request whose change the store commits now
        for r in self._types.values():
            self.resources[kmock.resource(r.group, r.version, r.plural)] = kmock.ResourceInfo(
                kind=r.kind, singular=r.kind.lower(), namespaced=r.namespaced, verbs=VERBS,
                shortnames=r.short_names, subresources={"status"} if r.status else set())
        for ns in namespaces:
            self._store.create(Route(NAMESPACES, None, None, None), {"metadata": {"name": ns}})

    # HTTP entry point (aiohttp's low-level server calls the handler with each request).
    async def __call__(self, raw: web.BaseRequest) -> web.StreamResponse:
        query = dict(raw.query)
        self._log.add(raw.method, raw.path, query, raw.headers.get("User-Agent", ""))
        route = self._route(raw.path)
        if raw.path in openapi.PATHS:  # what kubectl apply's validation downloads
            return openapi.answer(raw.path, raw.headers.get("Accept", ""))
        if route is None:  # discovery and anything else: kmock
            del self._requests[:-100]  # kmock keeps every request it parsed: bound it
            response: web.StreamResponse = await super().__call__(raw)
            return response
        hooks = tuple(self.hooks)
        call = await self._call(raw, query)
        cut: float | None = None
        fault: Fault | None = None
        for hook in hooks:
            answer = hook.before(call)
            if isinstance(answer, Fault) and not answer.commit:
                return answer.response()
            if isinstance(answer, Fault):
                fault = answer
                break
            if isinstance(answer, CutStream):
                cut = answer.after
                break
        try:
            response = await self._serve(raw, route, query, call, cut)
        except StatusError as exc:
            response = exc.response()
        for hook in hooks:
            hook.after(call, response.status)
        return response if fault is None else fault.response()

    def drop_watches(self, agent_prefix: str = "") -> int:
        """Cut the connection of every open watch stream whose client's User-Agent starts
        with ``agent_prefix`` (a network drop: no clean end); how many were cut."""
        return self._watches.drop(agent_prefix)

    @property
    def store(self) -> ObjectTable:
        """The objects (read them in the event loop only: ``ApiServer.in_loop``)."""
        return self._store

    def object_at(self, path: str, name: str | None = None) -> Obj | None:
        """The stored object a request path names (a collection path and ``name``: the object
        of that name in it); None when there is none. In the event loop only (hooks)."""
        route = self._route(path)
        if route is None or (route.name or name) is None:
            return None
        try:
            return self._store.get(Route(route.rtype, route.namespace, route.name or name, None))
        except StatusError:
            return None

    @staticmethod
    async def _call(raw: web.BaseRequest, query: dict[str, str]) -> Call:
        body: object = None
        if raw.method != "GET":
            text = await raw.read()  # aiohttp keeps it: _serve reads the same bytes
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = None
        return Call(raw.method, raw.path, query, raw.headers.get("User-Agent", ""),
                    raw.content_type, body)

    async def _serve_version(self, request: kmock.Request) -> Any:
        # kmock gives "x/status" the short names of "x" (kubectl then finds "fnd" ambiguous),
        # and names the core group version "/v1" (kubectl then finds no core resources).
        payload: Any = await super()._serve_version(request)
        payload["groupVersion"] = payload["groupVersion"].lstrip("/")
        for entry in payload["resources"]:
            if "/" in entry["name"]:
                entry.update(shortNames=[], singularName="", verbs=["get", "patch", "update"])
        return payload

    def _route(self, path: str) -> Route | None:
        segments = path.strip("/").split("/")
        if segments[:2] == ["api", "v1"]:
            api_version, rest = "v1", segments[2:]
        elif segments[0] == "apis" and len(segments) >= 3:
            api_version, rest = f"{segments[1]}/{segments[2]}", segments[3:]
        else:
            return None
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and (api_version, rest[2]) in self._types:
            namespace, rest = rest[1], rest[2:]
        rtype = self._types.get((api_version, rest[0])) if 1 <= len(rest) <= 3 else None
        if rtype is None:
            return None
        name, subresource = [*rest[1:], None, None][:2]
        return Route(rtype, namespace, name, subresource)

    async def _serve(self, raw: web.BaseRequest, route: Route, query: dict[str, str],
                     call: Call, cut: float | None = None) -> web.StreamResponse:
        rtype, method, named = route.rtype, raw.method, route.name is not None
        if (route.subresource not in (None, "status") or (route.subresource and not rtype.status)
                or (rtype.namespaced and route.namespace is None and (named or method != "GET"))):
            raise StatusError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET" and query.get("watch") in ("true", "1"):
            return await self._watches.serve(raw, route, query, cut=cut)
        body = await raw.read()
        try:
            data = json.loads(body) if body else None
        except ValueError as exc:
            raise StatusError(400, "BadRequest", f"invalid JSON body: {exc}") from None
        if method == "GET" and columns_for(rtype) and wants_table(raw.headers.get("Accept", "")):
            found = self._store.get(route) if named else self._store.list(route, query)
            return web.json_response(as_table(rtype, found, query.get("includeObject", "")))
        self.current = call  # no await from here on: the change is this request's
        try:
            return self._change(route, method, named, data, raw.content_type, query)
        finally:
            self.current = None

    def _change(self, route: Route, method: str, named: bool, data: Any, content_type: str,
                query: dict[str, str]) -> web.StreamResponse:
        store = self._store
        if method == "GET":  # answered from the objects' kept JSON
            if named:
                obj = store.get(route)
                body = store.encoded(route.rtype, obj["metadata"].get("namespace"),
                                     obj["metadata"]["name"])
            else:
                body = store.list_encoded(route, query)
            return web.Response(body=body, content_type="application/json")
        if method == "POST" and not named:
            return web.json_response(self._store.create(route, data), status=201)
        result = (
            self._store.patch(route, data, content_type) if method == "PATCH" and named else
            self._store.update(route, data) if method == "PUT" and named else
            self._store.delete(route) if method == "DELETE" and named else
            None
        )
        if result is None:
            raise StatusError(405, "MethodNotAllowed", f"{method} is not supported here")
        return web.json_response(result)

    def close_watches(self) -> None:
        """End every open watch stream (before the server stops)."""
        self._watches.close()
