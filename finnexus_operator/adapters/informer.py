"""One informer: list a kind once, then watch it from the list's resourceVersion.

The objects are kept in memory (without ``managedFields``), indexed by (namespace,
``app.kubernetes.io/name`` label), so a pass finds the objects of one resource in O(its
objects). A stream that ends or breaks is watched again from the last resourceVersion seen
(bookmarks move it on); a ``410 Gone`` relists and diffs: an object that vanished meanwhile is
removed and its owners are woken. An event never takes an object back to an older
resourceVersion (compared as integers when both are numeric): the answer of our own write,
taken in first, is not undone by an older event that arrives after it.

Each change calls ``wake(namespace, owner, cause)`` for the FinNexusDeployments the object
names (its ownerReferences, and its ``app.kubernetes.io/name`` label: ReplicaSets and pods
carry only the label). The first list wakes nobody (the resources' own events do).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping
from typing import Any

from finnexus_operator import constants, errors
from finnexus_operator.adapters.kube import KubeClient, api_path
from finnexus_operator.logs import get_logger

__all__ = ["Cause", "Informer", "Wake", "newer", "owners_of", "selector_matches", "slim"]

log = get_logger("finnexus.informer")
Cause = tuple[str, str, str, str | None]  # (kind, namespace, name, resourceVersion)
Wake = Callable[[str, str, Cause], None]
Key = tuple[str, str]
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def newer(candidate: str | None, held: str | None) -> bool:
    """``candidate`` is a later resourceVersion than ``held`` (integers when both are)."""
    if held is None:
        return True
    if candidate is None or candidate == held:
        return False
    if candidate.isdigit() and held.isdigit():
        return int(candidate) > int(held)
    return True  # opaque versions: the later arrival wins


def _rv(obj: Mapping[str, Any]) -> str | None:
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    return None if rv is None else str(rv)


def slim(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What the cache keeps of an object: all but ``managedFields`` and the last-applied
    annotation (neither is read; both are often the largest part), its keys interned."""
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items()
                               if k != LAST_APPLIED}
    out["metadata"] = meta
    interned: dict[str, Any] = _interned(out)
    return interned


def _interned(value: Any) -> Any:
    """``value`` with every mapping key interned: a JSON decoder makes new key strings for
    each object, and the thousands of cached objects repeat the same few hundred keys (a
    third of a Deployment's memory: ``python -m bench.cache_memory``)."""
    if isinstance(value, Mapping):
        return {sys.intern(k) if isinstance(k, str) else k: _interned(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_interned(v) for v in value]
    return value


def owners_of(obj: Mapping[str, Any]) -> set[str]:
    """The FinNexusDeployments an object belongs to: ownerReferences, else its name label."""
    meta = obj.get("metadata") or {}
    names = {str(ref["name"]) for ref in meta.get("ownerReferences") or []
             if ref.get("kind") == constants.KIND and ref.get("name")
             and str(ref.get("apiVersion") or "").split("/")[0] == constants.GROUP}
    label = (meta.get("labels") or {}).get(constants.LABEL_NAME)
    if label:
        names.add(str(label))
    return names


def selector_matches(selector: str, obj: Mapping[str, Any]) -> bool:
    """``key=value`` and ``key`` terms, comma-separated (the selectors the informers use)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, _, value = term.partition("=")
        if key not in labels or ("=" in term and labels[key] != value):
            return False
    return True


class Informer:
    """The objects of one kind (in one namespace, or every one) matching a label selector."""

    def __init__(self, kube: KubeClient, kind: str, api_version: str, plural: str,
                 selector: str, namespace: str | None, wake: Wake, *,
                 watch_timeout: int = 300, retry_seconds: float = 1.0) -> None:
        self.kube, self.kind, self.selector, self.namespace = kube, kind, selector, namespace
        self.path = api_path(api_version, plural, namespace)
        self.wake = wake
        self.objects: dict[Key, dict[str, Any]] = {}
        self._index: dict[Key, dict[str, dict[str, Any]]] = {}
        self.rv: str | None = None  # where the next watch starts (None: list first)
        self.synced = asyncio.Event()
        self.lists = self.watches = 0
        self._watch_timeout, self._retry = watch_timeout, retry_seconds

    # -- reads --
    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((namespace, name))

    def labelled(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The objects labelled ``app.kubernetes.io/name: <name>`` in ``namespace``."""
        return list(self._index.get((namespace, name), {}).values())

    # -- changes --
    def _index_key(self, obj: Mapping[str, Any]) -> Key | None:
        meta = obj.get("metadata") or {}
        label = (meta.get("labels") or {}).get(constants.LABEL_NAME)
        return (str(meta.get("namespace") or ""), str(label)) if label else None

    def _put(self, key: Key, obj: dict[str, Any] | None) -> dict[str, Any] | None:
        old = self.objects.pop(key, None)
        if old is not None and (ik := self._index_key(old)) is not None:
            self._index.get(ik, {}).pop(key[1], None)
            if not self._index.get(ik, True):
                del self._index[ik]
        if obj is not None:
            self.objects[key] = obj
            if (ik := self._index_key(obj)) is not None:
                self._index.setdefault(ik, {})[key[1]] = obj
        return old

    def apply(self, obj: Mapping[str, Any], *, wake: bool = True) -> bool:
        """Take in an object (an event or a write's answer) unless it is not newer than the
        one held; an object that no longer matches the selector is removed. True: changed."""
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        held = self.objects.get(key)
        rv = _rv(obj)
        if held is not None and not newer(rv, _rv(held)):
            return False
        if not selector_matches(self.selector, obj):
            return self.remove(key, rv, wake=wake)
        old = self._put(key, slim(obj))
        if wake:
            self._wake(old, obj, key, rv)
        return True

    def remove(self, key: Key, rv: str | None = None, *, wake: bool = True) -> bool:
        old = self._put(key, None)
        if old is not None and wake:
            self._wake(old, None, key, rv)
        return old is not None

    def _wake(self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, key: Key,
              rv: str | None) -> None:
        owners = owners_of(old or {}) | owners_of(new or {})
        for owner in sorted(owners):
            self.wake(key[0], owner, (self.kind, key[0], key[1], rv))

    # -- the loop --
    async def relist(self) -> None:
        """List, replace what is held, wake the owners of what changed (not at first)."""
        items, rv = await self.kube.list_page(self.path, self.selector)
        self.lists += 1
        first = not self.synced.is_set()
        seen: set[Key] = set()
        for obj in items:
            meta = obj.get("metadata") or {}
            key = (str(meta.get("namespace") or self.namespace or ""), str(meta.get("name")))
            obj.setdefault("metadata", {}).setdefault("namespace", key[0])
            seen.add(key)
            self.apply(obj, wake=not first)
        for key in [k for k in self.objects if k not in seen]:
            self.remove(key, rv, wake=not first)  # vanished while we did not watch
        self.rv = rv
        self.synced.set()

    async def watch_once(self) -> None:
        """One watch request from ``self.rv`` until the stream ends (410: ``self.rv`` None)."""
        self.watches += 1
        async for event in self.kube.watch(self.path, resource_version=self.rv,
                                           label_selector=self.selector,
                                           timeout_seconds=self._watch_timeout):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    self.rv = None
                    return
                raise errors.ApiUnavailable(f"watch {self.path}: {obj.get('message')}")
            rv = _rv(obj)
            if kind == "DELETED":
                meta = obj.get("metadata") or {}
                self.remove((str(meta.get("namespace") or ""), str(meta.get("name"))), rv)
            elif kind in ("ADDED", "MODIFIED"):
                self.apply(obj)
            if rv is not None and newer(rv, self.rv):
                self.rv = rv  # BOOKMARK included: only the version moves on

    async def run(self) -> None:
        while True:
            try:
                if self.rv is None:
                    await self.relist()
                await self.watch_once()
            except asyncio.CancelledError:
                raise
            except errors.ApiError as exc:
                if exc.status == 410:
                    self.rv = None
                log.warning("watch interrupted, resuming", kind=self.kind,
                            namespace=self.namespace or "*", error=str(exc))
                await asyncio.sleep(self._retry)
