"""Least privilege, proven: every API call the real operator makes is covered by rbac.RULES,
and every rule in rbac.RULES is used. Calls are recorded by the emulated API server and told
apart from the test's own calls by their User-Agent (kopf's and the operator's client's)."""

from __future__ import annotations

import re

from finnexus_kit.apiserver import path_for
from finnexus_operator.adapters.kube import USER_AGENT
from finnexus_operator.core import actions
from finnexus_operator.rbac import RULES, TEMPLATE_RULES
from tests.contract.cluster import NS, Cluster, resource, template
from tests.contract.test_rollouts import revision
from tests.helpers import wait_until

_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)


def permission(method: str, path: str, query: dict[str, str]) -> tuple[str, str, str] | None:
    """(verb, apiGroup, resource[/subresource]) of one request; None for discovery."""
    match = _PATH.match(path)
    if match is None:
        return None
    group = "" if match["core"] else match["group"]
    resource_name = match["plural"] + (f"/{match['sub']}" if match["sub"] else "")
    if match["ns"] is None and match["plural"] == "namespaces" and match["name"] is None \
            and not match["core"]:
        return None
    if method == "GET":
        verb = "watch" if query.get("watch") in ("true", "1") else (
            "get" if match["name"] else "list")
    else:
        verb = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}[method]
    return verb, group, resource_name


def test_permission_parser() -> None:
    assert permission("GET", "/apis/apps/v1/namespaces/d/deployments/x", {}) == (
        "get", "apps", "deployments")
    assert permission("GET", "/api/v1/namespaces/d/pods", {"labelSelector": "a=b"}) == (
        "list", "", "pods")
    assert permission("GET", "/apis/finnexus.ai/v1alpha1/finnexusdeployments",
                      {"watch": "true"}) == ("watch", "finnexus.ai", "finnexusdeployments")
    assert permission("PATCH", "/apis/finnexus.ai/v1alpha1/namespaces/d/finnexusdeployments/x/"
                      "status", {}) == ("patch", "finnexus.ai", "finnexusdeployments/status")
    assert permission("GET", "/apis/apps/v1", {}) is None
    assert permission("GET", "/api/v1", {}) is None


def test_operator_calls_equal_the_declared_rules(cluster: Cluster) -> None:
    # A scenario that exercises every code path that talks to the API.
    # A preSwitch hook Job: created (and listed/watched by the Job informer), then deleted
    # ttlSeconds after it succeeded.
    hook = {"template": {"template": {"spec": {"containers": [
        {"name": "smoke", "image": "hook:succeed"}]}}}}
    cluster.create(resource(promotion={"auto": False, "scaleDownDelaySeconds": 0},
                            hooks={"preSwitch": [hook], "ttlSeconds": 1}))
    cluster.wait_phase("Stable")
    wait_until(lambda: cluster.requests("DELETE", "/apis/batch/v1/namespaces/default/jobs/"),
               message="the hook Job deleted after ttlSeconds")
    # Owned objects the cache does not hold (their managed-by label removed by hand): the
    # create answers 409, the operator GETs the object (its one remaining read), finds it its
    # own and restores the label; a ControllerRevision is immutable: it is only read.
    v1 = revision(template("app:good"))
    stripped = {"metadata": {"labels": {"app.kubernetes.io/managed-by": None}}}
    for api_version, plural, name in (("apps/v1", "deployments", "web-blue"),
                                      ("v1", "services", "web"),
                                      ("networking.k8s.io/v1", "ingresses", "web"),
                                      ("apps/v1", "controllerrevisions", f"web-{v1}")):
        cluster.api.patch(path_for(api_version, plural, NS, name), stripped)
    for api_version, plural, name in (("apps/v1", "deployments", "web-blue"),
                                      ("v1", "services", "web"),
                                      ("networking.k8s.io/v1", "ingresses", "web")):
        wait_until(lambda a=api_version, p=plural, n=name: (cluster.get(a, p, n) or {})[
            "metadata"].get("labels", {}).get("app.kubernetes.io/managed-by"),
            message=f"{plural}/{name}: label restored")
    wait_until(lambda: [r for r in cluster.api.requests.by_agent(USER_AGENT)
                        if r[0] == "GET" and r[1].endswith(f"/controllerrevisions/web-{v1}")],
               message="the unlabelled ControllerRevision read")
    cluster.set_image("app:good2")
    cluster.wait_phase("AwaitingPromotion")
    cluster.request("promote")
    cluster.wait_phase("Stable", activeColor="green")
    cluster.set_image("app:bad")
    cluster.wait_phase("RolledBack")
    cluster.patch_spec(ingress=None)  # the operator removes the Ingress it owned
    wait_until(lambda: cluster.get("networking.k8s.io/v1", "ingresses", "web") is None,
               message="Ingress removed")
    # Promoted templates: the scenario above records them (the core emits RecordRevision on
    # every promotion); pruning (delete) starts only past 10 promoted revisions, so this step
    # drives one prune through the operator's own executor and client.
    v2 = revision(template("app:good2"))
    assert cluster.get("apps/v1", "controllerrevisions", f"web-{v1}") is not None
    cluster.execute([actions.RecordRevision(v1, template("app:good")),
                     actions.RecordRevision(v2, template("app:good2")),
                     actions.PruneRevisions((v2,))])
    assert cluster.get("apps/v1", "controllerrevisions", f"web-{v1}") is None
    assert cluster.get("apps/v1", "controllerrevisions", f"web-{v2}") is not None
    # A hook Job of our name the cache does not hold (its managed-by label removed by hand):
    # the create answers 409 and the operator GETs it (and finds it its own).
    job = actions.CreateJob("web-x-preswitch-0", "x", "preSwitch", hook["template"])
    cluster.execute([job])
    cluster.api.patch(path_for("batch/v1", "jobs", NS, job.name), stripped)
    cluster.execute([job, actions.DeleteJob(job.name)])
    assert cluster.get("batch/v1", "jobs", job.name) is None

    calls = (cluster.api.requests.by_agent("kopf/")
             + cluster.api.requests.by_agent(USER_AGENT))
    used = {p for p in (permission(*c) for c in calls) if p is not None}
    allowed = {(verb, group, res) for rule in RULES + TEMPLATE_RULES for group in rule["apiGroups"]
               for res in rule["resources"] for verb in rule["verbs"]}
    assert used - allowed == set(), f"calls not covered by rbac.RULES: {used - allowed}"
    assert allowed - used == set(), f"rules never used (not least privilege): {allowed - used}"
