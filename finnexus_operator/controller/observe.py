"""Read what plan() needs: owned Deployments, the routes (through the routers), the pods."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from finnexus_operator import constants
from finnexus_operator.adapters.health import is_ready, pod_matches
from finnexus_operator.adapters.kube import api_path
from finnexus_operator.adapters.objects import ObjectStore, is_owned_by
from finnexus_operator.adapters.routers import (
    IngressRouter,
    ServiceRouter,
    make_routers,
    routed_colors,
)
from finnexus_operator.core import manifests
from finnexus_operator.core.observed import DeploymentState, Observed
from finnexus_operator.models.spec import FinNexusDeploymentSpec

__all__ = ["Snapshot", "observe"]


class Snapshot:
    """The observation of one pass plus the raw pods (the health prober needs them)."""

    def __init__(self, observed: Observed, pods: Sequence[Mapping[str, Any]]) -> None:
        self.observed = observed
        self.pods = pods


async def observe(store: ObjectStore, body: Mapping[str, Any],
                  spec: FinNexusDeploymentSpec | None) -> Snapshot:
    """One concurrent read of everything the resource owns; routes are read by the routers
    (none for an invalid spec: plan() then looks at no route)."""
    meta = body.get("metadata") or {}
    ns, name, uid = meta["namespace"], meta["name"], meta.get("uid", "")
    owner = {"name": name, "namespace": ns, "uid": uid}
    routers = make_routers(store, owner, spec) if spec is not None else []
    targets = list(dict.fromkeys([*(r.target() for r in routers), ("Ingress", name)]))
    deps = await asyncio.gather(
        *(store.read("Deployment", ns, manifests.colored_name(name, color))
          for color in constants.COLORS))
    found = await asyncio.gather(*(store.read(kind, ns, obj) for kind, obj in targets))
    owned = {t: obj if is_owned_by(obj, uid) else None
             for t, obj in zip(targets, found, strict=True)}
    listed = await store.kube.list(api_path("v1", "pods", ns),
                                   label_selector=f"{constants.LABEL_NAME}={name}")
    pods = [p for p in listed if ((p.get("metadata") or {}).get("labels") or {}).get(
        constants.LABEL_NAME) == name]
    deployments: dict[str, DeploymentState] = {}
    for color, dep in zip(constants.COLORS, deps, strict=True):
        if dep is None or not is_owned_by(dep, uid):
            continue
        labels = (((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
            "labels") or {}
        revision = labels.get(constants.LABEL_REVISION)
        ready = sum(1 for p in pods if pod_matches(p, name, color, revision) and is_ready(p))
        deployments[color] = DeploymentState(
            revision=revision, replicas=int((dep.get("spec") or {}).get("replicas") or 0),
            ready=ready)
    routed = routed_colors(routers, owned)
    observed = Observed(
        namespace=ns,
        name=name,
        generation=int(meta.get("generation") or 1),
        request=(meta.get("annotations") or {}).get(constants.ANNOTATION_REQUEST),
        deployments=deployments,
        active_service_color=routed.get(ServiceRouter.kind),
        ingress_color=routed.get(IngressRouter.kind),
        ingress_present=owned[("Ingress", name)] is not None,
    )
    return Snapshot(observed, pods)
