"""Read what plan() needs: owned Deployments, Services, Ingress, the pods; run due probes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from finnexus_operator import constants as c
from finnexus_operator.adapters.health import is_ready
from finnexus_operator.adapters.kube import api_path
from finnexus_operator.adapters.metrics import MetricProvider
from finnexus_operator.adapters.objects import ObjectStore
from finnexus_operator.adapters.routers import ingress_color, service_color
from finnexus_operator.core import manifests as m
from finnexus_operator.core.measurement import QueryResult
from finnexus_operator.core.observed import DeploymentState, MetricSample, Observed
from finnexus_operator.core.probes import Measurement

__all__ = ["Snapshot", "measure", "observe"]


class Snapshot:
    """The observation of one pass plus the raw pods (the health prober needs them)."""

    def __init__(self, observed: Observed, pods: Sequence[Mapping[str, Any]]) -> None:
        self.observed = observed
        self.pods = pods


def _owned(obj: Mapping[str, Any] | None, uid: str) -> Mapping[str, Any] | None:
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return obj if any(r.get("uid") == uid for r in refs) else None


async def observe(store: ObjectStore, body: Mapping[str, Any]) -> Snapshot:
    """One concurrent read of everything the resource owns."""
    meta = body.get("metadata") or {}
    ns, name, uid = meta["namespace"], meta["name"], meta.get("uid", "")
    colors = c.COLORS
    deps = await asyncio.gather(
        *(store.read("Deployment", ns, m.colored_name(name, color)) for color in colors))
    svc, ing = await asyncio.gather(
        store.read("Service", ns, m.active_service_name(name)),
        store.read("Ingress", ns, name))
    listed = await store.kube.list(api_path("v1", "pods", ns),
                                   label_selector=f"{c.LABEL_NAME}={name}")
    pods = [p for p in listed if ((p.get("metadata") or {}).get("labels") or {}).get(
        c.LABEL_NAME) == name]
    deployments: dict[str, DeploymentState] = {}
    for color, found in zip(colors, deps, strict=True):
        dep = _owned(found, uid)
        if dep is None:
            continue
        labels = (((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
            "labels") or {}
        revision = labels.get(c.LABEL_REVISION)
        ready = sum(1 for p in pods if _is(p, color, revision) and is_ready(p))
        deployments[color] = DeploymentState(
            revision=revision, replicas=int((dep.get("spec") or {}).get("replicas") or 0),
            ready=ready)
    observed = Observed(
        namespace=ns,
        name=name,
        generation=int(meta.get("generation") or 1),
        request=(meta.get("annotations") or {}).get(c.ANNOTATION_REQUEST),
        deployments=deployments,
        active_service_color=service_color(_owned(svc, uid)),
        ingress_color=ingress_color(name, _owned(ing, uid)),
        ingress_present=_owned(ing, uid) is not None,
    )
    return Snapshot(observed, pods)


def _is(pod: Mapping[str, Any], color: str, revision: str | None) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return labels.get(c.LABEL_COLOR) == color and labels.get(c.LABEL_REVISION) == revision


async def measure(provider: MetricProvider | None, measurement: Measurement
                  ) -> list[MetricSample]:
    """One measurement round: every metric's query, concurrently."""
    queries = measurement.queries
    if provider is None:
        missing = QueryResult.error("no Prometheus configured: start the operator with "
                                    "--prometheus-url (FINNEXUS_PROMETHEUS_URL)")
        results: list[QueryResult] = [missing for _ in queries]
    else:
        results = list(await asyncio.gather(*(provider.query(q.promql) for q in queries)))
    return [MetricSample(q.name, result, q.promql)
            for q, result in zip(queries, results, strict=True)]
