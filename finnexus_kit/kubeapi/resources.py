"""The served resource types, their API paths, and the ``kind: Status`` failures about them."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

__all__ = [
    "NAMESPACES",
    "RESOURCES",
    "VERBS",
    "Obj",
    "Objs",
    "ResourceType",
    "StatusError",
    "not_found",
    "path_for",
]

Obj = dict[str, Any]
Objs = list[Obj]

VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


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
    ResourceType("finnexus.ai/v1alpha1", "finnexusanalysistemplates", "FinNexusAnalysisTemplate",
                 namespaced=False, short_names=("fnat",)),
    ResourceType("apps/v1", "deployments", "Deployment", status=True, short_names=("deploy",)),
    ResourceType("apps/v1", "replicasets", "ReplicaSet", status=True, short_names=("rs",)),
    ResourceType("apps/v1", "controllerrevisions", "ControllerRevision"),
    ResourceType("batch/v1", "jobs", "Job", status=True),
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
NAMESPACES = next(r for r in RESOURCES if r.api_version == "v1" and r.plural == "namespaces")


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


def not_found(rtype: ResourceType, name: str) -> StatusError:
    """The 404 NotFound the real API answers for a missing ``name`` of ``rtype``."""
    qualified = f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural
    return StatusError(404, "NotFound", f'{qualified} "{name}" not found',
                       name=name, group=rtype.group, kind=rtype.plural)
