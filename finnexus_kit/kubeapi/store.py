"""The object store: version stamping, the change history, and the real API's write rules.

Every change happens synchronously (never across an ``await``), so a change and the events it
announces to the listeners are atomic in the event loop without locks.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import datetime
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
    "merge_patch",
]

HISTORY_SIZE = 10_000  # watch events kept for ?resourceVersion= replays
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


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


@dataclasses.dataclass(frozen=True)
class Route:
    """What a request's path names: a resource type, maybe a namespace, name, subresource."""

    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


@dataclasses.dataclass(frozen=True)
class WatchEvent:
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


class ObjectTable:
    """The objects of every served type, one global resourceVersion and the recent events."""

    def __init__(self, resources: Iterable[ResourceType]) -> None:
        self._objects: dict[ResourceType, dict[tuple[str | None, str], Obj]] = {
            r: {} for r in resources}
        self.rv = 0
        self.history: collections.deque[WatchEvent] = collections.deque()
        self.expired_rv = 0  # events up to this version fell out of the history
        self.listeners: list[Callable[[WatchEvent], None]] = []  # told of each change, in order

    # -- reads --

    def get(self, route: Route) -> Obj:
        assert route.name is not None
        obj = self._objects[route.rtype].get((route.namespace, route.name))
        if obj is None:
            raise not_found(route.rtype, route.name)
        return obj

    def list(self, route: Route, query: Mapping[str, str]) -> Obj:
        selector = Selector.parse(route.namespace, None, query)
        objects = self._objects[route.rtype]
        return {
            "kind": f"{route.rtype.kind}List",
            "apiVersion": route.rtype.api_version,
            "metadata": {"resourceVersion": str(self.rv)},
            "items": [objects[key] for key in sorted(objects, key=lambda k: (k[0] or "", k[1]))
                      if selector(objects[key])],
        }

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
            if (None, namespace) not in self._objects[NAMESPACES]:
                raise not_found(NAMESPACES, namespace)
        else:
            meta.pop("namespace", None)
        objects = self._objects[rtype]
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

    def _commit(self, route: Route, type_: str, old: Obj | None, new: Obj) -> Obj:
        """Version, store and announce one change (synchronously: atomic in the loop)."""
        self.rv += 1
        new["metadata"]["resourceVersion"] = str(self.rv)
        key = (new["metadata"].get("namespace"), new["metadata"]["name"])
        if type_ == "DELETED":
            del self._objects[route.rtype][key]
        else:
            self._objects[route.rtype][key] = new
        event = WatchEvent(self.rv, route.rtype, type_, new, old)
        self.history.append(event)
        if len(self.history) > HISTORY_SIZE:
            self.expired_rv = self.history.popleft().rv
        for listener in self.listeners:
            listener(event)
        return new
