"""Ensure-style writes of the object store, against a recording fake client."""

from __future__ import annotations

import pytest

from finnexus_operator import errors
from finnexus_operator.adapters.objects import ObjectStore
from finnexus_operator.core import manifests
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from tests.unit.fakekube import FakeKube

OWNER = {"name": "web", "namespace": "ns", "uid": "u-1"}
SPEC = FinNexusDeploymentSpec.model_validate({"template": {"spec": {"containers": [
    {"name": "a", "image": "x", "ports": [{"name": "http", "containerPort": 80}]}]}}})


async def test_ensure_creates_then_is_a_no_op_then_patches_minimally() -> None:
    kube = FakeKube()
    store = ObjectStore(kube, "u-1")  # type: ignore[arg-type]
    assert await store.ensure(manifests.service(OWNER, "web", "blue", SPEC)) is True
    store = ObjectStore(kube, "u-1")  # a new pass reads afresh
    assert await store.ensure(manifests.service(OWNER, "web", "blue", SPEC)) is False
    assert len(kube.writes) == 1
    assert await store.ensure(manifests.service(OWNER, "web", "green", SPEC)) is True
    op = kube.writes[-1][2]
    assert op == [{"op": "add", "path": "/spec/selector",
                   "value": {"app.kubernetes.io/name": "web", "finnexus.ai/color": "green"}}]
    assert kube.objects["/api/v1/namespaces/ns/services/web"]["spec"]["clusterIP"] == "10.0.0.1"


async def test_deployment_replicas_and_template_are_patched_only_when_they_differ() -> None:
    kube = FakeKube()
    store = ObjectStore(kube, "u-1")  # type: ignore[arg-type]
    await store.ensure(manifests.deployment(OWNER, "blue", "r1", SPEC.template, 2))
    assert not await store.ensure(manifests.deployment(OWNER, "blue", "r1", SPEC.template, 2))
    assert await store.ensure(manifests.deployment(OWNER, "blue", "r1", SPEC.template, 3))
    assert [o["path"] for o in kube.writes[-1][2]] == ["/spec/replicas"]
    assert await store.ensure(manifests.deployment(OWNER, "blue", "r2", SPEC.template, 3))
    assert [o["path"] for o in kube.writes[-1][2]] == [
        "/spec/template", "/metadata/labels/finnexus.ai~1revision"]
    assert await store.scale("ns", "web-blue", 0) and not await store.scale("ns", "web-blue", 0)
    assert not await store.scale("ns", "web-green", 0)  # absent: nothing to scale


async def test_an_object_we_do_not_own_is_never_taken_over() -> None:
    kube = FakeKube()
    foreign = manifests.service({**OWNER, "uid": "someone-else"}, "web", "blue", SPEC)
    kube.objects["/api/v1/namespaces/ns/services/web"] = foreign
    store = ObjectStore(kube, "u-1")  # type: ignore[arg-type]
    with pytest.raises(errors.OwnershipError, match="not owned"):
        await store.ensure(manifests.service(OWNER, "web", "green", SPEC))
    assert kube.writes == []
