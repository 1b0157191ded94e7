"""Owned objects are kept as declared (DESIGN §2.1 rule 6, issue 8 defect 10): a hand edit is
corrected promptly -- the operator watches what it owns, so the correction does not wait for
the 60 s resync -- and watching writes nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from finnexus_kit.kubelet import POD_TEMPLATE_HASH, pod_template_hash
from tests.contract.cluster import NS, Cluster, resource
from tests.helpers import wait_until

PROMPT = 5.0  # seconds: far below the 60 s resync of an idle resource

DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"
SERVICES = f"/api/v1/namespaces/{NS}/services"
INGRESSES = f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses"


def image(cluster: Cluster, name: str) -> str:
    dep = cluster.deployment(name)
    assert dep is not None
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


def idle(cluster: Cluster) -> None:
    """Whatever the operator would do, it has done; its next pass is the resync (60 s)."""
    cluster.wait_passes()
    time.sleep(0.3)  # the echo of the last pass's own writes has been seen


def corrected(cluster: Cluster, check: Callable[[], bool], what: str) -> float:
    """Seconds until ``check`` holds, asserting it is prompt and was not a resync."""
    started = time.monotonic()
    wait_until(check, timeout=PROMPT, interval=0.02, message=f"{what} corrected")
    return time.monotonic() - started


def kopf_writes(cluster: Cluster) -> list[tuple[str, str]]:
    """Writes by kopf itself to anything but the resource's Events (e.g. annotations it would
    keep its state in): watching an object must never write it."""
    return [(m, p) for m, p, _ in cluster.api.requests.by_agent("kopf/")
            if m in ("POST", "PUT", "PATCH", "DELETE") and "/events" not in p]


def test_hand_edits_of_owned_objects_are_corrected_promptly(cluster: Cluster) -> None:
    cluster.create(resource(promotion={"auto": False, "scaleDownDelaySeconds": 0},
                            ingress={"host": "web.example.com", "className": "nginx",
                                     "annotations": {"team": "payments"}}))
    cluster.wait_phase("Stable")
    idle(cluster)

    # The stable Deployment's image, hand-edited to one nobody health-checked.
    cluster.api.patch(f"{DEPLOYMENTS}/web-blue", {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": "app:bad",
                        "ports": [{"name": "http", "containerPort": 8080}]}]}}}})
    took = corrected(cluster, lambda: image(cluster, "web-blue") == "app:good", "stable image")
    print(f"stable Deployment image corrected in {took:.2f}s")

    # An env var added by hand to the stable template.
    dep = cluster.deployment("web-blue")
    assert dep is not None
    containers = dep["spec"]["template"]["spec"]["containers"]
    cluster.api.patch(f"{DEPLOYMENTS}/web-blue", {"spec": {"template": {"spec": {
        "containers": [{**containers[0], "env": [{"name": "DEBUG", "value": "1"}]}]}}}})
    corrected(cluster, lambda: "env" not in (cluster.deployment("web-blue") or {})["spec"][
        "template"]["spec"]["containers"][0], "added env var")

    # Each template correction rolled blue's pods (the pod simulator, as a Deployment
    # controller does): wait for them to serve again, so that the Service put back below
    # points at Ready pods (the invariant monitor checks every route change).
    def blue_serves() -> bool:
        """Every replica of blue's CURRENT template Ready (the pods of the template before
        the correction may still be Ready for a moment: they do not count)."""
        dep = cluster.deployment("web-blue") or {}
        current = pod_template_hash(dep["spec"]["template"])
        ready = [p for p in cluster.api.list("/api/v1/namespaces/default/pods",
                                             f"{POD_TEMPLATE_HASH}={current}")
                 if any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in (p.get("status") or {}).get("conditions") or [])]
        return len(ready) >= int(dep["spec"].get("replicas") or 1)
    wait_until(blue_serves, timeout=PROMPT, message="blue's pods Ready again")

    # The active Service's selector, pointed elsewhere by hand.
    cluster.api.patch(f"{SERVICES}/web", {"spec": {"selector": {
        "app.kubernetes.io/name": "web", "finnexus.ai/color": "green"}}})
    took = corrected(cluster, lambda: cluster.service_color("web") == "blue", "active Service")
    print(f"active Service selector corrected in {took:.2f}s")

    # The Ingress: backend and class edited by hand, and an annotation someone else added.
    cluster.api.patch(f"{INGRESSES}/web", {"metadata": {"annotations": {
        "argocd.argoproj.io/tracking-id": "app:networking.k8s.io/Ingress:default/web"}},
        "spec": {"ingressClassName": "traefik"}})

    def ingress() -> dict[str, Any]:
        found = cluster.get("networking.k8s.io/v1", "ingresses", "web")
        assert found is not None
        return found
    corrected(cluster, lambda: ingress()["spec"].get("ingressClassName") == "nginx",
              "Ingress class")
    assert "argocd.argoproj.io/tracking-id" in ingress()["metadata"]["annotations"]

    # The candidate's image, hand-edited while it waits for promotion.
    cluster.set_image("app:good2")
    cluster.wait_phase("AwaitingPromotion", candidateColor="green")
    idle(cluster)
    cluster.api.patch(f"{DEPLOYMENTS}/web-green", {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": "app:bad",
                        "ports": [{"name": "http", "containerPort": 8080}]}]}}}})
    took = corrected(cluster, lambda: image(cluster, "web-green") == "app:good2",
                     "candidate image")
    print(f"candidate Deployment image corrected in {took:.2f}s")
    assert cluster.ingress_backend() == "web-blue"  # traffic never moved

    # Fields removed from spec.ingress are removed from the Ingress; annotations we set and
    # no longer declare go, annotations others added stay.
    cluster.patch_spec(ingress={"className": None, "annotations": None})
    wait_until(lambda: "ingressClassName" not in ingress()["spec"], timeout=PROMPT,
               message="className removed from the Ingress")
    annotations = ingress()["metadata"].get("annotations") or {}
    wait_until(lambda: "team" not in (ingress()["metadata"].get("annotations") or {}),
               timeout=PROMPT, message="our annotation removed")
    annotations = ingress()["metadata"].get("annotations") or {}
    assert annotations == {
        "argocd.argoproj.io/tracking-id": "app:networking.k8s.io/Ingress:default/web",
        "finnexus.ai/managed-fields": "rules"}

    # Corrected once, then left alone: no write loop, and kopf never wrote an owned object.
    idle(cluster)
    before = len(cluster.writes())
    cluster.wait_passes(2)
    after = [(m, p) for m, p, _ in cluster.writes()[before:]]
    assert not [w for w in after if "/deployments/" in w[1] or "/services/" in w[1]
                or "/ingresses/" in w[1]], after
    assert kopf_writes(cluster) == []
    # ...and the watches ask the API server only for what the operator owns (by label): kopf
    # watches the resource, the operator's informers what it owns (and the cluster-scoped
    # shared SLO templates, unlabelled: all of them, read-only).
    selectors = {p.rsplit("/", 1)[-1]: q.get("labelSelector")
                 for m, p, q in cluster.operator_requests()
                 if m == "GET" and q.get("watch") in ("true", "1")}
    assert selectors == {
        "finnexusdeployments": None,
        "finnexusanalysistemplates": None,
        "controllerrevisions": "app.kubernetes.io/managed-by=finnexus-operator",
        "jobs": "app.kubernetes.io/managed-by=finnexus-operator",  # hook Jobs (spec.hooks)
        "deployments": "app.kubernetes.io/managed-by=finnexus-operator",
        "services": "app.kubernetes.io/managed-by=finnexus-operator",
        "ingresses": "app.kubernetes.io/managed-by=finnexus-operator",
        "replicasets": "finnexus.ai/color",
        "pods": "finnexus.ai/color",
    }, selectors


def test_a_deleted_owned_object_is_recreated_promptly(cluster: Cluster) -> None:
    cluster.create(resource(promotion={"scaleDownDelaySeconds": 0}))
    cluster.wait_phase("Stable")
    idle(cluster)
    cluster.api.delete(f"{SERVICES}/web")
    took = corrected(cluster, lambda: cluster.service_color("web") == "blue",
                     "deleted active Service")
    print(f"deleted active Service re-created in {took:.2f}s")
