"""A status write that fails after a rollback was applied must not let traffic go back.

The reconciler runs against a recording fake API client (the unit layer: a fake next to the
code). Pass 1 measures a breach, routes traffic back to blue, and then its status write fails.
Pass 2 measures a *passing* value: without the remembered status it would still be Analyzing
and route traffic to the rejected green candidate again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from finnexus_operator import errors
from finnexus_operator.controller.reconcile import Reconciler
from finnexus_operator.core.measurement import QueryResult
from finnexus_operator.core.revision import revision_of

NS, NAME, UID = "ns", "web", "u-1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def template(image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
        {"name": "web", "image": image, "ports": [{"name": "http", "containerPort": 80}]}]}}


OWNER_REF = [{"apiVersion": "finnexus.ai/v1alpha1", "kind": "FinNexusDeployment",
              "name": NAME, "uid": UID, "controller": True}]


def deployment(color: str, rev: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": NAME, "finnexus.ai/color": color,
              "finnexus.ai/revision": rev}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"{NAME}-{color}", "namespace": NS, "ownerReferences": OWNER_REF,
                         "labels": {"app.kubernetes.io/name": NAME}, "uid": f"dep-{color}"},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {}}}}


def replicaset(color: str, rev: str) -> dict[str, Any]:
    """The Deployment controller's ReplicaSet of the colour's Deployment (pods count through it)."""
    return {"metadata": {"name": f"{NAME}-{color}-{rev}", "uid": f"rs-{color}", "labels": {
        "app.kubernetes.io/name": NAME, "finnexus.ai/color": color, "finnexus.ai/revision": rev},
        "ownerReferences": [{"kind": "Deployment", "name": f"{NAME}-{color}",
                             "uid": f"dep-{color}", "controller": True}]}}


def pod(color: str, rev: str) -> dict[str, Any]:
    return {"metadata": {"name": f"{NAME}-{color}-1", "uid": f"pod-{color}", "labels": {
        "app.kubernetes.io/name": NAME, "finnexus.ai/color": color, "finnexus.ai/revision": rev},
        "ownerReferences": [{"kind": "ReplicaSet", "name": f"{NAME}-{color}-{rev}",
                             "uid": f"rs-{color}", "controller": True}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1",
                   "conditions": [{"type": "Ready", "status": "True"}]}}


class FakeKube:
    def __init__(self, objects: dict[str, dict[str, Any]], pods: list[dict[str, Any]],
                 replicasets: list[dict[str, Any]]) -> None:
        self.objects, self.pods, self.replicasets = objects, pods, replicasets
        self.fail_status_writes = 1
        self.fail_patches_of: str | None = None

    async def get(self, path: str) -> dict[str, Any] | None:
        return self.objects.get(path)

    async def list(self, path: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        return {"pods": self.pods, "replicasets": self.replicasets}.get(
            path.rsplit("/", 1)[-1], [])

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.objects[f"{path}/{body['metadata']['name']}"] = body
        return body

    async def patch(self, path: str, body: Any, kind: str = "merge") -> dict[str, Any]:
        if path.endswith("/status"):
            if self.fail_status_writes:
                self.fail_status_writes -= 1
                raise errors.ApiUnavailable("PATCH status: HTTP 503", status=503)
            cr = self.objects[path.removesuffix("/status")]
            cr["status"] = body["status"]
            return cr
        if path == self.fail_patches_of:
            self.fail_patches_of = None
            raise errors.ApiUnavailable(f"PATCH {path}: HTTP 503", status=503)
        obj = self.objects[path]
        for op in body if isinstance(body, list) else []:
            *parents, leaf = op["path"].strip("/").split("/")
            target = obj
            for part in parents:
                target = target[part]
            if op["op"] in ("add", "replace"):
                target[leaf.replace("~1", "/")] = op["value"]
        return obj


class Provider:
    def __init__(self, values: list[float]) -> None:
        self.values = values

    async def query(self, promql: str) -> QueryResult:
        return QueryResult.value_of(self.values.pop(0))

    async def close(self) -> None:
        pass


def analyzing_rig() -> tuple[dict[str, Any], dict[str, Any], FakeKube, list[datetime],
                             Reconciler, str]:
    """R1 stable on blue, R2 switched to green and under analysis; the next round breaches."""
    r1, r2 = revision_of(template("v1")), revision_of(template("v2"))
    cr_path = f"/apis/finnexus.ai/v1alpha1/namespaces/{NS}/finnexusdeployments/{NAME}"
    svc_path = f"/api/v1/namespaces/{NS}/services/{NAME}"
    cr = {"metadata": {"name": NAME, "namespace": NS, "uid": UID, "generation": 2},
          "spec": {"replicas": 1, "template": template("v2"),
                   "analysis": {"intervalSeconds": 30, "checks": 10, "metrics": [
                       {"name": "error-rate", "query": "x", "max": 0.01}]}},
          "status": {"phase": "Analyzing", "activeColor": "green", "stableRevision": r1,
                     "candidateColor": "green", "candidateRevision": r2,
                     "candidateSince": "2025-12-31T23:58:00.000000Z",
                     "switchedAt": "2025-12-31T23:59:29.000000Z",
                     "analysis": {"round": 0, "passed": 0, "checks": 10, "metrics": []}}}
    active = {"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": NAME, "namespace": NS, "ownerReferences": OWNER_REF,
                           "labels": {"app.kubernetes.io/name": NAME,
                                      "app.kubernetes.io/managed-by": "finnexus-operator"}},
              "spec": {"selector": {"app.kubernetes.io/name": NAME, "finnexus.ai/color": "green"},
                       "ports": [{"name": "http", "port": 80, "targetPort": "http",
                                  "protocol": "TCP"}], "type": "ClusterIP"}}
    kube = FakeKube({
        cr_path: cr, svc_path: active,
        f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}-blue": deployment("blue", r1),
        f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}-green": deployment("green", r2),
    }, [pod("blue", r1), pod("green", r2)], [replicaset("blue", r1), replicaset("green", r2)])
    clock = [T0]
    reconciler = Reconciler(kube, provider=Provider([0.5, 0.0]),  # type: ignore[arg-type]
                            clock=lambda: clock[0])
    return cr, active, kube, clock, reconciler, svc_path


async def test_lost_status_write_after_rollback_never_routes_back_to_the_candidate() -> None:
    cr, active, _, clock, reconciler, _ = analyzing_rig()
    r2 = revision_of(template("v2"))
    with pytest.raises(errors.ApiUnavailable):
        await reconciler.reconcile(NS, NAME)  # breach: the decision's write fails
    # §2.1 rule 2: nothing acts on a decision that is not recorded
    assert active["spec"]["selector"]["finnexus.ai/color"] == "green"
    assert cr["status"]["phase"] == "Analyzing"  # the write was lost

    clock[0] = T0 + timedelta(seconds=0.5)
    await reconciler.reconcile(NS, NAME)  # a passing value now: must not matter
    assert active["spec"]["selector"]["finnexus.ai/color"] == "blue"
    assert cr["status"]["phase"] in ("RollingBack", "RolledBack")
    assert cr["status"]["rejectedRevision"] == r2
    assert "error-rate 0.5 > 0.01" in cr["status"]["message"]


async def test_a_failed_action_after_the_decision_never_loses_the_rollback() -> None:
    """Defect 1: one 5xx on an action after the decision (here the route itself) used to
    lose the rollback; the next pass measured again and, on a passing round, kept traffic on
    the rejected candidate. The decision is written first, so the rollback resumes."""
    cr, active, kube, clock, reconciler, svc_path = analyzing_rig()
    kube.fail_status_writes = 0
    kube.fail_patches_of = svc_path  # the first PATCH of the active Service fails (503)
    with pytest.raises(errors.ApiUnavailable):
        await reconciler.reconcile(NS, NAME)
    assert cr["status"]["phase"] == "RollingBack"  # recorded before anything acted
    assert cr["status"]["rejectedRevision"] == revision_of(template("v2"))
    assert cr["status"]["activeColor"] == "green"  # still where traffic is
    clock[0] = T0 + timedelta(seconds=0.5)
    await reconciler.reconcile(NS, NAME)  # no measurement: the decision stands
    assert active["spec"]["selector"]["finnexus.ai/color"] == "blue"
    assert cr["status"]["phase"] in ("RollingBack", "RolledBack")
    assert cr["status"]["activeColor"] == "blue"
