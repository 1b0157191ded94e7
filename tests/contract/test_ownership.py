"""Ownership, end to end (DESIGN §2.1 rules 4 and 6, issue 8 defects 9 and 13): only the
candidate's own pods count, an object of our name that we do not own blocks only itself, and
promoted templates are kept in ControllerRevisions the resource owns."""

from __future__ import annotations

from typing import Any

from finnexus_kit.apiserver import path_for
from finnexus_kit.kubeapi.server import ApiRequestError
from finnexus_operator.core import actions
from tests.contract.cluster import NS, Cluster, resource, template
from tests.contract.test_rollouts import revision
from tests.helpers import wait_until

PODS = path_for("v1", "pods", NS)
INGRESSES = path_for("networking.k8s.io/v1", "ingresses", NS)


def impostor(cluster: Cluster, name: str, labels: dict[str, str],
             owner: dict[str, Any] | None) -> None:
    """A Ready pod that copies the candidate's labels and answers /health with 200."""
    refs = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner["metadata"]["name"],
             "uid": owner["metadata"]["uid"], "controller": True}] if owner else []
    cluster.api.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": name, "namespace": NS, "labels": labels, "ownerReferences": refs},
        "spec": {"containers": [{"name": "web", "image": "app:good", "ports": [
            {"name": "http", "containerPort": cluster.health.port("good")}]}]}})
    cluster.api.patch(f"{PODS}/{name}/status", {"status": {
        "phase": "Running", "podIP": "127.0.0.1",
        "conditions": [{"type": "Ready", "status": "True"}]}})


def test_pods_that_copy_the_candidates_labels_are_neither_counted_nor_probed(
        cluster: Cluster) -> None:
    cluster.create(resource(progressDeadlineSeconds=4))
    cluster.wait_phase("Stable")
    cluster.set_image("app:never")  # the candidate's own pods never become Ready
    st = cluster.wait_phase("Deploying", candidateColor="green")
    dep = cluster.deployment("web-green")
    assert dep is not None
    labels = dict(dep["spec"]["template"]["metadata"]["labels"])
    foreign_rs = cluster.api.create(path_for("apps/v1", "replicasets", NS), {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "impostor", "namespace": NS, "labels": labels},
        "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": []}}}})
    hits = cluster.health.hits("good")
    impostor(cluster, "copied-labels-1", labels, None)  # no owner at all
    impostor(cluster, "copied-labels-2", labels, foreign_rs)  # a ReplicaSet not ours
    st = cluster.wait_phase("RolledBack", timeout=15)
    assert "progress deadline exceeded" in st["message"] and "0/2 pods Ready" in st["message"]
    assert st["rejectedRevision"] == st.get("rejectedRevision") == revision(
        template("app:never"))
    assert cluster.health.hits("good") == hits  # never probed
    assert cluster.ingress_backend() == "web-blue" and cluster.service_color("web") == "blue"
    assert cluster.get("v1", "pods", "copied-labels-1") is not None  # and never touched


def test_a_foreign_ingress_blocks_only_itself_the_service_still_rolls_back(
        cluster: Cluster) -> None:
    analysis = {"intervalSeconds": 1, "checks": 1000, "errorLimit": 1000, "metrics": [
        {"name": "error-rate", "query": "vector(0)", "max": 0.1}]}  # no Prometheus: errors
    cluster.create(resource(analysis=analysis))
    cluster.wait_phase("Stable")
    cluster.set_image("app:good2")
    cluster.wait_phase("Analyzing", activeColor="green")
    assert cluster.service_color("web") == "green"
    # Someone replaces our Ingress with their own of the same name, pointing at green.
    ours = cluster.get("networking.k8s.io/v1", "ingresses", "web")
    assert ours is not None
    theirs = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
              "metadata": {"name": "web", "namespace": NS}, "spec": ours["spec"]}

    def replaced() -> bool:  # the operator re-creates its deleted Ingress at once: race it
        cluster.api.delete(f"{INGRESSES}/web")
        try:
            cluster.api.create(INGRESSES, theirs)
        except ApiRequestError:
            return False
        return True
    wait_until(replaced, timeout=10, interval=0.01, message="our Ingress replaced by theirs")
    cluster.request("abort")
    # The Service route moves back to the stable colour although the Ingress blocks...
    wait_until(lambda: cluster.service_color("web") == "blue", timeout=10,
               message="active Service back on blue")
    wait_until(lambda: "not owned" in cluster.status().get("message", ""), timeout=10,
               message="the foreign Ingress reported")
    cluster.wait_passes(2)
    assert cluster.service_color("web") == "blue"  # ...and stays there: the rollback holds
    assert cluster.replicas("web-green") == 0
    ingress = cluster.get("networking.k8s.io/v1", "ingresses", "web")
    assert ingress is not None and not ingress["metadata"].get("ownerReferences")
    assert cluster.ingress_backend() == "web-green"  # theirs: never taken over
    assert any(e["reason"] == "OwnershipConflict" for e in cluster.events())


def test_promoted_templates_are_kept_in_owned_controller_revisions(cluster: Cluster) -> None:
    cluster.create(resource())
    cluster.wait_phase("Stable")
    # What follows drives the operator's own executor and client; the running operator would
    # prune the unpromoted revisions it creates as soon as its informer sees them.
    cluster.stop_operator()
    uid = cluster.cr()["metadata"]["uid"]
    revisions = [revision(template(image)) for image in ("app:good", "app:good2", "app:good3")]
    theirs = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
              "metadata": {"name": "web-0000000000", "namespace": NS,
                           "labels": {"app.kubernetes.io/name": "web",
                                      "finnexus.ai/revision": "0000000000"}},
              "data": {"template": {}}, "revision": 99}
    cluster.api.create(path_for("apps/v1", "controllerrevisions", NS), theirs)
    cluster.execute([actions.RecordRevision(rev, template(image)) for rev, image in zip(
        revisions, ("app:good", "app:good2", "app:good3"), strict=True)])
    for number, rev in enumerate(revisions, start=1):
        cr = cluster.get("apps/v1", "controllerrevisions", f"web-{rev}")
        assert cr is not None
        assert cr["revision"] == number and cr["data"]["template"] == template(
            ("app:good", "app:good2", "app:good3")[number - 1])
        assert [r["uid"] for r in cr["metadata"]["ownerReferences"]] == [uid]
        assert cr["metadata"]["labels"]["finnexus.ai/revision"] == rev
    cluster.execute([actions.PruneRevisions(tuple(revisions[1:]))])
    assert cluster.get("apps/v1", "controllerrevisions", f"web-{revisions[0]}") is None
    assert cluster.get("apps/v1", "controllerrevisions", "web-0000000000") is not None
    assert not cluster.requests("PATCH", "/controllerrevisions/")  # immutable: never patched
