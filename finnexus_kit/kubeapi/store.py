"""The object store: version stamping, the change history, and the real API's write rules.

Every change happens synchronously (never across an ``await``), so a change and the events it
announces to the listeners are atomic in the event loop without locks.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import datetime
import json
import random
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jsonpatch

from finnexus_kit.kubeapi.resources import (
    NAMESPACES,
    Obj,
    ResourceType,
    StatusError,
    not_found,
)
from finnexus_kit.kubeapi.selectors import Selector

__all__ = [
    "HISTORY_SIZE",
    "JSON_PATCH",
    "MERGE_PATCH",
    "ObjectTable",
    "Route",
    "WatchEvent",
    "encode",
    "merge_patch",
]

HISTORY_SIZE = 10_000  # watch events kept for ?resourceVersion= replays
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(obj: Obj) -> bytes:
    """The compact JSON of an object, as the API answers it."""
    return json.dumps(obj, separators=(",", ":")).encode()


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


@dataclasses.dataclass(frozen=True)
class Route:
    """What a request's path names: a resource type, maybe a namespace, name, subresource."""

    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


@dataclasses.dataclass
class WatchEvent:
    """One change: ADDED, MODIFIED or DELETED; ``old`` is the state before it (None if new).

    ``encoded`` is the object's JSON, made once for every watcher (``line``)."""

    rv: int
    rtype: ResourceType
    type: str
    obj: Obj
    old: Obj | None
    encoded: bytes | None = dataclasses.field(default=None, repr=False, compare=False)

    def line(self, type_: str) -> bytes:
        """The watch stream's line for this change as ``type_`` (ADDED, MODIFIED, DELETED)."""
        if self.encoded is None:
            self.encoded = encode(self.obj)
        return b'{"type":"%s","object":%s}\n' % (type_.encode(), self.encoded)

    def seen_by(self, selector: Selector) -> str | None:
        """The event type a watcher with this selector sees, or None."""
        was = self.old is not None and selector(self.old)
        now = selector(self.obj)
        if self.type == "DELETED":
            return "DELETED" if was or now else None
        if was and now:
            return "MODIFIED"
        return "ADDED" if now else "DELETED" if was else None


Key = tuple[str | None, str]  # (namespace, name)


def _label_terms(obj: Obj | None) -> set[tuple[str, str]]:
    labels = (obj or {}).get("metadata", {}).get("labels")
    if not isinstance(labels, dict):
        return set()
    return {(k, v) for k, v in labels.items() if isinstance(v, str)}


class ObjectTable:
    """The objects of every served type, one global resourceVersion and the recent events.

    Indexed by resource type, then namespace, then name: a GET is a dict lookup and a LIST
    reads only its type and namespace (names kept sorted until one is added or removed).
    Deleted objects leave the index at once. Stored objects are never changed in place (every
    change stores a new dict), so the JSON of each is made once and kept until it changes.
    """

    def __init__(self, resources: Iterable[ResourceType]) -> None:
        self._objects: dict[ResourceType, dict[str | None, dict[str, Obj]]] = {
            r: {} for r in resources}
        self._sorted: dict[tuple[ResourceType, str | None], list[str]] = {}
        self._encoded: dict[tuple[ResourceType, str | None, str], bytes] = {}
        # (type, namespace) -> (label key, value) -> names: what a ``key=value`` term reads
        self._labels: dict[tuple[ResourceType, str | None], dict[tuple[str, str], set[str]]] = {}
        self.rv = 0
        self.history: collections.deque[WatchEvent] = collections.deque()
        self.expired_rv = 0  # events up to this version fell out of the history
        self.listeners: list[Callable[[WatchEvent], None]] = []  # told of each change, in order

    # -- reads --

    def get(self, route: Route) -> Obj:
        assert route.name is not None
        obj = self._objects[route.rtype].get(route.namespace, {}).get(route.name)
        if obj is None:
            raise not_found(route.rtype, route.name)
        return obj

    def encoded(self, rtype: ResourceType, namespace: str | None, name: str) -> bytes:
        """The JSON of a stored object (made once per version)."""
        key = (rtype, namespace, name)
        data = self._encoded.get(key)
        if data is None:
            data = self._encoded[key] = encode(self._objects[rtype][namespace][name])
        return data

    def names(self, rtype: ResourceType, namespace: str | None) -> list[str]:
        """The names in one namespace (None: cluster-scoped), sorted; do not change it."""
        names = self._sorted.get((rtype, namespace))
        if names is None:
            names = self._sorted[rtype, namespace] = sorted(
                self._objects[rtype].get(namespace, {}))
        return names

    def keys(self, rtype: ResourceType, namespace: str | None) -> list[Key]:
        """(namespace, name) of what a list of ``namespace`` (None: every one) reads, in the
        API's order (by namespace, then name)."""
        if namespace is not None or not rtype.namespaced:
            return [(namespace, name) for name in self.names(rtype, namespace)]
        return [(ns, name) for ns in sorted(self._objects[rtype], key=lambda n: n or "")
                for name in self.names(rtype, ns)]

    def select(self, route: Route, query: Mapping[str, str]) -> list[Key]:
        """The keys a list of ``route`` with this query's selectors returns: with a
        ``key=value`` label term only the objects the label index names are read."""
        rtype = route.rtype
        selector = Selector.parse(route.namespace, None, query)
        if not selector.labels and not selector.fields:
            return self.keys(rtype, route.namespace)
        objects = self._objects[rtype]
        if not selector.equals:
            return [key for key in self.keys(rtype, route.namespace)
                    if selector(objects[key[0]][key[1]])]
        spaces = ([route.namespace] if route.namespace is not None or not rtype.namespaced
                  else sorted(objects, key=lambda n: n or ""))
        found: list[Key] = []
        for ns in spaces:
            index = self._labels.get((rtype, ns), {})
            names = min((index.get(term, set()) for term in selector.equals), key=len)
            found += [(ns, name) for name in sorted(names) if selector(objects[ns][name])]
        return found

    def items(self, rtype: ResourceType, keys: Iterable[Key]) -> list[Obj]:
        objects = self._objects[rtype]
        return [objects[ns][name] for ns, name in keys]

    def list(self, route: Route, query: Mapping[str, str]) -> Obj:
        return {
            "kind": f"{route.rtype.kind}List",
            "apiVersion": route.rtype.api_version,
            "metadata": {"resourceVersion": str(self.rv)},
            "items": self.items(route.rtype, self.select(route, query)),
        }

    def list_encoded(self, route: Route, query: Mapping[str, str]) -> bytes:
        """``list`` as JSON, from each object's kept JSON."""
        rtype = route.rtype
        items = b",".join(self.encoded(rtype, ns, name) for ns, name in self.select(route, query))
        return b'{"kind":"%sList","apiVersion":"%s","metadata":{"resourceVersion":"%d"},' \
            b'"items":[%s]}' % (rtype.kind.encode(), rtype.api_version.encode(), self.rv, items)

    def rtype(self, api_version: str, plural: str) -> ResourceType:
        """The served type of that API version and plural (KeyError: not served)."""
        for rtype in self._objects:
            if (rtype.api_version, rtype.plural) == (api_version, plural):
                return rtype
        raise KeyError(f"{api_version} {plural}")

    def __len__(self) -> int:
        return sum(len(names) for by_ns in self._objects.values() for names in by_ns.values())

    # -- writes --

    def create(self, route: Route, data: Any) -> Obj:
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
            if namespace not in self._objects[NAMESPACES].get(None, {}):
                raise not_found(NAMESPACES, namespace)
        else:
            meta.pop("namespace", None)
        objects = self._objects[rtype].get(route.namespace, {})
        while not meta.get("name") and meta.get("generateName"):
            suffix = "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=5))
            if (name := meta["generateName"] + suffix) not in objects:
                meta["name"] = name
        if not meta.get("name"):
            raise StatusError(422, "Invalid", "metadata.name or metadata.generateName is required")
        if meta["name"] in objects:
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

    def patch(self, route: Route, data: Any, content_type: str) -> Obj:
        old = self.get(route)
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

    def update(self, route: Route, data: Any) -> Obj:
        return self._write(route, self.get(route), data)

    def delete(self, route: Route) -> Obj:
        old = self.get(route)
        new = copy.deepcopy(old)
        meta = new["metadata"]
        if not meta.get("finalizers"):
            return self._commit(route, "DELETED", old, new)
        if meta.get("deletionTimestamp"):
            return old
        meta.update(deletionTimestamp=_now(), deletionGracePeriodSeconds=0,
                    generation=meta["generation"] + 1)
        return self._commit(route, "MODIFIED", old, new)

    def _write(self, route: Route, old: Obj, candidate: Any) -> Obj:
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

    def _index(self, rtype: ResourceType, namespace: str | None, name: str, old: Obj | None,
               new: Obj | None) -> None:
        """Move ``name`` in the label index from the labels of ``old`` to those of ``new``."""
        was, now = _label_terms(old), _label_terms(new)
        if was == now:
            return
        index = self._labels.setdefault((rtype, namespace), {})
        for term in was - now:
            names = index.get(term)
            if names is not None:
                names.discard(name)
                if not names:
                    del index[term]
        for term in now - was:
            index.setdefault(term, set()).add(name)

    def _commit(self, route: Route, type_: str, old: Obj | None, new: Obj) -> Obj:
        """Version, store and announce one change (synchronously: atomic in the loop)."""
        self.rv += 1
        new["metadata"]["resourceVersion"] = str(self.rv)
        meta = new["metadata"]
        rtype, namespace, name = route.rtype, meta.get("namespace"), meta["name"]
        by_name = self._objects[rtype].setdefault(namespace, {})
        self._encoded.pop((rtype, namespace, name), None)
        self._index(rtype, namespace, name, by_name.get(name), None if type_ == "DELETED" else new)
        if type_ == "DELETED":
            del by_name[name]
            self._sorted.pop((rtype, namespace), None)
            if not by_name:
                del self._objects[rtype][namespace]
        else:
            if name not in by_name:
                self._sorted.pop((rtype, namespace), None)
            by_name[name] = new
        event = WatchEvent(self.rv, rtype, type_, new, old)
        self.history.append(event)
        while len(self.history) > HISTORY_SIZE:
            self.expired_rv = self.history.popleft().rv
        for listener in self.listeners:
            listener(event)
        return new
