"""Bad inputs against the running operator (issue 8 proof 4): the corpus cases that pass the
CRD but not the operator's validation end ``Invalid`` with the field in the message, create
nothing, never crash the operator, and never move the traffic of a resource that was Stable.

The emulated API does no schema validation, so what it stores is what a spec reaching the
operator unchecked looks like.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from finnexus_kit.apiserver import ApiRequestError, path_for
from tests.contract.cluster import NS, Cluster, resource
from tests.helpers import wait_until
from tests.packaging.badinputs import all_cases, reason_names_field

OPERATOR_CASES = [c for c in all_cases() if c.layer == "operator"]
OWNED_KINDS = [("apps/v1", "deployments"), ("v1", "services"),
               ("networking.k8s.io/v1", "ingresses"), ("apps/v1", "controllerrevisions"),
               ("batch/v1", "jobs")]
_WRITES = ("POST", "PATCH", "PUT", "DELETE")


def owned_by(cluster: Cluster, name: str) -> list[str]:
    """Every object labelled or owned as the resource ``name``'s, of the kinds it may own."""
    found = []
    for api_version, plural in OWNED_KINDS:
        try:
            objs = cluster.api.list(path_for(api_version, plural, NS))
        except ApiRequestError as exc:
            if exc.status != 404:  # a kind the emulator does not serve yet
                raise
            continue
        for obj in objs:
            meta = obj.get("metadata") or {}
            owners = [r.get("name") for r in meta.get("ownerReferences") or []]
            if (meta.get("labels") or {}).get("app.kubernetes.io/name") == name or name in owners:
                found.append(f"{plural}/{meta.get('name')}")
    return found


def owned_writes(cluster: Cluster) -> list[tuple[str, str]]:
    """The operator's writes to Deployments, Services, Ingresses and ControllerRevisions."""
    kinds = tuple(f"/{plural}" for _, plural in OWNED_KINDS)
    return [(r[0], r[1]) for r in cluster.api.requests.all()
            if r[0] in _WRITES and any(k in r[1] for k in kinds)]


def test_operator_cases_end_invalid_naming_the_field_and_create_nothing(cluster: Cluster) -> None:
    assert len(OPERATOR_CASES) >= 8
    for case in OPERATOR_CASES:
        body: dict[str, Any] = copy.deepcopy(case.obj)
        body["metadata"]["namespace"] = NS
        cluster.create(body)
    cluster.create(resource("good"))  # a valid resource alongside them
    for case in OPERATOR_CASES:
        st = cluster.wait_phase("Invalid", name=case.name)
        assert reason_names_field(st["message"], case.field), (case.path.name, st["message"])
        degraded = {c["type"]: c for c in st["conditions"]}["Degraded"]
        assert degraded["status"] == "True" and degraded["reason"] == "InvalidSpec"
    cluster.wait_phase("Stable", name="good")
    time.sleep(0.5)  # room for any (wrong) late action
    for case in OPERATOR_CASES:
        assert owned_by(cluster, case.name) == [], case.path.name
        warnings = [e for e in cluster.events(case.name) if e["reason"] == "InvalidSpec"]
        assert len(warnings) == 1 and warnings[0]["type"] == "Warning", case.path.name
        assert case.field in warnings[0]["message"]
    # The operator never crashed: it still reconciles a resource created after all of them.
    assert cluster.operator is not None and cluster.operator.failure is None
    cluster.create(resource("after"))
    cluster.wait_phase("Stable", name="after")
    print(f"\nbad inputs applied to the operator: {len(OPERATOR_CASES)} Invalid, "
          "0 owned objects created, operator still reconciling")


def test_a_stable_resource_edited_to_an_invalid_spec_keeps_its_traffic(cluster: Cluster) -> None:
    cluster.create(resource())
    stable = cluster.wait_phase("Stable")
    services = ("web", "web-preview", "web-blue", "web-green")

    def routes() -> dict[str, Any]:
        selectors = {s: (cluster.get("v1", "services", s) or {}).get("spec", {}).get("selector")
                     for s in services}
        return {**selectors, "ingress": cluster.ingress_backend(),
                "replicas": cluster.replicas("web-blue")}

    before = routes()
    assert before["web"] == {"app.kubernetes.io/name": "web", "finnexus.ai/color": "blue"}
    writes = len(owned_writes(cluster))
    # defect 13: a numeric health port the pods do not declare (not a new revision).
    cluster.patch_spec(healthCheck={"port": 9090})
    st = cluster.wait_phase("Invalid")
    assert reason_names_field(st["message"], "spec.healthCheck.port"), st["message"]
    assert "9090 is not a containerPort" in st["message"]
    time.sleep(1.0)
    assert routes() == before
    assert owned_writes(cluster)[writes:] == []
    st = cluster.status()
    assert (st["activeColor"], st["stableRevision"]) == ("blue", stable["stableRevision"])
    # Fixed again: back to Stable on the same revision, still without touching the routes.
    cluster.patch_spec(healthCheck={"port": None})
    wait_until(lambda: cluster.status().get("phase") == "Stable", message="Stable again")
    assert cluster.status()["stableRevision"] == stable["stableRevision"]
    assert routes() == before
