"""Ensure-style writes of owned objects: read, do nothing when true, else a minimal patch.

An :class:`ObjectStore` lives for one reconcile pass. With the operator's informer cache
(:class:`~finnexus_operator.adapters.cache.ClusterCache`) it reads from there and sends only
writes; it GETs only what the cache cannot answer (an object of our name that carries no
managed-by label: found by a 409 on create). Without one (a tool, a unit test) it reads from
the API and remembers what it read (and listed), so a pass makes one GET per object.

It never takes over an object it does not own (no ownerReference to this
FinNexusDeployment): that is an :class:`~finnexus_operator.errors.OwnershipError`, reported,
never overwritten.

What to patch (drift, without fighting API-server defaulting) is decided in
:mod:`~finnexus_operator.adapters.drift`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from finnexus_operator import constants, errors
from finnexus_operator.adapters import drift
from finnexus_operator.adapters.kube import KubeClient, api_path
from finnexus_operator.core import manifests

if TYPE_CHECKING:
    from finnexus_operator.adapters.cache import ClusterCache

__all__ = [
    "KINDS",
    "ObjectStore",
    "collection_path",
    "is_owned_by",
    "object_path",
]

KINDS: dict[str, tuple[str, str]] = {  # kind -> (apiVersion, plural)
    "Deployment": ("apps/v1", "deployments"),
    "ReplicaSet": ("apps/v1", "replicasets"),
    "ControllerRevision": ("apps/v1", "controllerrevisions"),
    "Pod": ("v1", "pods"),
    "Service": ("v1", "services"),
    "Ingress": ("networking.k8s.io/v1", "ingresses"),
    "Job": ("batch/v1", "jobs"),
    constants.KIND: (constants.API_VERSION, constants.PLURAL),
}
def object_path(kind: str, namespace: str, name: str, subresource: str | None = None) -> str:
    api_version, plural = KINDS[kind]
    return api_path(api_version, plural, namespace, name, subresource)


def collection_path(kind: str, namespace: str) -> str:
    api_version, plural = KINDS[kind]
    return api_path(api_version, plural, namespace)


def is_owned_by(obj: Mapping[str, Any] | None, uid: str) -> bool:
    """``obj`` exists and carries an ownerReference to ``uid`` (the one owner check)."""
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


class ObjectStore:
    """Owned objects of one FinNexusDeployment, read once per pass, written minimally."""

    def __init__(self, kube: KubeClient, owner_uid: str,
                 cache: ClusterCache | None = None) -> None:
        self.kube = kube
        self.owner_uid = owner_uid
        self.shared = cache
        self._cache: dict[str, dict[str, Any] | None] = {}
        self._lists: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self.writes: list[str] = []  # "PATCH Ingress ns/name" — for logs and tests

    async def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        path = object_path(kind, namespace, name)
        if path not in self._cache:
            if self.shared is not None and self.shared.watches(kind, namespace):
                return self.shared.get(kind, namespace, name)
            self._cache[path] = await self.kube.get(path)
        return self._cache[path]

    async def _read_fresh(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """GET it (the cache does not hold it: not labelled as ours), remembered for the pass."""
        path = object_path(kind, namespace, name)
        self._cache[path] = await self.kube.get(path)
        return self._cache[path]

    async def list_labelled(self, kind: str, namespace: str, name: str
                            ) -> list[dict[str, Any]]:
        """Objects of ``kind`` labelled ``app.kubernetes.io/name: <name>``, once per pass.

        The label selector is also applied here (an API that ignores selectors returns
        everything); ownership is the caller's to check. Listed objects are remembered, so a
        later :meth:`read` of one of them costs no request."""
        key = (kind, namespace, name)
        if key not in self._lists and self.shared is not None and self.shared.watches(
                kind, namespace):
            self._lists[key] = self.shared.labelled(kind, namespace, name)
        if key not in self._lists:
            found = await self.kube.list(collection_path(kind, namespace),
                                         label_selector=f"{constants.LABEL_NAME}={name}")
            self._lists[key] = [o for o in found
                                if drift.labels_of(o).get(constants.LABEL_NAME) == name]
            for obj in self._lists[key]:
                obj_name = (obj.get("metadata") or {}).get("name")
                if obj_name:
                    self._cache.setdefault(object_path(kind, namespace, obj_name), obj)
        return self._lists[key]

    def _check_owner(self, obj: Mapping[str, Any], kind: str) -> None:
        if not is_owned_by(obj, self.owner_uid):
            meta = obj.get("metadata") or {}
            blocked = f"{kind} {meta.get('namespace')}/{meta.get('name')}"
            raise errors.OwnershipError(
                f"{blocked} exists and is not owned by this FinNexusDeployment; the operator "
                "will not take it over (delete or rename it)", objects=(blocked,))

    async def _create(self, desired: dict[str, Any]) -> dict[str, Any] | None:
        """Create ``desired``; None when it exists already (then it is read afresh)."""
        kind, meta = desired["kind"], desired["metadata"]
        path = object_path(kind, meta["namespace"], meta["name"])
        try:
            self._cache[path] = await self.kube.create(
                collection_path(kind, meta["namespace"]), desired)
        except errors.Conflict:  # created meanwhile (by us in an earlier pass, or not)
            if await self._read_fresh(kind, meta["namespace"], meta["name"]) is None:
                raise
            return None
        self.writes.append(f"CREATE {kind} {meta['namespace']}/{meta['name']}")
        return self._cache[path]

    async def ensure(self, desired: dict[str, Any]) -> bool:
        """Create ``desired`` or patch what differs from what it declares; False when true."""
        desired = drift.with_bookkeeping(desired)
        kind, meta = desired["kind"], desired["metadata"]
        path = object_path(kind, meta["namespace"], meta["name"])
        current = await self.read(kind, meta["namespace"], meta["name"])
        if current is None:
            created = await self._create(desired)
            if created is not None:
                await self._record_applied(desired, created)
                return True
            current = await self.read(kind, meta["namespace"], meta["name"])
            assert current is not None
        self._check_owner(current, kind)
        ops = drift.spec_ops(desired, current) + drift.metadata_ops(meta, current)
        if not ops:
            return False
        self._cache[path] = written = await self.kube.patch(path, ops, "json")
        self.writes.append(f"PATCH {kind} {meta['namespace']}/{meta['name']}")
        await self._record_applied(desired, written)
        return True

    async def _record_applied(self, desired: Mapping[str, Any], written: Mapping[str, Any]
                              ) -> None:
        """After a write of a Deployment whose stored pod template holds more than we declare
        (the API server's defaults), record what was applied (see the module doc)."""
        if desired["kind"] != "Deployment":
            return
        want, stored = desired["spec"]["template"], (written.get("spec") or {}).get("template")
        if drift.equivalent(want, stored):
            return
        record = drift.applied(want, stored)
        annotations = (written.get("metadata") or {}).get("annotations")
        if isinstance(annotations, Mapping) and annotations.get(drift.APPLIED) == record:
            return
        meta = desired["metadata"]
        path = object_path("Deployment", meta["namespace"], meta["name"])
        op = {"op": "add", "path": drift.pointer("metadata", "annotations", drift.APPLIED),
              "value": record} if isinstance(annotations, Mapping) else \
            {"op": "add", "path": "/metadata/annotations", "value": {drift.APPLIED: record}}
        self._cache[path] = await self.kube.patch(path, [op], "json")
        self.writes.append(f"ANNOTATE Deployment {meta['namespace']}/{meta['name']}")

    async def remove(self, kind: str, namespace: str, name: str, *,
                     propagation: str | None = None) -> bool:
        """Delete an object this resource owns; False when absent. Never a foreign one."""
        current = await self.read(kind, namespace, name)
        if current is None:
            return False
        self._check_owner(current, kind)
        path = object_path(kind, namespace, name)
        if propagation is None:
            await self.kube.delete(path)
        else:
            await self.kube.delete(path, propagation=propagation)
        self._cache[path] = None
        if self.shared is not None:
            self.shared.forget(kind, namespace, name)
        for (listed_kind, listed_ns, _), listed in self._lists.items():
            if (listed_kind, listed_ns) == (kind, namespace):
                listed[:] = [o for o in listed if (o.get("metadata") or {}).get("name") != name]
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

    # -- re-pointing routes as they stand (no valid spec to build them from) --

    async def repoint_service(self, namespace: str, service_name: str, name: str,
                              color: str) -> bool:
        """Make an existing owned Service select ``color``, touching nothing else.

        Only the ``finnexus.ai/color`` key of its selector changes (the whole selector is
        written only when it has none). False when absent or already so."""
        current = await self.read("Service", namespace, service_name)
        if current is None:
            return False
        self._check_owner(current, "Service")
        selector = (current.get("spec") or {}).get("selector")
        if isinstance(selector, Mapping) and selector.get(constants.LABEL_COLOR) == color:
            return False
        op = {"op": "add", "path": drift.pointer("spec", "selector", constants.LABEL_COLOR),
              "value": color} if isinstance(selector, Mapping) else \
            {"op": "add", "path": "/spec/selector", "value": manifests.selector(name, color)}
        path = object_path("Service", namespace, service_name)
        self._cache[path] = await self.kube.patch(path, [op], "json")
        self.writes.append(f"PATCH Service {namespace}/{service_name}")
        return True

    async def repoint_ingress(self, namespace: str, name: str, color: str) -> bool:
        """Make an existing owned Ingress's colour backends ``<name>-<color>``, nothing else.

        Each backend Service ``<name>-blue|green`` is replaced (after a JSON-patch ``test``
        that it still holds what was read); other backends and fields stay as they are."""
        current = await self.read("Ingress", namespace, name)
        if current is None:
            return False
        self._check_owner(current, "Ingress")
        target = manifests.colored_name(name, color)
        ops: list[dict[str, Any]] = []
        for i, rule in enumerate((current.get("spec") or {}).get("rules") or []):
            for j, http_path in enumerate((rule.get("http") or {}).get("paths") or []):
                backend = ((http_path.get("backend") or {}).get("service") or {}).get("name")
                if manifests.color_of_service(name, backend) is None or backend == target:
                    continue
                pointer = drift.pointer("spec", "rules", i, "http", "paths", j, "backend",
                                   "service", "name")
                ops += [{"op": "test", "path": pointer, "value": backend},
                        {"op": "replace", "path": pointer, "value": target}]
        if not ops:
            return False
        path = object_path("Ingress", namespace, name)
        self._cache[path] = await self.kube.patch(path, ops, "json")
        self.writes.append(f"PATCH Ingress {namespace}/{name}")
        return True

    # -- ControllerRevisions: promoted templates, immutable once written --

    async def revisions(self, namespace: str, name: str) -> dict[str, dict[str, Any]]:
        """The owned ControllerRevisions ``<name>-<revision>`` by their revision label."""
        found: dict[str, dict[str, Any]] = {}
        for obj in await self.list_labelled("ControllerRevision", namespace, name):
            revision = drift.labels_of(obj).get(constants.LABEL_REVISION)
            obj_name = (obj.get("metadata") or {}).get("name")
            if (revision and is_owned_by(obj, self.owner_uid)
                    and obj_name == manifests.revision_name(name, str(revision))):
                found[str(revision)] = obj
        return found

    async def record_revision(self, owner: manifests.Owner, revision: str,
                              template: Mapping[str, Any]) -> bool:
        """ControllerRevision ``<name>-<revision>`` exists holding ``template``: created once
        (its ``revision`` number 1 + the highest this resource owns), never patched. False
        when it exists already; an object of that name we do not own is an OwnershipError."""
        namespace, name = owner["namespace"], owner["name"]
        listed = await self.list_labelled("ControllerRevision", namespace, name)
        cr_name = manifests.revision_name(name, revision)
        current = await self.read("ControllerRevision", namespace, cr_name)
        if current is None:
            number = 1 + max((int(o.get("revision") or 0) for o in listed
                              if is_owned_by(o, self.owner_uid)), default=0)
            created = await self._create(
                manifests.controller_revision(owner, revision, template, number))
            if created is not None:
                listed.append(created)
                return True
            current = await self.read("ControllerRevision", namespace, cr_name)
            assert current is not None
        self._check_owner(current, "ControllerRevision")
        return False

    async def create_once(self, desired: dict[str, Any]) -> bool:
        """Create ``desired`` unless an object of its name exists (then it is never patched: a
        hook Job's spec is immutable); False when it exists. A foreign one: OwnershipError."""
        desired = drift.with_bookkeeping(desired)
        kind, meta = desired["kind"], desired["metadata"]
        if await self.read(kind, meta["namespace"], meta["name"]) is None and (
                await self._create(desired) is not None):
            return True
        current = await self.read(kind, meta["namespace"], meta["name"])
        assert current is not None
        self._check_owner(current, kind)
        return False

    async def prune_revisions(self, namespace: str, name: str, keep: tuple[str, ...]) -> int:
        """Delete the owned ControllerRevisions whose revision is not in ``keep`` (never a
        foreign one); the number deleted."""
        deleted = 0
        for revision, obj in (await self.revisions(namespace, name)).items():
            if revision not in keep:
                await self.remove("ControllerRevision", namespace, obj["metadata"]["name"])
                deleted += 1
        return deleted
