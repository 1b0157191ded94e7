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


class CountingKube(FakeKube):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    async def get(self, path: str) -> dict[str, object] | None:  # type: ignore[override]
        self.reads.append(f"GET {path}")
        return await super().get(path)

    async def list(self, path: str, label_selector: str | None = None  # type: ignore[override]
                   ) -> list[dict[str, object]]:
        self.reads.append(f"LIST {path}")
        return await super().list(path, label_selector)


async def test_with_the_cache_a_pass_reads_nothing_and_gets_only_what_it_lacks() -> None:
    from finnexus_operator.adapters.cache import ClusterCache

    kube = CountingKube()
    cache = ClusterCache(kube)  # type: ignore[arg-type]
    kube_writes = ObjectStore(kube, "u-1")  # type: ignore[arg-type]
    await kube_writes.ensure(manifests.service(OWNER, "web", "blue", SPEC))
    cache.absorb(kube.objects["/api/v1/namespaces/ns/services/web"])  # as a write's answer
    kube.reads.clear()
    store = ObjectStore(kube, "u-1", cache)  # type: ignore[arg-type]
    assert not await store.ensure(manifests.service(OWNER, "web", "blue", SPEC))
    assert await store.list_labelled("Service", "ns", "web") != []
    assert kube.reads == []  # the cache answered
    # An object of our name the cache does not hold (its label removed by hand): the create
    # answers 409, then it is read, found ours, and its labels are written back.
    kube.put("/api/v1/namespaces/ns/services/web-preview", {
        **manifests.service(OWNER, "web-preview", "blue", SPEC),
        "metadata": {**manifests.service(OWNER, "web-preview", "blue", SPEC)["metadata"],
                     "labels": {}}})
    assert await store.ensure(manifests.service(OWNER, "web-preview", "blue", SPEC))
    assert kube.reads == ["GET /api/v1/namespaces/ns/services/web-preview"]
    assert {(o["path"], o["value"]) for o in kube.writes[-1][2]} == {
        ("/metadata/labels/app.kubernetes.io~1name", "web"),
        ("/metadata/labels/app.kubernetes.io~1managed-by", "finnexus-operator")}
