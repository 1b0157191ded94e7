"""The pod simulator plays the Deployment and ReplicaSet controllers like the real ones: pods
belong to a ReplicaSet of the Deployment's template (ownerReferences with uids), older
templates' ReplicaSets go to 0, and what a deleted owner leaves behind is garbage-collected."""

from __future__ import annotations

from typing import Any

from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_kit.kubelet import POD_TEMPLATE_HASH, PodSimulator, pod_template_hash

NS = "default"
DEPLOYMENTS = path_for("apps/v1", "deployments", NS)
REPLICASETS = path_for("apps/v1", "replicasets", NS)
PODS = path_for("v1", "pods", NS)


def deployment(image: str, replicas: int = 2) -> dict[str, Any]:
    labels = {"app": "web"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "web", "image": image,
                          "ports": [{"name": "http", "containerPort": 8080}]}]}}}}


def owners(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["kind"], r["uid"]) for r in obj["metadata"].get("ownerReferences") or []]


def test_pods_belong_to_a_replicaset_of_the_deployments_template(apiserver: ApiServer) -> None:
    sim = PodSimulator(apiserver, NS, endpoint=lambda dep: 9999)
    dep = apiserver.create(DEPLOYMENTS, deployment("app:v1"))
    sim.sync()
    (rs,) = apiserver.list(REPLICASETS)
    digest = pod_template_hash(dep["spec"]["template"])
    assert rs["metadata"]["name"] == f"web-{digest}"
    assert rs["metadata"]["labels"] == {"app": "web", POD_TEMPLATE_HASH: digest}
    assert owners(rs) == [("Deployment", dep["metadata"]["uid"])]
    pods = apiserver.list(PODS)
    assert len(pods) == 2
    for pod in pods:
        assert owners(pod) == [("ReplicaSet", rs["metadata"]["uid"])]
        assert pod["metadata"]["labels"][POD_TEMPLATE_HASH] == digest
        assert pod["status"]["phase"] == "Running" and pod["status"]["podIP"] == "127.0.0.1"
    # a new template: a new ReplicaSet takes the pods, the old one goes to 0
    dep = apiserver.patch(f"{DEPLOYMENTS}/web", {"spec": deployment("app:v2")["spec"]})
    sim.sync()
    by_name = {r["metadata"]["name"]: r for r in apiserver.list(REPLICASETS)}
    new = f"web-{pod_template_hash(dep['spec']['template'])}"
    assert by_name[rs["metadata"]["name"]]["spec"]["replicas"] == 0
    assert by_name[new]["spec"]["replicas"] == 2
    assert {owners(p)[0][1] for p in apiserver.list(PODS)} == {by_name[new]["metadata"]["uid"]}


def test_a_foreign_pod_is_left_alone_and_orphans_are_collected(apiserver: ApiServer) -> None:
    sim = PodSimulator(apiserver, NS, endpoint=lambda dep: 9999)
    apiserver.create(DEPLOYMENTS, deployment("app:v1"))
    sim.sync()
    apiserver.create(PODS, {"metadata": {"name": "copied", "labels": {"app": "web"}},
                            "spec": {"containers": []}})
    sim.sync()
    assert apiserver.get(f"{PODS}/copied") is not None  # not the simulator's: not touched
    assert len(apiserver.list(PODS)) == 3
    apiserver.delete(f"{DEPLOYMENTS}/web")
    sim.sync()
    assert apiserver.list(REPLICASETS) == []
    assert [p["metadata"]["name"] for p in apiserver.list(PODS)] == ["copied"]
