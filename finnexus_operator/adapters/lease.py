"""One ``coordination.k8s.io/v1`` Lease object: read, create, and replace it conditionally.

The leader elector (``controller.leader``) sees the Lease as a :class:`LeaseRecord` and calls
three things: ``get``, ``create`` (a 409 AlreadyExists is ``errors.Conflict``: someone else was
first) and ``replace``, a merge patch of the whole ``spec`` carrying the record's
``metadata.resourceVersion`` as a precondition (the API answers 409 Conflict when the object
changed since it was read: someone else won). RBAC: leases get, create, patch -- in the
operator's own namespace, on its own Lease name only.

Times in the record are MicroTime strings for people (``kubectl get lease -o yaml``); the
elector never trusts them: expiry is measured on its own clock from when it saw a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finnexus_operator.adapters.kube import KubeClient, api_path

__all__ = ["LEASE_API", "KubeLeaseStore", "LeaseRecord"]

LEASE_API = "coordination.k8s.io/v1"


@dataclass(frozen=True)
class LeaseRecord:
    """The Lease's ``spec`` (and its resourceVersion) as the elector reads and writes it."""

    holder: str = ""  # spec.holderIdentity; "" = free (released)
    duration: float = 15.0  # spec.leaseDurationSeconds
    acquire_time: str | None = None  # spec.acquireTime (for people only)
    renew_time: str | None = None  # spec.renewTime (for people only)
    transitions: int = 0  # spec.leaseTransitions
    resource_version: str | None = None  # the version read: the precondition of a replace

    def spec(self) -> dict[str, Any]:
        return {"holderIdentity": self.holder or None,
                "leaseDurationSeconds": max(1, round(self.duration)),
                "acquireTime": self.acquire_time, "renewTime": self.renew_time,
                "leaseTransitions": self.transitions}

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> LeaseRecord:
        spec = obj.get("spec") or {}
        return cls(holder=str(spec.get("holderIdentity") or ""),
                   duration=float(spec.get("leaseDurationSeconds") or 0),
                   acquire_time=spec.get("acquireTime"), renew_time=spec.get("renewTime"),
                   transitions=int(spec.get("leaseTransitions") or 0),
                   resource_version=(obj.get("metadata") or {}).get("resourceVersion"))


class KubeLeaseStore:
    """The Lease ``namespace/name`` through the operator's Kubernetes client."""

    def __init__(self, kube: KubeClient, namespace: str, name: str) -> None:
        self.namespace, self.name = namespace, name
        self._kube = kube
        self._path = api_path(LEASE_API, "leases", namespace, name)

    def __repr__(self) -> str:
        return f"Lease {self.namespace}/{self.name}"

    async def get(self) -> LeaseRecord | None:
        obj = await self._kube.get(self._path)
        return None if obj is None else LeaseRecord.from_object(obj)

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        body = {"apiVersion": LEASE_API, "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": record.spec()}
        created = await self._kube.create(api_path(LEASE_API, "leases", self.namespace), body)
        return LeaseRecord.from_object(created)

    async def replace(self, record: LeaseRecord) -> LeaseRecord:
        """Write ``record`` if the Lease is still at ``record.resource_version`` (409 if not)."""
        body = {"metadata": {"resourceVersion": record.resource_version},
                "spec": record.spec()}
        return LeaseRecord.from_object(await self._kube.patch(self._path, body))
