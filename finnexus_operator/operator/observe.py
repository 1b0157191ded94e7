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
from finnexus_operator.core import templating
from finnexus_operator.core.measurement import QueryResult
from finnexus_operator.core.observed import DeploymentState, MetricSample, Observed
from finnexus_operator.core.plan import other
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from finnexus_operator.models.status import FinNexusDeploymentStatus

__all__ = ["Snapshot", "measure", "observe", "query_values"]


class Snapshot:
    """The observation of one pass plus the raw pods (the health prober needs them)."""

    def __init__(self, observed: Observed, pods: Sequence[Mapping[str, Any]]) -> None:
        self.observed = observed
        self.pods = pods


def _owned(obj: Mapping[str, Any] | None, uid: str) -> Mapping[str, Any] | None:
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return obj if any(r.get("uid") == uid for r in refs) else None


async def observe(store: ObjectStore, body: Mapping[str, Any],
                  spec: FinNexusDeploymentSpec | None) -> Snapshot:
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
        generation=int(meta.get("generation") or 1),
        request=(meta.get("annotations") or {}).get(c.ANNOTATION_REQUEST),
        deployments=deployments,
        active_service_color=service_color(_owned(svc, uid)),
        ingress_color=ingress_color(name, _owned(ing, uid)),
        ingress_present=_owned(ing, uid) is not None,
    )
    return Snapshot(observed, pods)


async def _none() -> dict[str, Any] | None:
    return None


def _is(pod: Mapping[str, Any], color: str, revision: str | None) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return labels.get(c.LABEL_COLOR) == color and labels.get(c.LABEL_REVISION) == revision


def query_values(namespace: str, name: str, status: FinNexusDeploymentStatus
                 ) -> dict[str, str]:
    """Values of the PromQL placeholders for the current candidate."""
    color = status.candidate_color or status.active_color or c.BLUE
    stable = other(color)
    return {
        "namespace": namespace, "name": name, "color": color,
        "revision": status.candidate_revision or status.stable_revision or "",
        "service": m.colored_name(name, color), "stableColor": stable,
        "stableService": m.colored_name(name, stable),
    }


async def measure(provider: MetricProvider | None, spec: FinNexusDeploymentSpec,
                  values: Mapping[str, str]) -> list[MetricSample]:
    """One measurement round: every metric's query, concurrently."""
    assert spec.analysis is not None
    queries = [templating.render(metric.query, values) for metric in spec.analysis.metrics]
    if provider is None:
        missing = QueryResult.error("no Prometheus configured: start the operator with "
                                    "--prometheus-url (FINNEXUS_PROMETHEUS_URL)")
        results: list[QueryResult] = [missing for _ in queries]
    else:
        results = list(await asyncio.gather(*(provider.query(q) for q in queries)))
    return [MetricSample(metric.name, result, query) for metric, result, query
            in zip(spec.analysis.metrics, results, queries, strict=True)]

