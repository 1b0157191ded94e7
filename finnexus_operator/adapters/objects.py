"""Ensure-style writes of owned objects: read, do nothing when true, else a minimal patch.

An :class:`ObjectStore` lives for one reconcile pass and remembers what it read (and listed),
so the observation and the actions of a pass share one GET per object. It never takes over an
object it does not own (no ownerReference to this FinNexusDeployment): that is an
:class:`~finnexus_operator.errors.OwnershipError`, reported, never overwritten.

Drift (DESIGN §2.1 rule 6) is corrected by comparing what we declare with what is there,
without fighting API-server defaulting (:func:`declares`): a real API server adds defaults to
what we write (``imagePullPolicy``, ``terminationMessagePath``, ``protocol: TCP``, ``dnsPolicy``,
``securityContext: {}`` ...), drops empty values and canonicalises quantities, so comparing
whole objects would patch for ever. What is compared, by kind:

- Deployment: ``replicas``, and the declared pod template as a subset of the current one
  (a changed or removed declared value, or a declared list whose length differs: an added or
  removed container, env var or port) -- then the whole declared template is written back.
  A field added by hand where we declare nothing (``command``, ``env`` on a container that
  declares none) looks like a default: see *applied* below;
- Service: the selector exactly, the declared ports as a subset;
- Ingress: its ``spec`` is wholly ours (rules, ``ingressClassName``, ``tls``, including their
  absence: a field removed from ``spec.ingress`` is removed, a field added by hand is removed),
  with one exception: an ``ingressClassName`` we never set is kept (the DefaultIngressClass
  admission plugin sets the cluster's default class on creation, and removing it could leave
  the Ingress unserved). The spec fields we set are recorded in
  ``finnexus.ai/managed-fields``, so a class we set and no longer declare is removed;
- metadata: the declared labels; the declared annotations, and the annotations we set before
  and no longer declare are removed (their keys are recorded in
  ``finnexus.ai/managed-annotations``), annotations others add are kept.

*Applied*: when the pod template the API server stored holds more than we declared (its
defaults), the Deployment's annotation ``finnexus.ai/applied`` records ``<hash of what we
declared>.<hash of what was stored>`` after our write (one metadata patch). The template then
holds while what we declare and what is stored are both unchanged; anything else -- a field
added by hand, a field we no longer declare -- is written back. Writing back what is already
stored is a no-op for the API server (no new ReplicaSet), so a doubtful case costs one
request, never a rollout. Where the API server adds nothing (the emulator), nothing is
recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from finnexus_operator import constants, errors
from finnexus_operator.adapters.kube import KubeClient, api_path
from finnexus_operator.core import manifests

__all__ = [
    "KINDS",
    "ObjectStore",
    "applied",
    "collection_path",
    "declares",
    "equivalent",
    "is_owned_by",
    "is_subset",
    "object_path",
]

KINDS: dict[str, tuple[str, str]] = {  # kind -> (apiVersion, plural)
    "Deployment": ("apps/v1", "deployments"),
    "ReplicaSet": ("apps/v1", "replicasets"),
    "ControllerRevision": ("apps/v1", "controllerrevisions"),
    "Pod": ("v1", "pods"),
    "Service": ("v1", "services"),
    "Ingress": ("networking.k8s.io/v1", "ingresses"),
    constants.KIND: (constants.API_VERSION, constants.PLURAL),
}
MANAGED = constants.ANNOTATION_MANAGED_ANNOTATIONS
MANAGED_FIELDS = constants.ANNOTATION_MANAGED_FIELDS
BOOKKEEPING = frozenset({MANAGED, MANAGED_FIELDS})  # annotations about what we manage
INGRESS_CLASS = "ingressClassName"
APPLIED = constants.ANNOTATION_APPLIED


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


# Maps whose values are resource quantities (container resources, pod overhead) and scalar
# quantities: the API server stores them canonicalised ("1000m" -> "1", "0.5" -> "500m").
_QUANTITY_MAPS = frozenset({"limits", "requests", "overhead"})
_QUANTITY_SCALARS = frozenset({"sizeLimit"})
_QUANTITY = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))"  # the number, then an exponent or a suffix
                       r"(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def _quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity's value ("500m", "1Gi", "2e3", 1), or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.fullmatch(value.strip())
    if match is None:
        return None
    try:
        number = Decimal(match[1])
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        return None
    if match[2]:
        return number.scaleb(int(match[2][1:]))
    if match[3] in _BINARY:
        return number * _BINARY[match[3]]
    if match[3]:
        return number.scaleb(_DECIMAL[match[3]])
    return number


def _is_zero(value: Any) -> bool:
    """A value the API server does not store (Go's ``omitempty``): an absent key equals it."""
    if value is None or value is False:
        return True
    if isinstance(value, str | list | Mapping):
        return len(value) == 0
    return isinstance(value, int | float) and value == 0


def declares(want: Any, have: Any, *, quantity: bool = False) -> bool:
    """What we declare (``want``) holds in what is there (``have``), API-server defaults allowed.

    Keys ``have`` adds are fine (defaults); a declared key that is missing or whose value
    changed is not; lists must have the same length and hold element-wise (an added or
    removed container or env var is drift); a declared zero value (``null``, ``""``, ``0``,
    ``false``, ``[]``, ``{}``) matches an absent key (the API server drops them); quantities
    in ``resources.limits/requests``, ``overhead`` and ``sizeLimit`` compare by value.
    """
    if isinstance(want, Mapping):
        if not isinstance(have, Mapping):
            return have is None and _is_zero(want)
        for key, value in want.items():
            if have.get(key) is None:
                if not _is_zero(value):
                    return False
            elif not declares(value, have[key], quantity=quantity or key in _QUANTITY_MAPS
                              or key in _QUANTITY_SCALARS):
                return False
        return True
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(
            declares(w, h, quantity=quantity) for w, h in zip(want, have, strict=True))
    if want is None:
        return _is_zero(have)
    if quantity:
        a, b = _quantity(want), _quantity(have)
        if a is not None and b is not None:
            return a == b
    return bool(want == have) and isinstance(want, bool) == isinstance(have, bool)


def equivalent(want: Any, have: Any) -> bool:
    """``want`` and ``have`` say the same (each :func:`declares` the other): nothing added,
    nothing removed, nothing changed, up to zero values the API server drops."""
    return declares(want, have) and declares(have, want)


def is_owned_by(obj: Mapping[str, Any] | None, uid: str) -> bool:
    """``obj`` exists and carries an ownerReference to ``uid`` (the one owner check)."""
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


def _pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) to ``parts``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def applied(declared: Any, stored: Any) -> str:
    """The ``finnexus.ai/applied`` record: hashes of what we declared and what was stored."""
    return f"{_digest(declared)}.{_digest(stored)}"


def _holds(want: Any, stored: Any, current: Mapping[str, Any]) -> bool:
    """What we declare holds in what is stored: both say the same, or the stored one adds to it
    and both are as our last write left them (the applied record): the additions are the API
    server's."""
    if equivalent(want, stored):
        return True
    recorded = ((current.get("metadata") or {}).get("annotations") or {}).get(APPLIED)
    return declares(want, stored) and recorded == applied(want, stored)


def _spec_ops(desired: Mapping[str, Any], current: Mapping[str, Any]) -> list[dict[str, Any]]:
    want, have = desired.get("spec") or {}, current.get("spec") or {}
    kind = desired["kind"]
    if kind == "Deployment":
        ops = []
        if have.get("replicas") != want["replicas"]:
            ops.append({"op": "add", "path": "/spec/replicas", "value": want["replicas"]})
        if not _holds(want["template"], have.get("template"), current):
            ops.append({"op": "add", "path": "/spec/template", "value": want["template"]})
        return ops
    if kind == "Service":
        ops = []
        if not equivalent(want["selector"], have.get("selector")):
            ops.append({"op": "add", "path": "/spec/selector", "value": want["selector"]})
        if not declares(want["ports"], have.get("ports")):
            ops.append({"op": "add", "path": "/spec/ports", "value": want["ports"]})
        return ops
    # The Ingress: its spec is wholly ours, but for a class we never set (see the module doc).
    want = dict(want)
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    set_before = str(annotations.get(MANAGED_FIELDS) or "").split(",")
    if INGRESS_CLASS not in want and INGRESS_CLASS not in set_before \
            and have.get(INGRESS_CLASS) is not None:
        want[INGRESS_CLASS] = have[INGRESS_CLASS]
    if not equivalent(want, have):
        return [{"op": "add", "path": "/spec", "value": want}]
    return []


def _with_bookkeeping(desired: dict[str, Any]) -> dict[str, Any]:
    """``desired`` with the bookkeeping annotations: the annotation keys it declares, and for
    an Ingress the spec fields it sets."""
    declared = {k: v for k, v in (desired["metadata"].get("annotations") or {}).items()
                if k not in BOOKKEEPING}
    annotations = dict(declared)
    if declared:
        annotations[MANAGED] = ",".join(sorted(declared))
    if desired["kind"] == "Ingress":
        annotations[MANAGED_FIELDS] = ",".join(sorted(desired.get("spec") or {}))
    if not annotations:
        return desired
    return {**desired, "metadata": {**desired["metadata"], "annotations": annotations}}


def _map_ops(field: str, declared: Mapping[str, str], have: Any,
             stale: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Per-key ops making ``metadata.<field>`` hold ``declared`` and lack ``stale`` keys."""
    if not isinstance(have, Mapping):
        return [{"op": "add", "path": _pointer("metadata", field), "value": dict(declared)}] \
            if declared else []
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": _pointer("metadata", field, key), "value": value}
        for key, value in declared.items() if have.get(key) != value]
    ops += [{"op": "remove", "path": _pointer("metadata", field, key)}
            for key in sorted(stale) if key in have and key not in declared]
    return ops


def _metadata_ops(desired: Mapping[str, Any], current: Mapping[str, Any]
                  ) -> list[dict[str, Any]]:
    meta = current.get("metadata") or {}
    ops = _map_ops("labels", desired.get("labels") or {}, meta.get("labels"))
    have = meta.get("annotations")
    managed = frozenset(k for k in str((have or {}).get(MANAGED) or "").split(",") if k)
    ops += _map_ops("annotations", desired.get("annotations") or {}, have, managed | {MANAGED})
    return ops


def _labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return (obj.get("metadata") or {}).get("labels") or {}


class ObjectStore:
    """Owned objects of one FinNexusDeployment, read once per pass, written minimally."""

    def __init__(self, kube: KubeClient, owner_uid: str) -> None:
        self.kube = kube
        self.owner_uid = owner_uid
        self._cache: dict[str, dict[str, Any] | None] = {}
        self._lists: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self.writes: list[str] = []  # "PATCH Ingress ns/name" — for logs and tests

    async def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        path = object_path(kind, namespace, name)
        if path not in self._cache:
            self._cache[path] = await self.kube.get(path)
        return self._cache[path]

    async def list_labelled(self, kind: str, namespace: str, name: str
                            ) -> list[dict[str, Any]]:
        """Objects of ``kind`` labelled ``app.kubernetes.io/name: <name>``, once per pass.

        The label selector is also applied here (an API that ignores selectors returns
        everything); ownership is the caller's to check. Listed objects are remembered, so a
        later :meth:`read` of one of them costs no request."""
        key = (kind, namespace, name)
        if key not in self._lists:
            found = await self.kube.list(collection_path(kind, namespace),
                                         label_selector=f"{constants.LABEL_NAME}={name}")
            self._lists[key] = [o for o in found if _labels(o).get(constants.LABEL_NAME) == name]
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
            self._cache.pop(path, None)
            if await self.read(kind, meta["namespace"], meta["name"]) is None:
                raise
            return None
        self.writes.append(f"CREATE {kind} {meta['namespace']}/{meta['name']}")
        return self._cache[path]

    async def ensure(self, desired: dict[str, Any]) -> bool:
        """Create ``desired`` or patch what differs from what it declares; False when true."""
        desired = _with_bookkeeping(desired)
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
        ops = _spec_ops(desired, current) + _metadata_ops(meta, current)
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
        if equivalent(want, stored):
            return
        record = applied(want, stored)
        annotations = (written.get("metadata") or {}).get("annotations")
        if isinstance(annotations, Mapping) and annotations.get(APPLIED) == record:
            return
        meta = desired["metadata"]
        path = object_path("Deployment", meta["namespace"], meta["name"])
        op = {"op": "add", "path": _pointer("metadata", "annotations", APPLIED),
              "value": record} if isinstance(annotations, Mapping) else \
            {"op": "add", "path": "/metadata/annotations", "value": {APPLIED: record}}
        self._cache[path] = await self.kube.patch(path, [op], "json")
        self.writes.append(f"ANNOTATE Deployment {meta['namespace']}/{meta['name']}")

    async def remove(self, kind: str, namespace: str, name: str) -> bool:
        """Delete an object this resource owns; False when absent. Never a foreign one."""
        current = await self.read(kind, namespace, name)
        if current is None:
            return False
        self._check_owner(current, kind)
        path = object_path(kind, namespace, name)
        await self.kube.delete(path)
        self._cache[path] = None
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
        op = {"op": "add", "path": _pointer("spec", "selector", constants.LABEL_COLOR),
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
                pointer = _pointer("spec", "rules", i, "http", "paths", j, "backend",
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
            revision = _labels(obj).get(constants.LABEL_REVISION)
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

    async def prune_revisions(self, namespace: str, name: str, keep: tuple[str, ...]) -> int:
        """Delete the owned ControllerRevisions whose revision is not in ``keep`` (never a
        foreign one); the number deleted."""
        deleted = 0
        for revision, obj in (await self.revisions(namespace, name)).items():
            if revision not in keep:
                await self.remove("ControllerRevision", namespace, obj["metadata"]["name"])
                deleted += 1
        return deleted
