"""The Argo CD health check and resource actions, run under LuaJIT (lupa) like Argo CD's
gopher-lua would run them: a global ``obj``, the script's return value is the answer."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from lupa import luajit21

from finnexus_operator.models.phases import Phase, Request
from tests.packaging.tools import EXAMPLES

ARGOCD = EXAMPLES / "argocd"
HEALTH = (ARGOCD / "health.lua").read_text()
DISCOVERY = (ARGOCD / "actions" / "discovery.lua").read_text()
ACTIONS = ("promote", "abort", "retry")


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


ENABLED = {
    "promote": {Phase.AWAITING_PROMOTION},
    "abort": {Phase.DEPLOYING, Phase.VERIFYING, Phase.AWAITING_PROMOTION, Phase.ANALYZING},
    "retry": {Phase.ROLLED_BACK, Phase.FAILED},
}


@pytest.mark.parametrize("phase", [*Phase, None], ids=[*map(str, Phase), "no-status"])
def test_discovery_offers_each_action_only_when_it_makes_sense(phase: Phase | None) -> None:
    obj = resource(phase.value) if phase else resource(status=False)
    actions = run(DISCOVERY, obj)
    assert set(actions) == set(ACTIONS)
    for name, phases in ENABLED.items():
        assert actions[name]["disabled"] is (phase not in phases), (name, phase)


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
