"""Read what plan() needs: owned Deployments, the routes (through the routers), the pods that
count, and the promoted templates (ControllerRevisions)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from finnexus_operator import constants
from finnexus_operator.adapters.health import counted_pods, is_ready
from finnexus_operator.adapters.objects import ObjectStore, is_owned_by
from finnexus_operator.adapters.routers import (
    IngressRouter,
    ServiceRouter,
    make_routers,
    routed_colors,
)
from finnexus_operator.controller.observe_jobs import observe_jobs
from finnexus_operator.core import manifests
from finnexus_operator.core.observed import DeploymentState, Observed
from finnexus_operator.models.spec import FinNexusDeploymentSpec

__all__ = ["Snapshot", "observe"]


class Snapshot:
    """The observation of one pass plus the raw pods that count (the health prober needs them).

    ``pods`` holds only pods owned by a ReplicaSet owned by a colour's Deployment and carrying
    its revision (DESIGN §2.1 rule 4): a pod that merely copies the labels is never probed."""

    def __init__(self, observed: Observed, pods: Sequence[Mapping[str, Any]]) -> None:
        self.observed = observed
        self.pods = pods


def _uid(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return str(meta.get("uid") or meta.get("name") or "")


async def observe(store: ObjectStore, body: Mapping[str, Any],
                  spec: FinNexusDeploymentSpec | None) -> Snapshot:
    """One concurrent read of everything the resource owns; routes are read by the routers
    (for an invalid spec, every router: plan() may have to return traffic using the objects
    as they stand)."""
    meta = body.get("metadata") or {}
    ns, name, uid = meta["namespace"], meta["name"], meta.get("uid", "")
    owner = {"name": name, "namespace": ns, "uid": uid}
    routers = make_routers(store, owner, spec)
    targets = list(dict.fromkeys([*(r.target() for r in routers), ("Ingress", name)]))
    deps, found, (pods, replicasets, revisions, jobs) = await asyncio.gather(
        asyncio.gather(*(store.read("Deployment", ns, manifests.colored_name(name, color))
                         for color in constants.COLORS)),
        asyncio.gather(*(store.read(kind, ns, obj) for kind, obj in targets)),
        asyncio.gather(store.list_labelled("Pod", ns, name),
                       store.list_labelled("ReplicaSet", ns, name),
                       store.revisions(ns, name), observe_jobs(store, ns, name, uid)),
    )
    owned = {t: obj if is_owned_by(obj, uid) else None
             for t, obj in zip(targets, found, strict=True)}
    deployments: dict[str, DeploymentState] = {}
    counted: list[Mapping[str, Any]] = []
    for color, dep in zip(constants.COLORS, deps, strict=True):
        if dep is None or not is_owned_by(dep, uid):
            continue
        labels = (((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
            "labels") or {}
        mine = counted_pods(dep, replicasets, pods, name, color)
        ready = [p for p in mine if is_ready(p)]
        counted.extend(mine)
        deployments[color] = DeploymentState(
            revision=labels.get(constants.LABEL_REVISION),
            replicas=int((dep.get("spec") or {}).get("replicas") or 0),
            ready=len(ready), pods=frozenset(_uid(p) for p in ready))
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
        revisions={rev: dict((obj.get("data") or {}).get("template") or {})
                   for rev, obj in revisions.items()
                   if isinstance((obj.get("data") or {}).get("template"), Mapping)},
        jobs=jobs,
    )
    return Snapshot(observed, counted)
