"""The Argo CD health check and resource actions, run under LuaJIT (lupa) like Argo CD's
gopher-lua would run them: a global ``obj``, the script's return value is the answer."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from lupa import luajit21

from finnexus_kit.apiserver import ApiServer
from finnexus_operator.models.phases import Phase, Request
from tests.contract.cluster import Cluster, running_cluster
from tests.contract.cluster import resource as contract_resource
from tests.helpers import wait_until
from tests.packaging.tools import EXAMPLES

ARGOCD = EXAMPLES / "argocd"
HEALTH = (ARGOCD / "health.lua").read_text()
DISCOVERY = (ARGOCD / "actions" / "discovery.lua").read_text()
ACTIONS = ("promote", "abort", "retry", "undo")


def from_lua(value: Any) -> Any:
    if luajit21.lua_type(value) != "table":
        return value
    items = dict(value.items())
    if (
        items
        and all(isinstance(k, int) for k in items)
        and sorted(items) == list(range(1, len(items) + 1))
    ):
        return [from_lua(items[i]) for i in sorted(items)]
    return {k: from_lua(v) for k, v in items.items()}


def run(script: str, obj: dict[str, Any]) -> Any:
    lua = luajit21.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(copy.deepcopy(obj), recursive=True)
    return from_lua(lua.execute(script))


def resource(
    phase: str | None = None,
    *,
    generation: int = 3,
    observed: int | None = 3,
    paused: bool = False,
    message: str = "",
    status: bool = True,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "finnexus.ai/v1alpha1",
        "kind": "FinNexusDeployment",
        "metadata": {"name": "backend", "namespace": "trading", "generation": generation},
        "spec": {"replicas": 2, "template": {}, "paused": paused},
    }
    if status:
        obj["status"] = {"phase": phase, "message": message}
        if observed is not None:
            obj["status"]["observedGeneration"] = observed
    return obj


EXPECTED_HEALTH = {
    Phase.STABLE: "Healthy",
    Phase.PENDING: "Progressing",
    Phase.DEPLOYING: "Progressing",
    Phase.VERIFYING: "Progressing",
    Phase.ANALYZING: "Progressing",
    Phase.ROLLING_BACK: "Progressing",
    Phase.AWAITING_PROMOTION: "Suspended",
    Phase.ROLLED_BACK: "Degraded",
    Phase.FAILED: "Degraded",
    Phase.INVALID: "Degraded",
}


def test_every_phase_has_an_expectation() -> None:
    assert set(EXPECTED_HEALTH) == set(Phase)


@pytest.mark.parametrize(
    ("phase", "health"), EXPECTED_HEALTH.items(), ids=list(map(str, EXPECTED_HEALTH))
)
def test_health_per_phase(phase: Phase, health: str) -> None:
    result = run(HEALTH, resource(phase.value, message="round 4/10: fine"))
    assert result["status"] == health
    assert isinstance(result["message"], str) and result["message"]


@pytest.mark.parametrize(
    "obj",
    [
        resource(status=False),
        resource(None),
        {
            "apiVersion": "finnexus.ai/v1alpha1",
            "kind": "FinNexusDeployment",
            "metadata": {"name": "x"},
        },
        {"metadata": {}, "status": {}},
    ],
    ids=["no-status", "no-phase", "bare-object", "empty-status"],
)
def test_health_without_status_is_progressing_never_an_error(obj: dict[str, Any]) -> None:
    assert run(HEALTH, obj)["status"] == "Progressing"


@pytest.mark.parametrize("phase", [Phase.STABLE, Phase.ROLLED_BACK, Phase.AWAITING_PROMOTION])
@pytest.mark.parametrize("observed", [2, None])
def test_stale_observed_generation_is_progressing(phase: Phase, observed: int | None) -> None:
    result = run(HEALTH, resource(phase.value, generation=3, observed=observed))
    assert result["status"] == "Progressing"
    assert "generation 3" in result["message"]


def test_paused_is_suspended_but_never_hides_a_rollback() -> None:
    assert run(HEALTH, resource("Stable", paused=True))["status"] == "Suspended"
    assert run(HEALTH, resource("Analyzing", paused=True))["status"] == "Suspended"
    assert run(HEALTH, resource("RolledBack", paused=True))["status"] == "Degraded"


def test_degraded_message_carries_the_reason() -> None:
    result = run(HEALTH, resource("RolledBack", message="error-rate 0.02 > 0.001"))
    assert result == {"status": "Degraded", "message": "RolledBack: error-rate 0.02 > 0.001"}


def test_a_stable_colour_that_lost_its_pods_is_degraded() -> None:
    obj = resource("Stable", message="abc stable on blue")
    obj["status"]["conditions"] = [
        {"type": "Available", "status": "False", "reason": "NoTraffic", "message": ""},
        {"type": "Degraded", "status": "True", "reason": "StableUnavailable",
         "message": "the stable colour blue (abc) has 0/2 pods Ready"}]
    assert run(HEALTH, obj) == {
        "status": "Degraded",
        "message": "StableUnavailable: the stable colour blue (abc) has 0/2 pods Ready"}
    obj["status"]["conditions"][1]["status"] = "False"
    assert run(HEALTH, obj)["status"] == "Healthy"


def test_unknown_future_phase_is_progressing() -> None:
    assert run(HEALTH, resource("Canarying"))["status"] == "Progressing"


IN_FLIGHT = {Phase.DEPLOYING, Phase.VERIFYING, Phase.AWAITING_PROMOTION, Phase.ANALYZING}
ENABLED = {
    "promote": {Phase.AWAITING_PROMOTION, Phase.ANALYZING},
    "abort": IN_FLIGHT,
    "retry": set(),  # needs a rejectedRevision (below)
    "undo": IN_FLIGHT,  # idle: needs a previousStableRevision (below)
}


@pytest.mark.parametrize("phase", [*Phase, None], ids=[*map(str, Phase), "no-status"])
def test_discovery_offers_each_action_only_when_it_makes_sense(phase: Phase | None) -> None:
    obj = resource(phase.value) if phase else resource(status=False)
    actions = run(DISCOVERY, obj)
    assert set(actions) == set(ACTIONS)
    for name, phases in ENABLED.items():
        assert actions[name]["disabled"] is (phase not in phases), (name, phase)


@pytest.mark.parametrize("phase", [*Phase], ids=[*map(str, Phase)])
def test_retry_needs_a_rejected_revision_and_undo_a_previous_one(phase: Phase) -> None:
    obj = resource(phase.value)
    obj["status"].update(rejectedRevision="r2", previousStableRevision="r0")
    actions = run(DISCOVERY, obj)
    idle = phase not in IN_FLIGHT and phase is not Phase.ROLLING_BACK
    assert actions["retry"]["disabled"] is not idle, phase
    assert actions["undo"]["disabled"] is (phase is Phase.ROLLING_BACK), phase


def test_stable_on_another_revision_than_the_template_is_degraded() -> None:
    obj = resource("Stable", message="undone to r1 on blue; r2 will not be retried")
    obj["status"].update(stableRevision="r1", templateRevision="r2")
    assert run(HEALTH, obj) == {
        "status": "Degraded",
        "message": "Running revision r1 is not the template's revision r2 (undone or rolled "
                   "back; change the template or request a retry): undone to r1 on blue; r2 "
                   "will not be retried"}
    obj["status"]["templateRevision"] = "r1"
    assert run(HEALTH, obj)["status"] == "Healthy"
    del obj["status"]["templateRevision"]  # an operator too old to write it
    assert run(HEALTH, obj)["status"] == "Healthy"


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("annotations", [None, {"team": "trading"}])
def test_action_sets_the_request_annotation(
    action: str, annotations: dict[str, str] | None
) -> None:
    assert action in {r.value for r in Request}
    obj = resource("AwaitingPromotion")
    if annotations is not None:
        obj["metadata"]["annotations"] = dict(annotations)
    script = (ARGOCD / "actions" / action / "action.lua").read_text()
    result = run(script, obj)
    assert result["metadata"]["annotations"] == {
        **(annotations or {}),
        "finnexus.ai/request": action,
    }
    result["metadata"].pop("annotations")
    obj["metadata"].pop("annotations", None)
    assert result == from_lua_roundtrip(obj)


def from_lua_roundtrip(obj: dict[str, Any]) -> Any:
    """What an untouched object looks like after the Python -> Lua -> Python trip."""
    return run("return obj", obj)


def test_argocd_cm_embeds_exactly_these_scripts() -> None:
    cm = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["name"] == "argocd-cm"
    data = cm["data"]
    assert data["resource.customizations.health.finnexus.ai_FinNexusDeployment"] == HEALTH
    actions = yaml.safe_load(data["resource.customizations.actions.finnexus.ai_FinNexusDeployment"])
    assert actions["discovery.lua"] == DISCOVERY
    defs = {d["name"]: d["action.lua"] for d in actions["definitions"]}
    assert set(defs) == set(ACTIONS)
    for name, script in defs.items():
        assert script == (ARGOCD / "actions" / name / "action.lua").read_text()


@pytest.mark.parametrize("name", ["application-operator.yaml", "application-app.yaml"])
def test_argocd_applications_are_well_formed(name: str) -> None:
    app = yaml.safe_load((ARGOCD / name).read_text())
    assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["kind"] == "Application"
    assert app["spec"]["destination"]["namespace"]
    source = app["spec"]["source"]
    assert source["repoURL"] and source["targetRevision"] and source["path"]
    if name == "application-operator.yaml":
        assert source["path"] == "charts/finnexus-operator"
        for values_file in source["helm"]["valueFiles"]:
            assert (EXAMPLES.parent / source["path"] / values_file).resolve().is_file()


# -- the scripts on the operator's real status output -------------------------------------------


def test_scripts_on_real_status_from_the_operator(apiserver: ApiServer, kubeconfig: str) -> None:
    """The real operator releases, is promoted by the Argo CD actions' own output (during
    AwaitingPromotion and during Analyzing), undone by the undo action, rolled back: at each
    step the health script and the discovery script judge the status the operator wrote."""
    spec = {"promotion": {"auto": False, "scaleDownDelaySeconds": 30},
            # no Prometheus configured: rounds are Errors, errorLimit keeps it Analyzing a while
            "analysis": {"intervalSeconds": 1, "checks": 5, "errorLimit": 20,
                         "metrics": [{"name": "errors", "query": "vector(0)", "max": 1}]}}
    with running_cluster(apiserver, kubeconfig) as cluster:
        cluster.create(contract_resource(**spec))
        seen = judge(cluster, "Stable")
        assert seen["health"] == {"status": "Healthy", "message": seen["message"]}
        assert enabled(seen) == set()

        cluster.set_image("app:good2")
        seen = judge(cluster, "AwaitingPromotion")
        assert seen["health"]["status"] == "Suspended"
        assert enabled(seen) == {"promote", "abort", "undo"}
        act(cluster, seen, "promote")  # switch now -> Analyzing

        seen = judge(cluster, "Analyzing")
        assert seen["health"]["status"] == "Progressing"
        assert enabled(seen) == {"promote", "abort", "undo"}
        act(cluster, seen, "promote")  # promote now, analysis skipped

        seen = judge(cluster, "Stable", candidateColor=None)
        assert seen["status"]["stableRevision"] == seen["status"]["templateRevision"]
        assert seen["health"]["status"] == "Healthy" and enabled(seen) == {"undo"}
        act(cluster, seen, "undo")  # back to the first revision: Git's template no longer runs

        seen = judge(cluster, "Stable", stableRevision=seen["status"]["previousStableRevision"])
        assert seen["status"]["templateRevision"] != seen["status"]["stableRevision"]
        assert seen["health"]["status"] == "Degraded"
        assert seen["health"]["message"].startswith(
            f"Running revision {seen['status']['stableRevision']} is not the template's "
            f"revision {seen['status']['templateRevision']}")
        assert enabled(seen) == {"retry", "undo"}

        cluster.set_image("app:bad")  # its health checks fail: rolled back before any traffic
        seen = judge(cluster, "RolledBack", timeout=20)
        assert seen["health"]["status"] == "Degraded"
        assert seen["health"]["message"] == f"RolledBack: {seen['status']['message']}"
        assert enabled(seen) == {"retry", "undo"}
        rejected = seen["status"]["rejectedRevision"]
        act(cluster, seen, "retry")  # the same template again: rejected again, on its own merit
        seen = judge(cluster, "RolledBack", timeout=20,
                     history=lambda h: [e["revision"] for e in h].count(rejected) == 2)
        assert seen["status"]["history"][-1]["reasonKind"] == "health"

        cluster.set_image("app:good4")
        seen = judge(cluster, "AwaitingPromotion")
        act(cluster, seen, "abort")
        seen = judge(cluster, "RolledBack", rejectedRevision=seen["status"]["candidateRevision"])
        assert seen["status"]["history"][-1]["reasonKind"] == "abort"
        assert seen["health"]["status"] == "Degraded" and "retry" in enabled(seen)


def judge(cluster: Cluster, phase: str, timeout: float = 15.0, history: Any = None,
          **fields: Any) -> dict[str, Any]:
    """The live object once it is in ``phase`` with ``fields`` (and ``history(entries)``
    true), judged by the health and discovery scripts."""
    def there() -> dict[str, Any] | None:
        obj = cluster.cr()
        st = obj.get("status") or {}
        ok = st.get("phase") == phase and all(st.get(k) == v for k, v in fields.items())
        return obj if ok and (history is None or history(st.get("history") or [])) else None

    obj: dict[str, Any] = wait_until(there, timeout=timeout,  # type: ignore[assignment]
                                     message=f"{phase} {fields}")
    return {"status": obj["status"], "message": obj["status"]["message"], "obj": obj,
            "health": run(HEALTH, obj), "actions": run(DISCOVERY, obj)}


def enabled(seen: dict[str, Any]) -> set[str]:
    return {name for name, action in seen["actions"].items() if not action["disabled"]}


def act(cluster: Cluster, seen: dict[str, Any], action: str) -> None:
    """Run the action script on the live object and send the annotation it set."""
    script = (ARGOCD / "actions" / action / "action.lua").read_text()
    changed = run(script, seen["obj"])
    cluster.request(changed["metadata"]["annotations"]["finnexus.ai/request"])
