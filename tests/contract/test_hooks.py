"""Hook Jobs (spec.hooks) with the real operator; the test plays the Job controller
(``finnexus_kit.jobs``: the image tag decides a Job's fate)."""

from __future__ import annotations

from typing import Any

from finnexus_kit.apiserver import ApiServer
from tests.contract.cluster import Cluster, resource, running_cluster, template
from tests.contract.test_rollouts import revision
from tests.helpers import wait_until


def hook(image: str, *, deadline: int | None = None, **env: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": {"spec": {"containers": [{
        "name": "hook", "image": image, "args": ["--target", "{{previewService}}"],
        "env": [{"name": k, "value": v} for k, v in env.items()],
    }]}}}
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    return {"template": spec}


def jobs(cluster: Cluster) -> dict[str, dict[str, Any]]:
    return {j["metadata"]["name"]: j for j in cluster.api.list("/apis/batch/v1/namespaces/default/jobs")}


def stable_then(cluster: Cluster, hooks: dict[str, Any], image: str = "app:good2") -> str:
    """web Stable on blue (app:good, no hooks), then a new template with ``hooks``: its
    revision."""
    cluster.create(resource())
    cluster.wait_phase("Stable")
    cluster.patch_spec(template=template(image), hooks=hooks)
    return revision(template(image))


def test_pre_switch_jobs_run_in_order_then_the_switch(cluster: Cluster) -> None:
    pre = [hook("hook:succeed", REV="{{revision}}", COLOR="{{color}}"), hook("hook:succeed")]
    cluster.create(resource(hooks={"preSwitch": pre}))
    st = cluster.wait_phase("Stable")
    rev = revision(template("app:good"))
    names = [f"web-{rev}-preswitch-0", f"web-{rev}-preswitch-1"]
    assert cluster.jobs is not None and cluster.jobs.started == names  # in order, once each
    first = jobs(cluster)[names[0]]
    container = first["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--target", "web-preview"]
    assert {e["name"]: e["value"] for e in container["env"]} == {"REV": rev, "COLOR": "blue"}
    assert first["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    meta = first["metadata"]
    assert meta["labels"]["app.kubernetes.io/name"] == "web"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "finnexus-operator"
    assert [(r["kind"], r["name"]) for r in meta["ownerReferences"]] == [
        ("FinNexusDeployment", "web")]
    assert [r["result"] for r in st["hooks"]["runs"]] == ["Succeeded", "Succeeded"]
    assert cluster.service_color("web") == "blue"


def test_a_failed_pre_switch_job_rejects_and_traffic_never_moves(cluster: Cluster) -> None:
    rev = stable_then(cluster, {"preSwitch": [hook("hook:fail")]})
    st = cluster.wait_phase("RolledBack")
    name = f"web-{rev}-preswitch-0"
    last = st["history"][-1]
    assert last["reasonKind"] == "hook" and name in last["reason"]
    assert "BackoffLimitExceeded" in last["reason"]
    assert cluster.service_color("web") == "blue" and cluster.ingress_backend() == "web-blue"
