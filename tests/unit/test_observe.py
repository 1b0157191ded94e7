"""Observation: only the candidate's own pods count (DESIGN §2.1 rule 4: owned by a ReplicaSet
owned by the colour's Deployment, carrying its revision), and the promoted templates are read
from the ControllerRevisions the resource owns."""

from __future__ import annotations

from typing import Any

from finnexus_operator import constants
from finnexus_operator.adapters.objects import ObjectStore
from finnexus_operator.controller.observe import observe
from finnexus_operator.core import manifests
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from tests.unit.fakekube import FakeKube

OWNER = {"name": "web", "namespace": "ns", "uid": "u-1"}
BODY = {"metadata": {**OWNER, "generation": 3}}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
    {"name": "a", "image": "x", "ports": [{"name": "http", "containerPort": 80}]}]}}
RS = "/apis/apps/v1/namespaces/ns/replicasets"
PODS = "/api/v1/namespaces/ns/pods"


def ref(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1" if kind != "Pod" else "v1", "kind": kind,
            "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"], "controller": True}


def replicaset(kube: FakeKube, name: str, labels: dict[str, str],
               owner: dict[str, Any] | None) -> dict[str, Any]:
    return kube.put(f"{RS}/{name}", {"kind": "ReplicaSet", "metadata": {
        "name": name, "labels": labels,
        "ownerReferences": [ref("Deployment", owner)] if owner else []}})


def pod(kube: FakeKube, name: str, labels: dict[str, str], owner: dict[str, Any] | None,
        ready: bool = True) -> dict[str, Any]:
    return kube.put(f"{PODS}/{name}", {"kind": "Pod", "metadata": {
        "name": name, "uid": f"uid-{name}", "labels": labels,
        "ownerReferences": [ref("ReplicaSet", owner)] if owner else []},
        "spec": {"containers": [{"name": "a", "ports": [{"name": "http", "containerPort": 80}]}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1", "conditions": [
            {"type": "Ready", "status": "True" if ready else "False"}]}})


async def test_only_pods_owned_through_the_colours_replicaset_count() -> None:
    kube = FakeKube()
    green = kube.put("/apis/apps/v1/namespaces/ns/deployments/web-green",
                     manifests.deployment(OWNER, "green", "r2", TEMPLATE, 2))
    blue = kube.put("/apis/apps/v1/namespaces/ns/deployments/web-blue",
                    manifests.deployment(OWNER, "blue", "r1", TEMPLATE, 2))
    labels = green["spec"]["template"]["metadata"]["labels"]
    ours = replicaset(kube, "web-green-abc", labels, green)
    theirs = replicaset(kube, "impostor", labels, None)  # a ReplicaSet nobody owns
    blues = replicaset(kube, "web-blue-def", labels, blue)  # the other colour's Deployment
    pod(kube, "web-green-abc-1", labels, ours)
    pod(kube, "web-green-abc-2", labels, ours, ready=False)  # counted, but not Ready
    pod(kube, "copied-labels", labels, None)
    pod(kube, "foreign-owner", labels, theirs)
    pod(kube, "wrong-deployment", labels, blues)
    pod(kube, "old-revision", {**labels, constants.LABEL_REVISION: "r0"}, ours)
    snapshot = await observe(ObjectStore(kube, "u-1"), BODY, None)  # type: ignore[arg-type]
    state = snapshot.observed.deployments["green"]
    assert state.revision == "r2" and state.ready == 1 and state.pods == {"uid-web-green-abc-1"}
    assert sorted(p["metadata"]["name"] for p in snapshot.pods) == [
        "web-green-abc-1", "web-green-abc-2"]  # the prober is handed nothing else


async def test_promoted_templates_come_from_owned_controller_revisions() -> None:
    kube = FakeKube()
    path = "/apis/apps/v1/namespaces/ns/controllerrevisions"
    kube.put(f"{path}/web-r1", manifests.controller_revision(OWNER, "r1", TEMPLATE, 1))
    kube.put(f"{path}/web-r2", manifests.controller_revision(
        {**OWNER, "uid": "someone-else"}, "r2", TEMPLATE, 2))  # not ours
    misnamed = manifests.controller_revision(OWNER, "r3", TEMPLATE, 3)
    misnamed["metadata"]["name"] = "web-r3-copy"  # ours and labelled, but not <name>-<rev>
    kube.put(f"{path}/web-r3-copy", misnamed)
    snapshot = await observe(ObjectStore(kube, "u-1"), BODY, None)  # type: ignore[arg-type]
    assert snapshot.observed.revisions == {"r1": TEMPLATE}


async def test_an_invalid_spec_still_observes_the_routes_as_they_stand() -> None:
    kube = FakeKube()
    valid = FinNexusDeploymentSpec.model_validate({"template": TEMPLATE,
                                                   "ingress": {"host": "web.example"}})
    kube.put("/api/v1/namespaces/ns/services/web", manifests.service(OWNER, "web", "green", valid))
    kube.put("/apis/networking.k8s.io/v1/namespaces/ns/ingresses/web",
             manifests.ingress(OWNER, "green", valid))
    store = ObjectStore(kube, "u-1")  # type: ignore[arg-type]
    observed = (await observe(store, BODY, None)).observed
    assert observed.active_service_color == "green" and observed.ingress_color == "green"
    assert observed.ingress_present
