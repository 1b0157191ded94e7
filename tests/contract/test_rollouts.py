"""The real operator (kopf, real HTTP) against the emulated API, the test playing kubelet."""

from __future__ import annotations

import hashlib
import json
import time

from finnexus_kit.apiserver import ApiServer
from tests.contract.cluster import Cluster, resource, running_cluster, template
from tests.helpers import wait_until

OWNED = [
    ("apps/v1", "deployments", "web-blue"),
    ("v1", "services", "web-blue"),
    ("v1", "services", "web-green"),
    ("v1", "services", "web"),
    ("v1", "services", "web-preview"),
    ("networking.k8s.io/v1", "ingresses", "web"),
]


def revision(tmpl: dict[str, object]) -> str:
    canonical = json.dumps(tmpl, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def test_first_deploy_creates_every_owned_object(cluster: Cluster) -> None:
    cluster.create(resource())
    st = cluster.wait_phase("Stable")
    cluster.wait_passes()  # the pass that promoted has ended, Events and all
    rev = revision(template("app:good"))
    assert st["activeColor"] == "blue" and st["stableRevision"] == rev
    assert st["observedGeneration"] == cluster.cr()["metadata"]["generation"]
    uid = cluster.cr()["metadata"]["uid"]
    for api_version, plural, name in OWNED:
        obj = cluster.get(api_version, plural, name)
        assert obj is not None, f"{plural}/{name} missing"
        refs = obj["metadata"]["ownerReferences"]
        assert [(r["kind"], r["name"], r["uid"], r["controller"]) for r in refs] == [
            ("FinNexusDeployment", "web", uid, True)], name
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "web"
        assert labels["app.kubernetes.io/managed-by"] == "finnexus-operator"
    dep = cluster.deployment("web-blue")
    assert dep is not None
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["finnexus.ai/revision"] == rev
    assert pod_labels["finnexus.ai/color"] == "blue" and pod_labels["app"] == "web"
    assert dep["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "web", "finnexus.ai/color": "blue"}
    assert dep["spec"]["replicas"] == 2
    assert cluster.service_color("web") == "blue"
    assert cluster.service_color("web-preview") == "blue"
    assert cluster.service_color("web-green") == "green"
    assert cluster.ingress_backend() == "web-blue"
    reasons = [e["reason"] for e in cluster.events()]
    assert "TrafficSwitched" in reasons and "Promoted" in reasons
    conditions = {c["type"]: c["status"] for c in st["conditions"]}
    assert conditions == {"Available": "True", "Progressing": "False", "Degraded": "False"}
    assert st["history"][-1]["result"] == "Promoted"


def test_good_upgrade_flips_ingress_and_active_service(cluster: Cluster) -> None:
    cluster.create(resource(promotion={"auto": False, "scaleDownDelaySeconds": 1}))
    cluster.wait_phase("Stable")
    cluster.set_image("app:good2")
    v2 = revision(template("app:good2"))
    st = cluster.wait_phase("AwaitingPromotion", candidateColor="green")
    assert st["candidateRevision"] == v2
    # Before the switch: preview follows the candidate, production stays on blue.
    assert cluster.service_color("web-preview") == "green"
    assert cluster.service_color("web") == "blue"
    assert cluster.ingress_backend() == "web-blue"
    cluster.request("promote")
    st = cluster.wait_phase("Stable", activeColor="green")
    assert st["stableRevision"] == v2 and st.get("candidateColor") is None
    assert cluster.ingress_backend() == "web-green"
    assert cluster.service_color("web") == "green"
    assert "finnexus.ai/request" not in (cluster.cr()["metadata"].get("annotations") or {})
    # The old colour keeps running until the scale-down delay has passed, then goes to 0.
    wait_until(lambda: cluster.replicas("web-blue") == 0, timeout=10,
               message="blue scaled to 0 after the delay")
    cluster.wait_passes()  # the pass that scaled it down has ended, Events and all
    assert cluster.deployment("web-blue") is not None  # scaled, never deleted
    assert cluster.replicas("web-green") == 2
    reasons = [e["reason"] for e in cluster.events()]
    assert "Request" in reasons and "Promoted" in reasons
    assert "OldColorScaledDown" not in reasons  # routine: the status says it, no Event


def test_failing_health_checks_roll_back_without_moving_traffic(cluster: Cluster) -> None:
    cluster.create(resource())
    cluster.wait_phase("Stable")
    patches_before = len(cluster.requests("PATCH", "/ingresses/web"))
    cluster.set_image("app:bad")
    bad = revision(template("app:bad"))
    st = cluster.wait_phase("RolledBack")
    assert st["rejectedRevision"] == bad
    assert "health checks failed" in st["message"] and "HTTP 503" in st["message"]
    assert st["activeColor"] == "blue" and cluster.ingress_backend() == "web-blue"
    assert len(cluster.requests("PATCH", "/ingresses/web")) == patches_before
    wait_until(lambda: cluster.replicas("web-green") == 0, message="candidate scaled down")
    degraded = next(c for c in st["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "True"
    assert any(e["type"] == "Warning" and e["reason"] in ("RollingBack", "RolledBack")
               for e in cluster.events())
    assert st["history"][-1]["result"] == "RolledBack"
    # The rejected template is not retried...
    cluster.wait_passes()
    assert cluster.status()["phase"] == "RolledBack"
    # ...until a retry request.
    cluster.request("retry")
    cluster.wait_phase("Verifying", candidateRevision=bad)


def test_readiness_never_reached_hits_the_deadline(cluster: Cluster) -> None:
    cluster.create(resource(progressDeadlineSeconds=3))
    cluster.wait_phase("Stable")
    cluster.set_image("app:never")
    st = cluster.wait_phase("RolledBack", timeout=15)
    assert "progress deadline exceeded" in st["message"] and "0/2 pods Ready" in st["message"]
    assert cluster.ingress_backend() == "web-blue"


def test_first_revision_rejected_is_failed(cluster: Cluster) -> None:
    cluster.create(resource(image="app:bad"))
    st = cluster.wait_phase("Failed")
    assert "no stable revision" in st["message"]
    assert st.get("activeColor") is None
    assert cluster.get("networking.k8s.io/v1", "ingresses", "web") is None
    wait_until(lambda: cluster.replicas("web-blue") == 0, message="rejected first revision at 0")


def test_new_template_mid_rollout_supersedes(cluster: Cluster) -> None:
    cluster.create(resource(promotion={"auto": False, "scaleDownDelaySeconds": 1}))
    cluster.wait_phase("Stable")
    cluster.set_image("app:good2")
    cluster.wait_phase("AwaitingPromotion")
    cluster.set_image("app:good3")
    v3 = revision(template("app:good3"))
    st = cluster.wait_phase("AwaitingPromotion", candidateRevision=v3)
    assert st["candidateColor"] == "green"
    assert [h["result"] for h in st["history"]][-1] == "Superseded"
    assert cluster.ingress_backend() == "web-blue"
    dep = cluster.deployment("web-green")
    assert dep is not None
    assert dep["spec"]["template"]["metadata"]["labels"]["finnexus.ai/revision"] == v3


def test_restart_mid_rollout_resumes_without_a_duplicate_switch(cluster: Cluster) -> None:
    cluster.create(resource(promotion={"auto": False, "scaleDownDelaySeconds": 1}))
    cluster.wait_phase("Stable")
    cluster.set_image("app:good2")
    cluster.wait_phase("AwaitingPromotion")
    cluster.stop_operator()
    down = len(cluster.operator_requests())
    cluster.request("promote")  # arrives while the operator is down
    assert cluster.ingress_backend() == "web-blue"
    assert len(cluster.operator_requests()) == down  # stopped (joined): nothing acts on it
    before = len(cluster.requests("PATCH", "/ingresses/web"))
    cluster.start_operator()
    st = cluster.wait_phase("Stable", activeColor="green")
    assert cluster.ingress_backend() == "web-green"
    cluster.wait_passes()  # the switching pass has ended
    cluster.stop_operator()
    cluster.start_operator()  # a second restart after the switch changes nothing
    cluster.wait_passes()
    assert len(cluster.requests("PATCH", "/ingresses/web")) == before + 1
    promoted = [h for h in cluster.status()["history"] if h["result"] == "Promoted"]
    assert len(promoted) == 2  # v1 and v2, once each
    assert st["stableRevision"] == revision(template("app:good2"))


def test_invalid_spec_touches_nothing(cluster: Cluster) -> None:
    body = resource()
    body["spec"]["replicas"] = 0
    body["spec"]["healthCheck"]["path"] = "health"
    cluster.create(body)
    st = cluster.wait_phase("Invalid")
    assert "spec.replicas" in st["message"] and "spec.healthCheck.path" in st["message"]
    cluster.wait_passes()
    for api_version, plural, name in OWNED:
        assert cluster.get(api_version, plural, name) is None, name
    events = [e for e in cluster.events() if e["reason"] == "InvalidSpec"]
    assert len(events) == 1 and events[0]["type"] == "Warning"
    # Fixing the spec lets the rollout start.
    cluster.patch_spec(replicas=1, healthCheck={"path": "/health"})
    cluster.wait_phase("Stable")


def test_hanging_health_endpoint_never_blocks_another_resource(
    apiserver: ApiServer, kubeconfig: str
) -> None:
    with running_cluster(apiserver, kubeconfig) as cluster:
        cluster.create(resource("slow", image="app:hang"))
        cluster.create(resource("fast", image="app:good"))
        started = time.monotonic()
        cluster.wait_phase("Stable", name="fast", timeout=10)
        fast_took = time.monotonic() - started
        st = cluster.wait_phase("Failed", name="slow", timeout=20)
        assert "timeout after 1s" in st["message"]
        assert fast_took < 8, fast_took


def test_a_foreign_object_with_our_name_is_reported_never_taken_over(cluster: Cluster) -> None:
    foreign = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web-blue", "namespace": "default"},
               "spec": {"selector": {"app": "someone-else"}, "ports": [{"port": 80}]}}
    cluster.api.create("/api/v1/namespaces/default/services", foreign)
    cluster.create(resource())
    wait_until(lambda: "not owned" in cluster.status().get("message", ""), timeout=10,
               message="ownership conflict reported")
    cluster.wait_passes()  # the pass that reported it has ended, Events and all
    svc = cluster.get("v1", "services", "web-blue")
    assert svc is not None and svc["spec"]["selector"] == {"app": "someone-else"}
    assert not cluster.requests("PATCH", "/services/web-blue")
    assert any(e["reason"] == "OwnershipConflict" and e["type"] == "Warning"
               for e in cluster.events())
    assert cluster.get("networking.k8s.io/v1", "ingresses", "web") is None


def test_steady_state_writes_nothing(cluster: Cluster) -> None:
    cluster.create(resource(promotion={"scaleDownDelaySeconds": 0}))
    cluster.wait_phase("Stable")
    cluster.wait_passes()  # the pass that promoted has ended, Events and all
    before = cluster.writes()
    cluster.request("bogus")  # an event: the operator runs a pass (and clears the request)
    wait_until(lambda: "finnexus.ai/request" not in (
        cluster.cr()["metadata"].get("annotations") or {}), message="request cleared")
    cluster.wait_passes()  # the pass that cleared it has ended, and a whole pass after it
    after = cluster.writes()
    new = [r[1] for r in after[len(before):]]
    # Only: the test's annotation, the operator removing it, and the Warning Event about it.
    assert sorted(p.rsplit("/", 1)[-1] if "events" not in p else "events" for p in new) == [
        "events", "web", "web"], new
    assert any(e["reason"] == "RequestIgnored" for e in cluster.events())


def test_undo_within_the_scale_down_window_switches_back_instantly(cluster: Cluster) -> None:
    cluster.create(resource(promotion={"scaleDownDelaySeconds": 60}))
    cluster.wait_phase("Stable")
    v1 = revision(template("app:good"))
    cluster.set_image("app:good2")
    v2 = revision(template("app:good2"))
    cluster.wait_phase("Stable", activeColor="green")
    assert cluster.replicas("web-blue") == 2  # kept for an instant undo
    cluster.request("undo")
    st = cluster.wait_phase("Stable", activeColor="blue", stableRevision=v1)
    assert st["rejectedRevision"] == v2  # the current template is not redeployed
    wait_until(lambda: cluster.ingress_backend() == "web-blue", message="Ingress back on blue")
    assert cluster.service_color("web") == "blue"
    cluster.wait_passes()  # the pass that switched back has ended, Events and all
    assert any(e["reason"] == "Undo" for e in cluster.events())
    assert cluster.status()["phase"] == "Stable"  # and it stays there


def test_removing_spec_ingress_removes_only_the_owned_ingress(cluster: Cluster) -> None:
    cluster.create(resource())
    cluster.wait_phase("Stable")
    assert cluster.ingress_backend() == "web-blue"
    cluster.patch_spec(ingress=None)
    wait_until(lambda: cluster.get("networking.k8s.io/v1", "ingresses", "web") is None,
               message="owned Ingress removed")
    assert cluster.service_color("web") == "blue"  # the active Service keeps routing
    # A team's own Ingress of the same name (not owned) is never touched.
    theirs = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
              "metadata": {"name": "web", "namespace": "default"},
              "spec": {"rules": [{"host": "web.example.com", "http": {"paths": [{
                  "path": "/", "pathType": "Prefix",
                  "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}
    cluster.api.create("/apis/networking.k8s.io/v1/namespaces/default/ingresses", theirs)
    cluster.set_image("app:good2")
    cluster.wait_phase("Stable", activeColor="green")
    assert cluster.ingress_backend() == "web"
    assert not cluster.requests("DELETE", "/ingresses/web")[1:]  # only the first removal
