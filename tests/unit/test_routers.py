"""The router seam: the registry is typed by the Protocol, checked at start, used to observe."""

from __future__ import annotations

from typing import Any

import pytest

from finnexus_operator import errors
from finnexus_operator.adapters import routers
from finnexus_operator.adapters.objects import ObjectStore
from finnexus_operator.core import manifests
from finnexus_operator.models.spec import FinNexusDeploymentSpec

OWNER = {"name": "web", "namespace": "ns", "uid": "u-1"}
TEMPLATE = {"spec": {"containers": [
    {"name": "a", "image": "x", "ports": [{"name": "http", "containerPort": 80}]}]}}
PLAIN = FinNexusDeploymentSpec.model_validate({"template": TEMPLATE})
WITH_INGRESS = FinNexusDeploymentSpec.model_validate(
    {"template": TEMPLATE, "ingress": {"host": "web.example"}})


class FakeKube:
    """Objects by path; create/patch apply and record (just enough for ObjectStore)."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.writes: list[str] = []

    async def get(self, path: str) -> dict[str, Any] | None:
        return self.objects.get(path)

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.objects[f"{path}/{body['metadata']['name']}"] = body
        self.writes.append(f"create {body['kind']}")
        return body

    async def patch(self, path: str, body: Any, kind: str = "merge") -> dict[str, Any]:
        obj = self.objects[path]
        for op in body:
            *parents, last = op["path"].strip("/").split("/")
            target = obj
            for part in parents:
                target = target[part]
            target[last] = op["value"]
        self.writes.append(f"patch {obj['kind']}")
        return obj


def store() -> ObjectStore:
    return ObjectStore(FakeKube(), "u-1")  # type: ignore[arg-type]


@pytest.mark.parametrize("spec, kinds", [(PLAIN, ["service"]),
                                          (WITH_INGRESS, ["ingress", "service"])])
def test_router_kinds_put_the_ingress_first(spec: FinNexusDeploymentSpec,
                                            kinds: list[str]) -> None:
    assert routers.router_kinds(spec) == kinds
    assert [router.kind for router in routers.make_routers(store(), OWNER, spec)] == kinds


def test_each_router_names_its_target() -> None:
    ingress, service = routers.make_routers(store(), OWNER, WITH_INGRESS)
    assert ingress.target() == ("Ingress", "web")
    assert service.target() == ("Service", manifests.active_service_name("web"))


async def test_each_router_observes_what_it_ensured() -> None:
    s = store()
    chain = routers.make_routers(s, OWNER, WITH_INGRESS)
    for router in chain:
        assert await router.ensure("green") is True
        assert await router.ensure("green") is False  # already true: no write
    objects = {router.target(): await s.read(router.target()[0], "ns", router.target()[1])
               for router in chain}
    assert routers.routed_colors(chain, objects) == {"ingress": "green", "service": "green"}
    assert routers.routed_colors(chain, {}) == {"ingress": None, "service": None}  # absent


def test_routed_colors_reads_each_router_from_its_own_target() -> None:
    chain = routers.make_routers(store(), OWNER, WITH_INGRESS)
    objects = {("Ingress", "web"): manifests.ingress(OWNER, "blue", WITH_INGRESS),
               ("Service", "web"): manifests.service(OWNER, "web", "green", WITH_INGRESS),
               ("Service", "web-preview"): manifests.service(OWNER, "web-preview", "blue",
                                                             WITH_INGRESS)}
    assert routers.routed_colors(chain, objects) == {"ingress": "blue", "service": "green"}


def test_the_default_registry_has_every_kind() -> None:
    routers.check_routers()
    assert set(routers.ROUTERS) == {"ingress", "service"}


MISSING_INGRESS = {"service": routers.ServiceRouter}


def test_check_routers_fails_for_a_kind_without_a_registration() -> None:
    with pytest.raises(errors.ConfigError) as info:
        routers.check_routers(MISSING_INGRESS)
    assert str(info.value) == "unknown traffic router 'ingress'; known: service"
    with pytest.raises(errors.ConfigError, match="'ingress', 'service'; known: none"):
        routers.check_routers({})


def test_make_routers_fails_only_when_the_spec_needs_the_missing_kind() -> None:
    with pytest.raises(errors.ConfigError) as info:
        routers.make_routers(store(), OWNER, WITH_INGRESS, MISSING_INGRESS)
    assert str(info.value) == "unknown traffic router 'ingress'; known: service"
    chain = routers.make_routers(store(), OWNER, PLAIN, MISSING_INGRESS)
    assert [x.kind for x in chain] == ["service"]


def test_a_registered_factory_is_what_make_routers_builds() -> None:
    built: list[tuple[Any, ...]] = []

    def factory(s: ObjectStore, owner: Any, spec: FinNexusDeploymentSpec) -> routers.TrafficRouter:
        built.append((owner["name"], spec))
        return routers.ServiceRouter(s, owner, spec)

    chain = routers.make_routers(store(), OWNER, PLAIN, {"service": factory})
    assert built == [("web", PLAIN)] and [x.kind for x in chain] == ["service"]
