"""Hook Jobs (spec.hooks) with the real operator; the test plays the Job controller
(``finnexus_kit.jobs``: the image tag decides a Job's fate)."""

from __future__ import annotations

from typing import Any

from tests.contract.cluster import Cluster, resource, template
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
    listed = cluster.api.list("/apis/batch/v1/namespaces/default/jobs")
    return {j["metadata"]["name"]: j for j in listed}


def job_creates(cluster: Cluster) -> int:
    return len(cluster.requests("POST", "/apis/batch/v1/namespaces/default/jobs"))


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


def test_a_pre_switch_job_past_its_deadline_rejects(cluster: Cluster) -> None:
    rev = stable_then(cluster, {"preSwitch": [hook("hook:hang", deadline=1)]})
    name = f"web-{rev}-preswitch-0"
    wait_until(lambda: cluster.status().get("message") == f"preSwitch {name} running",
               message="Verifying names the running Job")
    assert cluster.status()["phase"] == "Verifying"
    st = cluster.wait_phase("RolledBack")
    last = st["history"][-1]
    assert last["reasonKind"] == "hook" and name in last["reason"]
    assert "DeadlineExceeded" in last["reason"]
    assert cluster.service_color("web") == "blue"


def test_a_restarted_operator_finds_the_running_job(cluster: Cluster) -> None:
    rev = stable_then(cluster, {"preSwitch": [hook("hook:succeed-3")]})
    name = f"web-{rev}-preswitch-0"
    wait_until(lambda: name in jobs(cluster), message="the Job was created")
    cluster.stop_operator()
    cluster.start_operator()
    wait_until(lambda: cluster.status().get("stableRevision") == rev, timeout=20,
               message="promoted after the Job succeeded")
    assert job_creates(cluster) == 1 and list(jobs(cluster)) == [name]
    assert cluster.service_color("web") == "green"


def test_a_failed_post_promotion_job_is_degraded_and_moves_no_traffic(cluster: Cluster) -> None:
    rev = stable_then(cluster, {"postPromotion": [hook("hook:fail")]})
    name = f"web-{rev}-postpromotion-0"

    def degraded() -> dict[str, Any] | None:
        st = cluster.status()
        conds = {c["type"]: c for c in st.get("conditions") or []}
        cond = conds.get("Degraded")
        return st if cond and cond["status"] == "True" and cond["reason"] == "HookFailed" else None

    st = wait_until(degraded, timeout=15, message="Degraded by the postPromotion Job")
    assert isinstance(st, dict)
    assert st["phase"] == "Stable" and st["stableRevision"] == rev
    assert name in st["message"] and "BackoffLimitExceeded" in st["message"]
    assert cluster.service_color("web") == "green" and cluster.ingress_backend() == "web-green"
    warnings = [e for e in cluster.events() if e["reason"] == "HookFailed"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"
    cluster.wait_passes(2)
    assert cluster.service_color("web") == "green"  # never moved back by itself
    assert job_creates(cluster) == 1


def test_finished_jobs_are_deleted_after_ttl_and_never_run_again(cluster: Cluster) -> None:
    cluster.create(resource(hooks={"preSwitch": [hook("hook:succeed")], "ttlSeconds": 1}))
    cluster.wait_phase("Stable")
    wait_until(lambda: not jobs(cluster), timeout=10, message="the Job deleted after ttl")
    deletes = cluster.requests("DELETE", "/apis/batch/v1/namespaces/default/jobs/")
    assert len(deletes) == 1 and deletes[0][2].get("propagationPolicy") == "Background"
    cluster.wait_passes(2)
    assert job_creates(cluster) == 1 and not jobs(cluster)
