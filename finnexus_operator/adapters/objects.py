"""Ensure-style writes of owned objects: read, do nothing when true, else a minimal patch.

An :class:`ObjectStore` lives for one reconcile pass and remembers what it read, so the
observation and the actions of a pass share one GET per object. It never takes over an
object it does not own (no ownerReference to this FinNexusDeployment): that is an
:class:`~finnexus_operator.errors.OwnershipError`, reported, never overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finnexus_operator import constants, errors
from finnexus_operator.adapters.kube import KubeClient, api_path

__all__ = ["KINDS", "ObjectStore", "collection_path", "is_owned_by", "is_subset", "object_path"]

KINDS: dict[str, tuple[str, str]] = {  # kind -> (apiVersion, plural)
    "Deployment": ("apps/v1", "deployments"),
    "Service": ("v1", "services"),
    "Ingress": ("networking.k8s.io/v1", "ingresses"),
    constants.KIND: (constants.API_VERSION, constants.PLURAL),
}


def object_path(kind: str, namespace: str, name: str, subresource: str | None = None) -> str:
    api_version, plural = KINDS[kind]
    return api_path(api_version, plural, namespace, name, subresource)


def collection_path(kind: str, namespace: str) -> str:
    api_version, plural = KINDS[kind]
    return api_path(api_version, plural, namespace)


def is_subset(want: Any, have: Any) -> bool:
    """Every key/value of ``want`` is in ``have`` (lists element-wise, same length)."""
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(
            k in have and is_subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(
            is_subset(w, h) for w, h in zip(want, have, strict=True))
    return bool(want == have)


def is_owned_by(obj: Mapping[str, Any] | None, uid: str) -> bool:
    """``obj`` exists and carries an ownerReference to ``uid`` (the one owner check)."""
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


def _spec_ops(desired: Mapping[str, Any], current: Mapping[str, Any]) -> list[dict[str, Any]]:
    want, have = desired.get("spec") or {}, current.get("spec") or {}
    kind = desired["kind"]
    if kind == "Deployment":
        ops = []
        if have.get("replicas") != want["replicas"]:
            ops.append({"op": "add", "path": "/spec/replicas", "value": want["replicas"]})
        want_labels = (want["template"].get("metadata") or {}).get("labels") or {}
        rev = want_labels.get(constants.LABEL_REVISION)
        have_labels = ((have.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if have_labels.get(constants.LABEL_REVISION) != rev:
            ops.append({"op": "add", "path": "/spec/template", "value": want["template"]})
        return ops
    if kind == "Service":
        ops = []
        if have.get("selector") != want["selector"]:
            ops.append({"op": "add", "path": "/spec/selector", "value": want["selector"]})
        if not is_subset(want["ports"], have.get("ports")):
            ops.append({"op": "add", "path": "/spec/ports", "value": want["ports"]})
        return ops
    if not is_subset(want, have):
        return [{"op": "add", "path": "/spec", "value": want}]
    return []


class ObjectStore:
    """Owned objects of one FinNexusDeployment, read once per pass, written minimally."""

    def __init__(self, kube: KubeClient, owner_uid: str) -> None:
        self.kube = kube
        self.owner_uid = owner_uid
        self._cache: dict[str, dict[str, Any] | None] = {}
        self.writes: list[str] = []  # "PATCH Ingress ns/name" — for logs and tests

    async def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        path = object_path(kind, namespace, name)
        if path not in self._cache:
            self._cache[path] = await self.kube.get(path)
        return self._cache[path]

    def _check_owner(self, obj: Mapping[str, Any], kind: str) -> None:
        if not is_owned_by(obj, self.owner_uid):
            meta = obj.get("metadata") or {}
            raise errors.OwnershipError(
                f"{kind} {meta.get('namespace')}/{meta.get('name')} exists and is not owned by "
                "this FinNexusDeployment; the operator will not take it over (delete or "
                "rename it)")

    async def ensure(self, desired: dict[str, Any]) -> bool:
        """Create ``desired`` or patch the fields it sets; False when already true."""
        kind, meta = desired["kind"], desired["metadata"]
        path = object_path(kind, meta["namespace"], meta["name"])
        current = await self.read(kind, meta["namespace"], meta["name"])
        if current is None:
            try:
                self._cache[path] = await self.kube.create(
                    collection_path(kind, meta["namespace"]), desired)
                self.writes.append(f"CREATE {kind} {meta['namespace']}/{meta['name']}")
                return True
            except errors.Conflict:  # created meanwhile (by us in an earlier pass, or not)
                self._cache.pop(path, None)
                current = await self.read(kind, meta["namespace"], meta["name"])
                if current is None:
                    raise
        self._check_owner(current, kind)
        ops = _spec_ops(desired, current)
        labels = (current.get("metadata") or {}).get("labels") or {}
        if not is_subset(meta["labels"], labels):
            ops.append({"op": "add", "path": "/metadata/labels",
                        "value": {**labels, **meta["labels"]}})
        annotations = (current.get("metadata") or {}).get("annotations") or {}
        if meta.get("annotations") and not is_subset(meta["annotations"], annotations):
            ops.append({"op": "add", "path": "/metadata/annotations",
                        "value": {**annotations, **meta["annotations"]}})
        if not ops:
            return False
        self._cache[path] = await self.kube.patch(path, ops, "json")
        self.writes.append(f"PATCH {kind} {meta['namespace']}/{meta['name']}")
        return True

    async def remove(self, kind: str, namespace: str, name: str) -> bool:
        """Delete an object this resource owns; False when absent. Never a foreign one."""
        current = await self.read(kind, namespace, name)
        if current is None:
            return False
        self._check_owner(current, kind)
        path = object_path(kind, namespace, name)
        await self.kube.delete(path)
        self._cache[path] = None
        self.writes.append(f"DELETE {kind} {namespace}/{name}")
        return True

    async def scale(self, namespace: str, name: str, replicas: int) -> bool:
        """Set a Deployment's replicas, leaving its template alone; False if absent or true."""
        current = await self.read("Deployment", namespace, name)
        if current is None:
            return False
        self._check_owner(current, "Deployment")
        if (current.get("spec") or {}).get("replicas") == replicas:
            return False
        path = object_path("Deployment", namespace, name)
        self._cache[path] = await self.kube.patch(
            path, [{"op": "add", "path": "/spec/replicas", "value": replicas}], "json")
        self.writes.append(f"SCALE Deployment {namespace}/{name} {replicas}")
        return True
