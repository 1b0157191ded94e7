"""What the pod simulator knows: Deployments, ReplicaSets and pods kept from the store's
change feed (the events every watch stream is made of), indexed by owner.

It is fed in the emulator's event loop, synchronously with each commit (so when a write's
answer reaches the simulator, the cache already holds the change), and read by the
simulator's worker thread under one lock. Objects are the store's own (never changed in place).
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Any

__all__ = ["KINDS", "OwnedObjects", "Snapshot", "controller_uid", "ready"]

Obj = dict[str, Any]
KINDS = {"deployments": "Deployment", "replicasets": "ReplicaSet", "pods": "Pod"}
_OWNER_KIND = {"ReplicaSet": "Deployment", "Pod": "ReplicaSet"}


def controller_uid(obj: Obj, kind: str) -> str | None:
    """The uid of ``obj``'s first owner of ``kind`` (the controller that made it)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == kind and ref.get("uid"):
            return str(ref["uid"])
    return None


def ready(pod: Obj) -> bool:
    return any(cond.get("type") == "Ready" and cond.get("status") == "True"
               for cond in (pod.get("status") or {}).get("conditions") or [])


@dataclasses.dataclass
class Snapshot:
    """One Deployment as the worker reconciles it (None: it is gone: collect its children)."""

    uid: str
    deployment: Obj | None
    replicasets: list[Obj]
    pods: dict[str, list[Obj]]  # ReplicaSet uid -> its pods, by name
    orphans: list[tuple[str, Obj]]  # (plural, object) whose owner is gone


class OwnedObjects:
    """Deployments, ReplicaSets and pods of one namespace (None: every one), by uid and owner."""

    def __init__(self, namespace: str | None) -> None:
        self.namespace = namespace
        self.lock = threading.Lock()
        self._objects: dict[str, dict[str, Obj]] = {kind: {} for kind in KINDS.values()}
        self._children: dict[str, set[str]] = collections.defaultdict(set)  # owner -> uids
        self.ready_times: dict[tuple[str, str], float] = {}  # (namespace, pod) -> Ready at

    def apply(self, plural: str, type_: str, obj: Obj, at: float) -> set[str]:
        """Take one change in; the uids of the Deployments (or of gone owners) to look at."""
        kind = KINDS[plural]
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return set()
        uid = str(meta.get("uid"))
        with self.lock:
            table = self._objects[kind]
            old = table.pop(uid, None)
            owner_kind = _OWNER_KIND.get(kind)
            owner = controller_uid(obj, owner_kind) if owner_kind else None
            if old is not None and owner_kind:
                self._unlink(controller_uid(old, owner_kind), uid)
            if type_ != "DELETED":
                table[uid] = obj
                if owner is not None:
                    self._children[owner].add(uid)
            if kind == "Pod" and ready(obj) and type_ != "DELETED" and (
                    old is None or not ready(old)):
                self.ready_times[meta.get("namespace") or "", meta.get("name") or ""] = at
            return self._to_look_at(kind, type_, uid, owner)

    def _unlink(self, owner: str | None, uid: str) -> None:
        if owner is not None and owner in self._children:
            self._children[owner].discard(uid)
            if not self._children[owner]:
                del self._children[owner]

    def _to_look_at(self, kind: str, type_: str, uid: str, owner: str | None) -> set[str]:
        if kind == "Deployment":
            return {uid}
        if owner is None:
            return set()  # made by someone else: not ours to look after
        if kind == "ReplicaSet":
            return {owner, uid} if type_ == "DELETED" else {owner}
        rs = self._objects["ReplicaSet"].get(owner)
        if rs is None:
            return {owner}  # its ReplicaSet is gone: collect it
        dep = controller_uid(rs, "Deployment")
        return {dep} if dep else set()

    def deployments(self) -> list[str]:
        with self.lock:
            return list(self._objects["Deployment"])

    def snapshot(self, uid: str) -> Snapshot:
        """Deployment ``uid`` with its ReplicaSets and their pods; or, when ``uid`` is gone,
        what it owned (ReplicaSets of a gone Deployment, pods of a gone ReplicaSet)."""
        with self.lock:
            objects = self._objects
            dep = objects["Deployment"].get(uid)
            children = sorted(self._children.get(uid, ()))
            if dep is None:
                if uid in objects["ReplicaSet"]:
                    return Snapshot(uid, None, [], {}, [])  # a live ReplicaSet: nothing gone
                orphans = [("replicasets", objects["ReplicaSet"][c]) for c in children
                           if c in objects["ReplicaSet"]]
                orphans += [("pods", objects["Pod"][c]) for c in children
                            if c in objects["Pod"]]
                return Snapshot(uid, None, [], {}, orphans)
            rss = [objects["ReplicaSet"][c] for c in children if c in objects["ReplicaSet"]]
            pods = {rs["metadata"]["uid"]: sorted(
                (objects["Pod"][p] for p in self._children.get(rs["metadata"]["uid"], ())
                 if p in objects["Pod"]), key=lambda p: p["metadata"]["name"]) for rs in rss}
            return Snapshot(uid, dep, rss, pods, [])
