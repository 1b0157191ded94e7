"""The executor against a recording fake API: a foreign object blocks only itself, routes are
re-pointed as they stand without a valid spec, promoted templates are recorded and pruned."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from finnexus_operator import constants, errors
from finnexus_operator.adapters.objects import ObjectStore
from finnexus_operator.adapters.resource import ResourceClient
from finnexus_operator.controller.executor import Executor
from finnexus_operator.core import actions, manifests
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from tests.unit.fakekube import FakeKube

OWNER = {"name": "web", "namespace": "ns", "uid": "u-1"}
FOREIGN = {**OWNER, "uid": "someone-else"}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
    {"name": "a", "image": "x", "ports": [{"name": "http", "containerPort": 80}]}]}}
SPEC = FinNexusDeploymentSpec.model_validate(
    {"template": TEMPLATE, "ingress": {"host": "web.example", "className": "nginx"}})
INGRESS = "/apis/networking.k8s.io/v1/namespaces/ns/ingresses/web"
ACTIVE = "/api/v1/namespaces/ns/services/web"
PREVIEW = "/api/v1/namespaces/ns/services/web-preview"
GREEN = "/apis/apps/v1/namespaces/ns/deployments/web-green"
REVISIONS = "/apis/apps/v1/namespaces/ns/controllerrevisions"


def cluster(*, ingress_owner: dict[str, Any] = OWNER, active_owner: dict[str, Any] = OWNER
            ) -> FakeKube:
    """Traffic on green (the candidate), blue stable: what a rollback starts from."""
    kube = FakeKube()
    kube.put(INGRESS, manifests.ingress(ingress_owner, "green", SPEC))
    kube.put(ACTIVE, manifests.service(active_owner, "web", "green", SPEC))
    kube.put(PREVIEW, manifests.service(OWNER, "web-preview", "green", SPEC))
    kube.put(GREEN, manifests.deployment(OWNER, "green", "r2", TEMPLATE, 2))
    return kube


def executor(kube: FakeKube, spec: FinNexusDeploymentSpec | None = SPEC) -> Executor:
    store = ObjectStore(kube, OWNER["uid"])  # type: ignore[arg-type]
    return Executor(store, ResourceClient(kube), OWNER, spec)  # type: ignore[arg-type]


def backend(kube: FakeKube) -> str:
    path = kube.objects[INGRESS]["spec"]["rules"][0]["http"]["paths"][0]
    return str(path["backend"]["service"]["name"])


def color(kube: FakeKube, path: str) -> str:
    return str(kube.objects[path]["spec"]["selector"][constants.LABEL_COLOR])


NOW = time.time()
ROLLBACK = (actions.RouteTraffic("blue"), actions.RoutePreview("blue"),
            actions.ScaleDeployment("green", 0))


@pytest.mark.parametrize("spec", [SPEC, None], ids=["valid spec", "invalid spec"])
async def test_a_foreign_ingress_blocks_only_itself_during_a_rollback(
        spec: FinNexusDeploymentSpec | None) -> None:
    kube = cluster(ingress_owner=FOREIGN)
    theirs = copy.deepcopy(kube.objects[INGRESS])
    with pytest.raises(errors.OwnershipError, match="Ingress ns/web exists and is not owned") \
            as raised:
        await executor(kube, spec).apply(ROLLBACK, decided_at=NOW)
    assert raised.value.objects == ("Ingress ns/web",)
    assert kube.objects[INGRESS] == theirs  # never taken over
    assert color(kube, ACTIVE) == "blue"  # ...but the Service route moved
    assert color(kube, PREVIEW) == "blue"
    assert kube.objects[GREEN]["spec"]["replicas"] == 0  # and the candidate was scaled down


async def test_every_blocked_object_is_named_once_at_the_end() -> None:
    kube = cluster(ingress_owner=FOREIGN, active_owner=FOREIGN)
    with pytest.raises(errors.OwnershipError) as raised:
        await executor(kube).apply((*ROLLBACK, actions.RouteTraffic("blue")), decided_at=NOW)
    assert raised.value.objects == ("Ingress ns/web", "Service ns/web")
    assert str(raised.value).count("not owned") == 2
    assert color(kube, PREVIEW) == "blue" and kube.objects[GREEN]["spec"]["replicas"] == 0


async def test_a_foreign_colour_service_does_not_block_the_other_one() -> None:
    kube = FakeKube()
    kube.put("/api/v1/namespaces/ns/services/web-blue",
             manifests.color_service(FOREIGN, "blue", SPEC))
    with pytest.raises(errors.OwnershipError, match="Service ns/web-blue"):
        await executor(kube).apply((actions.EnsureServices(),), decided_at=NOW)
    assert "/api/v1/namespaces/ns/services/web-green" in kube.objects


async def test_an_api_error_still_stops_the_pass() -> None:
    kube = cluster()
    del kube.objects[ACTIVE]["spec"]  # the patch of the selector will not apply
    with pytest.raises(errors.Invalid):
        await executor(kube, None).apply(ROLLBACK, decided_at=NOW)


async def test_without_a_valid_spec_routes_are_repointed_as_they_stand() -> None:
    kube = cluster()
    kube.objects[INGRESS]["metadata"]["annotations"] = {"hand": "made"}
    kube.objects[ACTIVE]["spec"]["ports"][0]["port"] = 8080  # a hand edit: left as it stands
    before = copy.deepcopy(kube.objects)
    await executor(kube, None).apply(ROLLBACK, decided_at=NOW)
    assert backend(kube) == "web-blue" and color(kube, ACTIVE) == "blue"
    assert color(kube, PREVIEW) == "blue"
    writes = {path: ops for verb, path, ops in kube.writes if verb == "patch"}
    assert writes[ACTIVE] == [{"op": "add", "path": "/spec/selector/finnexus.ai~1color",
                               "value": "blue"}]
    pointer = "/spec/rules/0/http/paths/0/backend/service/name"
    assert writes[INGRESS] == [{"op": "test", "path": pointer, "value": "web-green"},
                               {"op": "replace", "path": pointer, "value": "web-blue"}]
    # a second pass writes nothing
    writes_before = len(kube.writes)
    await executor(kube, None).apply(ROLLBACK, decided_at=NOW)
    assert len(kube.writes) == writes_before
    # nothing else changed: revert the colour and the objects are as before
    kube.objects[ACTIVE]["spec"]["selector"][constants.LABEL_COLOR] = "green"
    kube.objects[PREVIEW]["spec"]["selector"][constants.LABEL_COLOR] = "green"
    kube.objects[INGRESS]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"][
        "name"] = "web-green"
    kube.objects[GREEN]["spec"]["replicas"] = 2
    assert kube.objects == before


async def test_without_a_valid_spec_absent_routes_stay_absent() -> None:
    kube = FakeKube()
    await executor(kube, None).apply(ROLLBACK, decided_at=NOW)
    assert kube.writes == [] and kube.objects == {}


async def test_without_a_valid_spec_services_are_not_built() -> None:
    with pytest.raises(ValueError, match="needs a valid spec"):
        await executor(FakeKube(), None).apply((actions.EnsureServices(),), decided_at=NOW)


async def test_a_request_is_cleared_without_a_valid_spec() -> None:
    kube = FakeKube()
    cr = "/apis/finnexus.ai/v1alpha1/namespaces/ns/finnexusdeployments/web"
    kube.put(cr, {"metadata": {"name": "web", "annotations": {constants.ANNOTATION_REQUEST:
                                                               "abort"}}})
    await executor(kube, None).apply((actions.ClearRequest("abort"),), decided_at=NOW)
    assert kube.objects[cr]["metadata"]["annotations"] == {}


# -- ControllerRevisions --------------------------------------------------------------------

def revision(kube: FakeKube, rev: str) -> dict[str, Any]:
    return kube.objects[f"{REVISIONS}/web-{rev}"]


async def test_promoted_templates_are_recorded_once_and_numbered() -> None:
    kube = FakeKube()
    await executor(kube).apply((actions.RecordRevision("r1", TEMPLATE),), decided_at=NOW)
    cr = revision(kube, "r1")
    assert cr["kind"] == "ControllerRevision" and cr["apiVersion"] == "apps/v1"
    assert cr["data"] == {"template": TEMPLATE} and cr["revision"] == 1
    assert cr["metadata"]["labels"] == {**manifests.owned_labels("web"),
                                        constants.LABEL_REVISION: "r1"}
    assert [ref["uid"] for ref in cr["metadata"]["ownerReferences"]] == ["u-1"]
    writes = len(kube.writes)
    other = {**TEMPLATE, "spec": {"containers": []}}  # immutable: never patched
    await executor(kube).apply((actions.RecordRevision("r1", other),), decided_at=NOW)
    assert len(kube.writes) == writes and revision(kube, "r1")["data"] == {"template": TEMPLATE}
    await executor(kube).apply((actions.RecordRevision("r2", other),), decided_at=NOW)
    assert revision(kube, "r2")["revision"] == 2


async def test_prune_keeps_the_listed_revisions_and_never_touches_a_foreign_one() -> None:
    kube = FakeKube()
    for rev in ("r1", "r2", "r3"):
        await executor(kube).apply((actions.RecordRevision(rev, TEMPLATE),), decided_at=NOW)
    kube.put(f"{REVISIONS}/web-r0", manifests.controller_revision(FOREIGN, "r0", TEMPLATE, 9))
    await executor(kube).apply((actions.PruneRevisions(("r2", "r3")),), decided_at=NOW)
    assert sorted(p.rsplit("/", 1)[-1] for p in kube.objects) == ["web-r0", "web-r2", "web-r3"]
    await executor(kube).apply((actions.RecordRevision("r4", TEMPLATE),), decided_at=NOW)
    assert revision(kube, "r4")["revision"] == 4  # 1 + the highest we own (not the foreign 9)


async def test_a_foreign_revision_of_our_name_blocks_only_itself() -> None:
    kube = FakeKube()
    foreign = manifests.controller_revision(FOREIGN, "r1", TEMPLATE, 1)
    foreign["metadata"]["labels"] = {}  # not even labelled: found only by its name
    kube.put(f"{REVISIONS}/web-r1", foreign)
    kube.put(GREEN, manifests.deployment(OWNER, "green", "r1", TEMPLATE, 2))
    with pytest.raises(errors.OwnershipError, match="ControllerRevision ns/web-r1"):
        await executor(kube).apply((actions.RecordRevision("r1", TEMPLATE),
                                    actions.ScaleDeployment("green", 0)), decided_at=NOW)
    assert kube.objects[f"{REVISIONS}/web-r1"]["metadata"]["ownerReferences"][0]["uid"] == \
        "someone-else"
    assert kube.objects[GREEN]["spec"]["replicas"] == 0
