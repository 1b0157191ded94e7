"""An embedded Kubernetes API server for tests and the demo, built on kmock 0.8.

`ApiServer` serves an in-memory Kubernetes API on 127.0.0.1 from its own thread and event loop,
so that kopf, the ``kubernetes`` client and the real ``kubectl`` can all talk to it over HTTP.

kmock (pinned to 0.8, guarded by a test) still provides the API discovery (``/api``, ``/apis``,
``/api/v1``, ``/apis/GROUP/VERSION``, ``/version``), the resource registry behind it, the error
rendering and the request plumbing. `Emulator` subclasses ``kmock.KubernetesScaffold``, the
stateless base of ``kmock.KubernetesEmulator``: every stateful part of the latter had to be
replaced, so everything under a served resource's URL is answered by `Emulator` itself:

- objects get ``metadata.uid``, ``resourceVersion`` (one global counter), ``generation`` (1 on
  create, +1 only when something outside ``metadata`` and a status subresource's ``status``
  changes, or when deletion starts) and ``creationTimestamp``; no-op writes change nothing; lists
  carry ``kind: <Kind>List``, ``apiVersion`` and the current ``metadata.resourceVersion`` (kmock
  stamps none of these, so kopf's finalizer JSON-patch, which tests the resourceVersion, failed);
- a failed JSON-patch ``test`` answers 422 (kmock: 500); a stale ``resourceVersion`` in a PUT or
  patch answers 409 Conflict, creating an existing name 409 AlreadyExists, a missing object 404
  NotFound, all with real ``Status`` bodies;
- a watch subscribes first and then replays, in one step without an ``await`` in between, so no
  change is lost; with ``?resourceVersion=N`` it replays the recorded events newer than N (410
  Expired when N fell out of the history), without one it replays every object as ADDED
  (``sendInitialEvents=true`` ends that replay with the initial-events-end BOOKMARK);
  ``timeoutSeconds`` is honoured; deletions send DELETED with the final object;
- ``metadata.generateName`` works (kopf posts its Events with it);
- ``/api/v1/namespaces[/NAME]`` are routed (kmock cannot parse them): Namespace objects are
  ordinary cluster-scoped objects, declared via ``ApiServer(namespaces=...)`` or created through
  the API; creating an object in an unknown namespace answers 404 as the real API does;
- ``labelSelector`` (``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``, ``a notin (x)``)
  and ``fieldSelector`` (``=``, ``==``, ``!=`` on any dotted field path) filter lists and
  watches; in a watch, an object that starts or stops matching is sent as ADDED or DELETED;
- status subresource semantics: PATCH/PUT on ``/status`` change only ``.status``; writes to the
  main resource (and creation) ignore ``.status`` for kinds whose status is a subresource;
- merge-patch follows RFC 7386 (``null`` deletes, a non-object replaces), strategic merge is
  treated as merge-patch (lists are replaced whole), JSON-patch is RFC 6902; PUT replaces;
- discovery: kmock names the core group version ``/v1`` (kubectl then finds no core resource)
  and gives ``x/status`` the short names of ``x`` (kubectl then finds ``fnd`` ambiguous); both
  are corrected in `Emulator._serve_version`;
- every request is recorded as ``(method, path, query)`` in a thread-safe `RequestLog`;
- the HTTP server is aiohttp's low-level server, not ``kmock.Server``: that one patches aiohttp's
  DNS resolver process-wide and needs LIFO exits, which breaks with several servers in threads.

Not emulated: controllers (no ReplicaSets/Pods from Deployments), garbage collection of owned
objects, admission and schema validation, RBAC, server-side apply (415), field managers,
list chunking (``limit`` is ignored: one chunk), DELETE of a collection.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import copy
import dataclasses
import datetime
import json
import os
import random
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import jsonpatch
import kmock
from aiohttp import web

__all__ = [
    "RESOURCES",
    "ApiError",
    "ApiServer",
    "Emulator",
    "RequestLog",
    "ResourceType",
    "path_for",
]

Obj = dict[str, Any]
Objs = list[Obj]
Request = tuple[str, str, dict[str, str]]

HISTORY_SIZE = 10_000  # watch events kept for ?resourceVersion= replays
VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclasses.dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives and what discovery says about it."""

    api_version: str  # "v1", "apps/v1"
    plural: str
    kind: str
    namespaced: bool = True
    status: bool = False  # .status is a subresource
    short_names: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("finnexus.ai/v1alpha1", "finnexusdeployments", "FinNexusDeployment",
                 status=True, short_names=("fnd",)),
    ResourceType("apps/v1", "deployments", "Deployment", status=True, short_names=("deploy",)),
    ResourceType("apps/v1", "replicasets", "ReplicaSet", status=True, short_names=("rs",)),
    ResourceType("v1", "namespaces", "Namespace", namespaced=False, status=True,
                 short_names=("ns",)),
    ResourceType("v1", "services", "Service", status=True, short_names=("svc",)),
    ResourceType("v1", "pods", "Pod", status=True, short_names=("po",)),
    ResourceType("v1", "events", "Event", short_names=("ev",)),
    ResourceType("v1", "configmaps", "ConfigMap", short_names=("cm",)),
    ResourceType("networking.k8s.io/v1", "ingresses", "Ingress", status=True,
                 short_names=("ing",)),
    ResourceType("events.k8s.io/v1", "events", "Event"),
    ResourceType("coordination.k8s.io/v1", "leases", "Lease"),
    ResourceType("kopf.dev/v1", "kopfpeerings", "KopfPeering"),
    ResourceType("kopf.dev/v1", "clusterkopfpeerings", "ClusterKopfPeering", namespaced=False),
    ResourceType("apiextensions.k8s.io/v1", "customresourcedefinitions",
                 "CustomResourceDefinition", namespaced=False, status=True,
                 short_names=("crd", "crds")),
)
NAMESPACES = RESOURCES[3]


def path_for(
    api_version: str,
    plural: str,
    namespace: str | None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """The API path of a collection, an object or its subresource."""
    parts = ["/api/v1" if api_version == "v1" else f"/apis/{api_version}"]
    parts += ["namespaces", namespace] if namespace else []
    parts += [plural] + ([name] if name else []) + ([subresource] if name and subresource else [])
    return "/".join(parts)


class RequestLog:
    """Every request the server received, as (method, path, query); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Request] = []
        self._agents: list[str] = []

    def add(self, method: str, path: str, query: Mapping[str, str], user_agent: str = "") -> None:
        with self._lock:
            self._items.append((method, path, dict(query)))
            self._agents.append(user_agent)

    def by_agent(self, prefix: str) -> list[Request]:
        """The requests whose User-Agent starts with ``prefix`` (e.g. one client's calls)."""
        with self._lock:
            return [r for r, a in zip(self._items, self._agents, strict=True)
                    if a.startswith(prefix)]

    def all(self) -> list[Request]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._agents.clear()


class StatusError(Exception):
    """An API failure, answered as a ``kind: Status`` body like the real API's."""

    def __init__(self, code: int, reason: str, message: str, **details: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def body(self) -> Obj:
        return {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "details": self.details,
            "code": self.code,
        }

    def response(self) -> web.Response:
        return web.json_response(self.body(), status=self.code)


def _not_found(rtype: ResourceType, name: str) -> StatusError:
    qualified = f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural
    return StatusError(404, "NotFound", f'{qualified} "{name}" not found',
                       name=name, group=rtype.group, kind=rtype.plural)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- selectors --------------------------------------------------------------------------------

_LABEL_TERM = re.compile(
    r"\s*(?P<neg>!)?\s*(?P<key>[\w./-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[\w./-]*)|\s+(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?\s*"
)
_FIELD_TERM = re.compile(r"\s*(?P<key>[\w.-]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^,]*?)\s*")


def _label_term(term: str) -> Callable[[Mapping[str, str]], bool]:
    m = _LABEL_TERM.fullmatch(term)
    if m is None or (m["neg"] and (m["op"] or m["set"])):
        raise StatusError(400, "BadRequest", f"unable to parse requirement: {term!r}")
    key, value = m["key"], m["value"]
    values = {v.strip() for v in (m["values"] or "").split(",")}
    match m["neg"], m["op"], m["set"]:
        case "!", _, _:
            return lambda labels: key not in labels
        case _, "=" | "==", _:
            return lambda labels: labels.get(key) == value
        case _, "!=", _:
            return lambda labels: labels.get(key) != value
        case _, _, "in":
            return lambda labels: labels.get(key) in values
        case _, _, "notin":
            return lambda labels: labels.get(key) not in values
    return lambda labels: key in labels


def _field_value(obj: Obj, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def _field_term(term: str) -> Callable[[Obj], bool]:
    m = _FIELD_TERM.fullmatch(term)
    if m is None:
        raise StatusError(400, "BadRequest", f"invalid field selector: {term!r}")
    key, value, negate = m["key"], m["value"], m["op"] == "!="
    return lambda obj: (_field_value(obj, key) == value) != negate


@dataclasses.dataclass(frozen=True)
class Selector:
    """What one list or watch asks for: a namespace, a name, label and field selectors."""

    namespace: str | None = None
    name: str | None = None
    labels: tuple[Callable[[Mapping[str, str]], bool], ...] = ()
    fields: tuple[Callable[[Obj], bool], ...] = ()

    @classmethod
    def parse(cls, namespace: str | None, name: str | None, query: Mapping[str, str]) -> Selector:
        labels = [t for t in re.split(r",(?![^()]*\))", query.get("labelSelector", "")) if t]
        fields = [t for t in query.get("fieldSelector", "").split(",") if t]
        return cls(namespace, name, tuple(map(_label_term, labels)),
                   tuple(map(_field_term, fields)))

    def __call__(self, obj: Obj) -> bool:
        meta = obj.get("metadata", {})
        labels = meta.get("labels") or {}
        return (
            self.namespace in (None, meta.get("namespace"))
            and self.name in (None, meta.get("name"))
            and all(term(labels) for term in self.labels)
            and all(term(obj) for term in self.fields)
        )


# -- the emulator ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Event:
    """One change: ADDED, MODIFIED or DELETED; ``old`` is the state before it (None if new)."""

    rv: int
    rtype: ResourceType
    type: str
    obj: Obj
    old: Obj | None

    def seen_by(self, selector: Selector) -> str | None:
        """The event type a watcher with this selector sees, or None."""
        was = self.old is not None and selector(self.old)
        now = selector(self.obj)
        if self.type == "DELETED":
            return "DELETED" if was or now else None
        if was and now:
            return "MODIFIED"
        return "ADDED" if now else "DELETED" if was else None


@dataclasses.dataclass(eq=False)
class _Watcher:
    rtype: ResourceType
    selector: Selector
    queue: asyncio.Queue[bytes | None] = dataclasses.field(default_factory=asyncio.Queue)

    def offer(self, event: Event) -> None:
        seen = event.seen_by(self.selector) if event.rtype == self.rtype else None
        if seen is not None:
            self.queue.put_nowait(_line(seen, event.obj))


def _line(type_: str, obj: Obj) -> bytes:
    return json.dumps({"type": type_, "object": obj}).encode() + b"\n"


@dataclasses.dataclass(frozen=True)
class _Route:
    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


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
        self._store: dict[ResourceType, dict[tuple[str | None, str], Obj]] = {
            r: {} for r in self._types.values()}
        self._rv = 0
        self._history: collections.deque[Event] = collections.deque()
        self._expired_rv = 0  # events up to this version fell out of the history
        self._watchers: set[_Watcher] = set()
        self._closing = False
        for r in self._types.values():
            self.resources[kmock.resource(r.group, r.version, r.plural)] = kmock.ResourceInfo(
                kind=r.kind, singular=r.kind.lower(), namespaced=r.namespaced, verbs=VERBS,
                shortnames=r.short_names, subresources={"status"} if r.status else set())
        for ns in namespaces:
            self._create(_Route(NAMESPACES, None, None, None), {"metadata": {"name": ns}})

    # HTTP entry point (aiohttp's low-level server calls the handler with each request).
    async def __call__(self, raw: web.BaseRequest) -> web.StreamResponse:
        query = dict(raw.query)
        self._log.add(raw.method, raw.path, query, raw.headers.get("User-Agent", ""))
        route = self._route(raw.path)
        if route is None:  # discovery and anything else: kmock
            del self._requests[:-100]  # kmock keeps every request it parsed: bound it
            response: web.StreamResponse = await super().__call__(raw)
            return response
        try:
            return await self._serve(raw, route, query)
        except StatusError as exc:
            return exc.response()

    async def _serve_version(self, request: kmock.Request) -> Any:
        # kmock gives "x/status" the short names of "x" (kubectl then finds "fnd" ambiguous),
        # and names the core group version "/v1" (kubectl then finds no core resources).
        payload: Any = await super()._serve_version(request)
        payload["groupVersion"] = payload["groupVersion"].lstrip("/")
        for entry in payload["resources"]:
            if "/" in entry["name"]:
                entry.update(shortNames=[], singularName="", verbs=["get", "patch", "update"])
        return payload

    def _route(self, path: str) -> _Route | None:
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
        return _Route(rtype, namespace, name, subresource)

    async def _serve(self, raw: web.BaseRequest, route: _Route,
                     query: dict[str, str]) -> web.StreamResponse:
        rtype, method, named = route.rtype, raw.method, route.name is not None
        if (route.subresource not in (None, "status") or (route.subresource and not rtype.status)
                or (rtype.namespaced and route.namespace is None and (named or method != "GET"))):
            raise StatusError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET" and query.get("watch") in ("true", "1"):
            return await self._watch(raw, route, query)
        body = await raw.read()
        try:
            data = json.loads(body) if body else None
        except ValueError as exc:
            raise StatusError(400, "BadRequest", f"invalid JSON body: {exc}") from None
        if method == "POST" and not named:
            return web.json_response(self._create(route, data), status=201)
        result = (
            self._list(route, query) if method == "GET" and not named else
            self._get(route) if method == "GET" else
            self._patch(route, data, raw.content_type) if method == "PATCH" and named else
            self._update(route, data) if method == "PUT" and named else
            self._delete(route) if method == "DELETE" and named else
            None
        )
        if result is None:
            raise StatusError(405, "MethodNotAllowed", f"{method} is not supported here")
        return web.json_response(result)

    # -- reads --

    def _get(self, route: _Route) -> Obj:
        assert route.name is not None
        obj = self._store[route.rtype].get((route.namespace, route.name))
        if obj is None:
            raise _not_found(route.rtype, route.name)
        return obj

    def _list(self, route: _Route, query: Mapping[str, str]) -> Obj:
        selector = Selector.parse(route.namespace, None, query)
        objects = self._store[route.rtype]
        return {
            "kind": f"{route.rtype.kind}List",
            "apiVersion": route.rtype.api_version,
            "metadata": {"resourceVersion": str(self._rv)},
            "items": [objects[key] for key in sorted(objects, key=lambda k: (k[0] or "", k[1]))
                      if selector(objects[key])],
        }

    # -- writes --

    def _create(self, route: _Route, data: Any) -> Obj:
        rtype = route.rtype
        if not isinstance(data, dict) or not isinstance(data.get("metadata", {}), dict):
            raise StatusError(400, "BadRequest", "the body must be a JSON object")
        obj = {"apiVersion": rtype.api_version, "kind": rtype.kind, **copy.deepcopy(data)}
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        meta = obj.setdefault("metadata", {})
        if rtype.namespaced:
            namespace = meta.setdefault("namespace", route.namespace)
            if namespace != route.namespace:
                raise StatusError(400, "BadRequest", "the namespace of the provided object does "
                                  "not match the namespace sent on the request")
            if (None, namespace) not in self._store[NAMESPACES]:
                raise _not_found(NAMESPACES, namespace)
        else:
            meta.pop("namespace", None)
        objects = self._store[rtype]
        while not meta.get("name") and meta.get("generateName"):
            suffix = "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=5))
            if (route.namespace, name := meta["generateName"] + suffix) not in objects:
                meta["name"] = name
        if not meta.get("name"):
            raise StatusError(422, "Invalid", "metadata.name or metadata.generateName is required")
        if (route.namespace, meta["name"]) in objects:
            qualified = f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural
            raise StatusError(409, "AlreadyExists", f'{qualified} "{meta["name"]}" already exists',
                              name=meta["name"], group=rtype.group, kind=rtype.plural)
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            meta.pop(key, None)
        if rtype.status:
            obj.pop("status", None)
        if rtype == NAMESPACES:
            obj["status"] = {"phase": "Active"}
        meta.update(uid=str(uuid.uuid4()), generation=1, creationTimestamp=_now())
        return self._commit(route, "ADDED", None, obj)

    def _patch(self, route: _Route, data: Any, content_type: str) -> Obj:
        old = self._get(route)
        if content_type == JSON_PATCH or (isinstance(data, list) and content_type != MERGE_PATCH):
            if not isinstance(data, list):
                raise StatusError(400, "BadRequest", "a JSON patch must be a list of operations")
            try:
                candidate = jsonpatch.apply_patch(old, data)
            except jsonpatch.JsonPatchTestFailed as exc:
                raise StatusError(422, "Invalid", f"the JSON patch test failed: {exc}") from None
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise StatusError(422, "Invalid", f"the JSON patch failed: {exc}") from None
        elif content_type == "application/apply-patch+yaml":
            raise StatusError(415, "UnsupportedMediaType", "server-side apply is not emulated")
        else:  # merge-patch; strategic merge is treated as merge-patch (lists replaced whole)
            if not isinstance(data, dict):
                raise StatusError(400, "BadRequest", "a merge patch must be a JSON object")
            candidate = merge_patch(old, data)
        return self._write(route, old, candidate)

    def _update(self, route: _Route, data: Any) -> Obj:
        return self._write(route, self._get(route), data)

    def _delete(self, route: _Route) -> Obj:
        old = self._get(route)
        new = copy.deepcopy(old)
        meta = new["metadata"]
        if not meta.get("finalizers"):
            return self._commit(route, "DELETED", old, new)
        if meta.get("deletionTimestamp"):
            return old
        meta.update(deletionTimestamp=_now(), deletionGracePeriodSeconds=0,
                    generation=meta["generation"] + 1)
        return self._commit(route, "MODIFIED", old, new)

    def _write(self, route: _Route, old: Obj, candidate: Any) -> Obj:
        """Store a PUT or patched body with the real API's rules; a no-op changes nothing."""
        rtype = route.rtype
        if not isinstance(candidate, dict) or not isinstance(candidate.get("metadata", {}), dict):
            raise StatusError(422, "Invalid", "the object must be a JSON object")
        stale = candidate.get("metadata", {}).get("resourceVersion")
        if stale and stale != old["metadata"]["resourceVersion"]:
            raise StatusError(409, "Conflict", "the object has been modified; please apply your "
                              "changes to the latest version and try again", name=route.name or "")
        if route.subresource == "status":  # only .status changes
            new, status_from = copy.deepcopy(old), candidate
        else:
            new, status_from = copy.deepcopy(candidate), old if rtype.status else candidate
        new.pop("status", None)
        if "status" in status_from:
            new["status"] = copy.deepcopy(status_from["status"])
        new["apiVersion"], new["kind"] = rtype.api_version, rtype.kind
        meta = new.setdefault("metadata", {})
        for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                    "deletionGracePeriodSeconds", "generation", "resourceVersion"):
            if key in old["metadata"]:
                meta[key] = old["metadata"][key]
            else:
                meta.pop(key, None)
        if new == old:
            return old
        ignored = ("metadata", "status") if rtype.status else ("metadata",)
        if any(new.get(k) != old.get(k) for k in set(new) | set(old) if k not in ignored):
            meta["generation"] = old["metadata"]["generation"] + 1
        released = meta.get("deletionTimestamp") and not meta.get("finalizers")
        return self._commit(route, "DELETED" if released else "MODIFIED", old, new)

    def _commit(self, route: _Route, type_: str, old: Obj | None, new: Obj) -> Obj:
        """Version, store and announce one change (synchronously: atomic in the loop)."""
        self._rv += 1
        new["metadata"]["resourceVersion"] = str(self._rv)
        key = (new["metadata"].get("namespace"), new["metadata"]["name"])
        if type_ == "DELETED":
            del self._store[route.rtype][key]
        else:
            self._store[route.rtype][key] = new
        event = Event(self._rv, route.rtype, type_, new, old)
        self._history.append(event)
        if len(self._history) > HISTORY_SIZE:
            self._expired_rv = self._history.popleft().rv
        for watcher in self._watchers:
            watcher.offer(event)
        return new

    # -- watching --

    def _replay(self, route: _Route, selector: Selector, query: Mapping[str, str]) -> list[bytes]:
        since = query.get("resourceVersion", "")
        if since in ("", "0") or query.get("sendInitialEvents") == "true":
            objects = self._list(route, query)["items"]
            lines = [_line("ADDED", obj) for obj in objects if selector(obj)]
            if query.get("sendInitialEvents") == "true":
                lines.append(_line("BOOKMARK", {
                    "kind": route.rtype.kind, "apiVersion": route.rtype.api_version,
                    "metadata": {"resourceVersion": str(self._rv),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}}))
            return lines
        if not since.isdigit():
            raise StatusError(400, "BadRequest", f"invalid resourceVersion: {since!r}")
        if int(since) < self._expired_rv:
            expired = StatusError(410, "Expired", f"too old resource version: {since}")
            return [_line("ERROR", expired.body())]
        return [_line(seen, event.obj) for event in self._history
                if event.rv > int(since) and event.rtype == route.rtype
                if (seen := event.seen_by(selector)) is not None]

    async def _watch(self, raw: web.BaseRequest, route: _Route,
                     query: Mapping[str, str]) -> web.StreamResponse:
        selector = Selector.parse(route.namespace, route.name, query)
        watcher = _Watcher(route.rtype, selector)
        self._watchers.add(watcher)  # subscribe first, then replay: no await in between
        try:
            replay = self._replay(route, selector, query)
        except StatusError:
            self._watchers.discard(watcher)
            raise
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        timeout = float(query["timeoutSeconds"]) if "timeoutSeconds" in query else None
        try:
            await response.prepare(raw)
            async with asyncio.timeout(timeout):
                for line in replay:
                    await response.write(line)
                while not self._closing and (change := await watcher.queue.get()) is not None:
                    await response.write(change)
            await response.write_eof()
        except (TimeoutError, ConnectionError):
            pass  # the watch ended by its timeoutSeconds, or the client went away
        finally:
            self._watchers.discard(watcher)
        return response

    def close_watches(self) -> None:
        """End every open watch stream (before the server stops)."""
        self._closing = True
        for watcher in self._watchers:
            watcher.queue.put_nowait(None)


# -- the threaded server and its synchronous client ------------------------------------------

class ApiError(Exception):
    """A non-2xx answer to the synchronous client; ``body`` is the decoded Status (or text)."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{method} {path}: HTTP {status}: {message}")
        self.status, self.body = status, body


class ApiServer:
    """An emulated Kubernetes API on 127.0.0.1 in its own thread and event loop."""

    def __init__(self, namespaces: Sequence[str] = ("default",)) -> None:
        self.namespaces = tuple(namespaces)
        self.requests = RequestLog()
        self.url = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
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
        emulator = Emulator(self.namespaces, self.requests)
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
            raise ApiError(method, path, status, data)
        return data

    def get(self, path: str) -> Obj | None:
        """The object at ``path``, or None when it does not exist."""
        status, data = self._call("GET", path)
        if status == 404:
            return None
        if status >= 300:
            raise ApiError("GET", path, status, data)
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
            raise ApiError("DELETE", path, status, data)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m finnexus_operator.demo.apiserver --kubeconfig PATH``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Serve an emulated Kubernetes API.")
    parser.add_argument("--kubeconfig", required=True, help="where to write the kubeconfig")
    parser.add_argument("--namespace", action="append", help="a namespace to declare (repeat)")
    args = parser.parse_args(argv)
    with ApiServer(args.namespace or ("default",)) as server:
        path = server.write_kubeconfig(args.kubeconfig)
        print(f"Kubernetes API emulator at {server.url}; kubectl --kubeconfig {path} ...",
              flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
