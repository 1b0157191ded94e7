"""Manifest builders of the pure core: Deployments, Services, the Ingress, names and labels."""

from __future__ import annotations

import json
from typing import Any

import pytest

from finnexus_operator import constants
from finnexus_operator.core import manifests
from finnexus_operator.core.validation import parse_spec
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from tests.unit.planlib import V1, make_spec, template

OWNER = {"name": "backend", "namespace": "trading", "uid": "uid-123"}
LABELS = {"app.kubernetes.io/name": "backend", "app.kubernetes.io/managed-by": "finnexus-operator"}


def parsed(**kw: Any) -> FinNexusDeploymentSpec:
    spec = parse_spec(make_spec(V1, **kw))
    assert isinstance(spec, FinNexusDeploymentSpec), spec
    return spec


def assert_owned(obj: dict[str, Any], name: str) -> None:
    meta = obj["metadata"]
    assert meta["name"] == name and meta["namespace"] == "trading"
    assert LABELS.items() <= meta["labels"].items()
    assert meta["ownerReferences"] == [{
        "apiVersion": "finnexus.ai/v1alpha1", "kind": "FinNexusDeployment", "name": "backend",
        "uid": "uid-123", "controller": True, "blockOwnerDeletion": True}]


@pytest.mark.parametrize("color", ["blue", "green"])
def test_deployment_manifest(color: str) -> None:
    tmpl = template("app:v1")
    before = json.dumps(tmpl, sort_keys=True)
    d = manifests.deployment(OWNER, color, "abc1234567", tmpl, 3)
    assert json.dumps(tmpl, sort_keys=True) == before  # the input is not mutated
    assert d["apiVersion"] == "apps/v1" and d["kind"] == "Deployment"
    assert_owned(d, f"backend-{color}")
    assert d["metadata"]["labels"][constants.LABEL_COLOR] == color
    assert d["metadata"]["labels"][constants.LABEL_REVISION] == "abc1234567"
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "backend",
                                                     "finnexus.ai/color": color}}
    pod_labels = d["spec"]["template"]["metadata"]["labels"]
    assert pod_labels == {"app": "web", "app.kubernetes.io/name": "backend",
                          "finnexus.ai/color": color, "finnexus.ai/revision": "abc1234567"}
    assert d["spec"]["template"]["spec"] == tmpl["spec"]
    # the selector must match the pod labels, or the API server rejects the Deployment
    assert d["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_deployment_manifest_template_without_metadata() -> None:
    d = manifests.deployment(OWNER, "blue", "r", {"spec": {"containers": []}}, 1)
    assert d["spec"]["template"]["metadata"]["labels"][constants.LABEL_COLOR] == "blue"


@pytest.mark.parametrize(("builder", "name", "color"), [
    (lambda s: manifests.color_service(OWNER, "blue", s), "backend-blue", "blue"),
    (lambda s: manifests.color_service(OWNER, "green", s), "backend-green", "green"),
    (lambda s: manifests.service(OWNER, manifests.active_service_name("backend"), "green", s),
     "backend", "green"),
    (lambda s: manifests.service(OWNER, manifests.preview_service_name("backend"), "blue", s),
     "backend-preview", "blue"),
])
def test_service_manifests(builder: Any, name: str, color: str) -> None:
    svc = builder(parsed(service={"port": 8081, "targetPort": "http"}))
    assert svc["apiVersion"] == "v1" and svc["kind"] == "Service"
    assert_owned(svc, name)
    assert svc["spec"]["selector"] == {"app.kubernetes.io/name": "backend",
                                       "finnexus.ai/color": color}
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8081, "targetPort": "http",
                                     "protocol": "TCP"}]


@pytest.mark.parametrize("color", ["blue", "green"])
def test_ingress_manifest(color: str) -> None:
    ing = manifests.ingress(OWNER, color, parsed(ingress=True))
    assert ing["apiVersion"] == "networking.k8s.io/v1" and ing["kind"] == "Ingress"
    assert_owned(ing, "backend")
    (rule,) = ing["spec"]["rules"]
    assert rule["host"] == "api.example.com"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/" and path["pathType"] == "Prefix"
    assert path["backend"] == {"service": {"name": f"backend-{color}", "port": {"number": 80}}}
    assert "tls" not in ing["spec"] and "ingressClassName" not in ing["spec"]
    assert "annotations" not in ing["metadata"]


def test_ingress_manifest_optional_fields() -> None:
    raw = make_spec(V1)
    raw["ingress"] = {"host": "api.example.com", "path": "/api", "pathType": "Exact",
                      "className": "nginx", "tlsSecretName": "api-tls",
                      "annotations": {"nginx.ingress.kubernetes.io/ssl-redirect": "true"}}
    spec = parse_spec(raw)
    assert isinstance(spec, FinNexusDeploymentSpec)
    ing = manifests.ingress(OWNER, "green", spec)
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"] == [{"hosts": ["api.example.com"], "secretName": "api-tls"}]
    assert ing["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/ssl-redirect": "true"}
    path = ing["spec"]["rules"][0]["http"]["paths"][0]
    assert (path["path"], path["pathType"]) == ("/api", "Exact")


@pytest.mark.parametrize(("service_name", "color"), [
    ("backend-blue", "blue"), ("backend-green", "green"), ("backend", None),
    ("backend-preview", None), (None, None), ("other-blue", None),
])
def test_color_of_service(service_name: str | None, color: str | None) -> None:
    assert manifests.color_of_service("backend", service_name) == color


def test_names_and_labels() -> None:
    assert manifests.colored_name("backend", "green") == "backend-green"
    assert manifests.active_service_name("backend") == "backend"
    assert manifests.preview_service_name("backend") == "backend-preview"
    assert manifests.owned_labels("backend") == LABELS
    assert manifests.selector("backend", "blue") == {"app.kubernetes.io/name": "backend",
                                              "finnexus.ai/color": "blue"}
