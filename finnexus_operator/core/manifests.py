"""Pure builders of the objects the operator owns (DESIGN.md §2 table). No API calls here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finnexus_operator import constants
from finnexus_operator.models.spec import FinNexusDeploymentSpec

__all__ = [
    "Owner",
    "active_service_name",
    "color_of_service",
    "color_service",
    "colored_name",
    "controller_revision",
    "deployment",
    "hook_job",
    "ingress",
    "other",
    "owned_labels",
    "preview_service_name",
    "revision_name",
    "selector",
    "service",
]

Owner = Mapping[str, Any]  # the FinNexusDeployment's metadata (name, namespace, uid)


def other(color: str) -> str:
    """The other colour."""
    return constants.GREEN if color == constants.BLUE else constants.BLUE


def colored_name(name: str, color: str) -> str:
    """``<name>-<color>``: the Deployment and Service of one colour."""
    return f"{name}-{color}"


def active_service_name(name: str) -> str:
    return name


def preview_service_name(name: str) -> str:
    return f"{name}-preview"


def color_of_service(name: str, service_name: str | None) -> str | None:
    """The colour whose Service ``service_name`` is, or None."""
    for color in constants.COLORS:
        if service_name == colored_name(name, color):
            return color
    return None


def revision_name(name: str, revision: str) -> str:
    """``<name>-<revision>``: the ControllerRevision holding a promoted template."""
    return f"{name}-{revision}"


def owned_labels(name: str) -> dict[str, str]:
    return {constants.LABEL_NAME: name, constants.LABEL_MANAGED_BY: constants.MANAGED_BY}


def selector(name: str, color: str) -> dict[str, str]:
    """What every Service and the Deployment of a colour select on."""
    return {constants.LABEL_NAME: name, constants.LABEL_COLOR: color}


def _metadata(owner: Owner, name: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    labels = owned_labels(owner["name"])
    if extra:
        labels.update(extra)
    return {
        "name": name,
        "namespace": owner["namespace"],
        "labels": labels,
        "ownerReferences": [{
            "apiVersion": constants.API_VERSION,
            "kind": constants.KIND,
            "name": owner["name"],
            "uid": owner["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }],
    }


def deployment(
    owner: Owner, color: str, revision: str, template: Mapping[str, Any], replicas: int
) -> dict[str, Any]:
    """Deployment ``<name>-<color>`` running ``template`` (labelled with colour and revision)."""
    name = owner["name"]
    pod_template = dict(template)
    meta = dict(pod_template.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), **selector(name, color),
                      constants.LABEL_REVISION: revision}
    pod_template["metadata"] = meta
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(owner, colored_name(name, color),
                              {constants.LABEL_COLOR: color, constants.LABEL_REVISION: revision}),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector(name, color)},
            "template": pod_template,
        },
    }


def service(owner: Owner, service_name: str, color: str, spec: FinNexusDeploymentSpec
            ) -> dict[str, Any]:
    """A ClusterIP Service named ``service_name`` selecting ``color``."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(owner, service_name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(owner["name"], color),
            "ports": [{
                "name": "http",
                "port": spec.service.port,
                "targetPort": spec.service.target_port,
                "protocol": "TCP",
            }],
        },
    }


def color_service(owner: Owner, color: str, spec: FinNexusDeploymentSpec) -> dict[str, Any]:
    return service(owner, colored_name(owner["name"], color), color, spec)


def ingress(owner: Owner, color: str, spec: FinNexusDeploymentSpec) -> dict[str, Any]:
    """Ingress ``<name>`` whose backend is Service ``<name>-<color>``."""
    ing = spec.ingress
    assert ing is not None
    meta = _metadata(owner, owner["name"])
    if ing.annotations:
        meta["annotations"] = dict(ing.annotations)
    body: dict[str, Any] = {
        "rules": [{
            "host": ing.host,
            "http": {"paths": [{
                "path": ing.path,
                "pathType": ing.path_type,
                "backend": {"service": {
                    "name": colored_name(owner["name"], color),
                    "port": {"number": spec.service.port},
                }},
            }]},
        }],
    }
    if ing.class_name:
        body["ingressClassName"] = ing.class_name
    if ing.tls_secret_name:
        body["tls"] = [{"hosts": [ing.host], "secretName": ing.tls_secret_name}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
            "spec": body}


def controller_revision(owner: Owner, revision: str, template: Mapping[str, Any], number: int
                        ) -> dict[str, Any]:
    """ControllerRevision ``<name>-<revision>`` holding a promoted pod template.

    ``number`` is its ``revision`` field: a monotonically increasing integer (1 + the highest
    this resource owns). Its data is immutable: it is created once, never patched.
    """
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": _metadata(owner, revision_name(owner["name"], revision),
                              {constants.LABEL_REVISION: revision}),
        "data": {"template": dict(template)},
        "revision": number,
    }


def hook_job(owner: Owner, job_name: str, revision: str, hook: str,
             job_spec: Mapping[str, Any]) -> dict[str, Any]:
    """batch/v1 Job ``job_name`` (``<name>-<revision>-<hook>-<i>``) running a rendered JobSpec
    of ``spec.hooks``; its pods get restartPolicy Never unless the JobSpec says OnFailure."""
    spec = dict(job_spec)
    pod = dict(spec.get("template") or {})
    pod_spec = dict(pod.get("spec") or {})
    pod_spec.setdefault("restartPolicy", "Never")
    pod["spec"] = pod_spec
    spec["template"] = pod
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(owner, job_name, {constants.LABEL_REVISION: revision,
                                                constants.LABEL_HOOK: hook}),
        "spec": spec,
    }
