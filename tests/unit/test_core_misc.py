"""Templating, revisions, validation messages and manifest builders of the pure core."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finnexus_operator import constants
from finnexus_operator.core import manifests
from finnexus_operator.core.revision import revision_of
from finnexus_operator.core.templating import (
    PLACEHOLDERS,
    escape_label_value,
    render,
    unknown_placeholders,
)
from finnexus_operator.core.validation import InvalidSpec, parse_spec
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from tests.unit.planlib import V1, make_spec, template

VALUES = {"namespace": "trading", "name": "backend", "color": "green", "revision": "7f0e2c4d9a",
          "service": "backend-green", "stableColor": "blue", "stableService": "backend-blue"}


# -- templating ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("query", "rendered"), [
    ('up{service="{{service}}"}', 'up{service="backend-green"}'),
    ('x{ns="{{namespace}}",n="{{name}}",c="{{color}}",r="{{revision}}"}',
     'x{ns="trading",n="backend",c="green",r="7f0e2c4d9a"}'),
    ('a{s="{{stableService}}",c="{{stableColor}}"}', 'a{s="backend-blue",c="blue"}'),
    ('up{service="{{ service }}"}', 'up{service="backend-green"}'),
    ("{{service}}{{service}}", "backend-greenbackend-green"),
    ("no placeholders", "no placeholders"),
    ("{service} {{{color}}}", "{service} {green}"),
])
def test_render(query: str, rendered: str) -> None:
    assert render(query, VALUES) == rendered


@pytest.mark.parametrize(("value", "escaped"), [
    ('a"b', 'a\\"b'),
    ("a\\b", "a\\\\b"),
    ("a\nb", "a\\nb"),
    ('\\"', '\\\\\\"'),
    ("plain-name", "plain-name"),
])
def test_escape_label_value(value: str, escaped: str) -> None:
    assert escape_label_value(value) == escaped
    assert render('x{a="{{name}}"}', {**VALUES, "name": value}) == f'x{{a="{escaped}"}}'


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_escaped_value_cannot_break_out_of_its_quotes(value: str) -> None:
    out = render('x{a="{{name}}"}', {**VALUES, "name": value})
    inner = out[len('x{a="'):-len('"}')]
    # decode the PromQL string escapes back: the value round-trips and no quote is unescaped
    i, decoded = 0, []
    while i < len(inner):
        ch = inner[i]
        assert ch != '"', f"unescaped quote in {out!r}"
        assert ch != "\n"
        if ch == "\\":
            nxt = inner[i + 1]
            decoded.append({"\\": "\\", '"': '"', "n": "\n"}[nxt])
            i += 2
        else:
            decoded.append(ch)
            i += 1
    assert "".join(decoded) == value


@pytest.mark.parametrize(("query", "unknown"), [
    ("{{service}}", []),
    ("{{pod}}", ["pod"]),
    ("{{pod}} {{pod}} {{node}} {{service}}", ["pod", "node"]),
    ("{{}}", [""]),
    ("{{Service}}", ["Service"]),
    ("{{ stableColor }}", []),
])
def test_unknown_placeholders(query: str, unknown: list[str]) -> None:
    assert unknown_placeholders(query) == unknown


def test_render_with_missing_value_raises_key_error() -> None:
    with pytest.raises(KeyError):
        render("{{pod}}", VALUES)


def test_placeholders_are_exactly_the_design_set() -> None:
    assert set(PLACEHOLDERS) == set(VALUES)


# -- revision -----------------------------------------------------------------------------------
def test_revision_is_first_ten_hex_of_sha256_over_canonical_json() -> None:
    t = {"spec": {"containers": [{"name": "a", "image": "x"}]}, "metadata": {"labels": {"b": "1"}}}
    canonical = json.dumps(t, sort_keys=True, separators=(",", ":"))
    assert canonical == ('{"metadata":{"labels":{"b":"1"}},"spec":{"containers":'
                         '[{"image":"x","name":"a"}]}}')
    assert revision_of(t) == hashlib.sha256(canonical.encode()).hexdigest()[:10]


def test_revision_known_value() -> None:
    assert revision_of({}) == hashlib.sha256(b"{}").hexdigest()[:10] == "44136fa355"


def test_revision_ignores_key_order_but_not_values() -> None:
    a = {"x": 1, "y": {"b": 2, "a": [1, 2]}}
    b = {"y": {"a": [1, 2], "b": 2}, "x": 1}
    assert revision_of(a) == revision_of(b)
    assert revision_of(a) != revision_of({"x": 1, "y": {"b": 2, "a": [2, 1]}})
    assert revision_of(template("app:v1")) != revision_of(template("app:v2"))


def test_revision_of_non_ascii_is_utf8_json() -> None:
    t = {"metadata": {"annotations": {"note": "café"}}}
    canonical = json.dumps(t, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert revision_of(t) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:10]


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda kids: st.lists(kids, max_size=3)
                    | st.dictionaries(st.text(max_size=5), kids, max_size=3), max_leaves=10))
@settings(max_examples=100, deadline=None)
def test_revision_shape(value: Any) -> None:
    rev = revision_of({"v": value})
    assert len(rev) == 10 and all(ch in "0123456789abcdef" for ch in rev)


# -- validation ---------------------------------------------------------------------------------
def test_valid_spec_gets_defaults() -> None:
    spec = parse_spec({"template": V1})
    assert isinstance(spec, FinNexusDeploymentSpec)
    assert spec.replicas == 1 and spec.service.port == 80 and spec.service.target_port == "http"
    assert spec.health_check.path == "/health" and spec.health_check.interval_seconds == 5
    assert spec.health_check.success_threshold == 3 and spec.health_check.failure_threshold == 3
    assert spec.promotion.auto is True and spec.promotion.scale_down_delay_seconds == 30
    assert spec.progress_deadline_seconds == 600 and spec.paused is False
    assert spec.analysis is None and spec.ingress is None
    assert spec.health_port == "http"


def test_analysis_and_ingress_defaults() -> None:
    spec = parse_spec({"template": V1, "ingress": {"host": "h"}, "analysis": {
        "metrics": [{"name": "e", "query": "q", "max": 1}]}})
    assert isinstance(spec, FinNexusDeploymentSpec)
    assert spec.analysis is not None and spec.ingress is not None
    a = spec.analysis
    assert (a.interval_seconds, a.checks, a.failure_limit, a.no_data_limit, a.error_limit) == (
        30, 10, 0, 3, 3)
    assert (spec.ingress.path, spec.ingress.path_type) == ("/", "Prefix")


@pytest.mark.parametrize(("raw", "field"), [
    (None, "spec: missing"),
    ("not a mapping", "spec: missing"),
    ({}, "spec.template"),
    ({"template": V1, "replicas": 0}, "spec.replicas"),
    ({"template": V1, "replicas": "three"}, "spec.replicas"),
    ({"template": {"metadata": {}}}, "spec.template"),
    ({"template": {"spec": {"containers": [{"name": "a"}]}}}, "containers[0] needs"),
    ({"template": V1, "service": {"port": 0}}, "spec.service.port"),
    ({"template": V1, "service": {"targetPort": 70000}}, "spec.service.targetPort"),
    ({"template": V1, "service": {"targetPort": "Bad_Name"}}, "spec.service.targetPort"),
    ({"template": V1, "service": {"targetPort": "web"}}, "service.targetPort 'web' is not"),
    ({"template": V1, "healthCheck": {"port": "admin"}}, "healthCheck.port 'admin' is not"),
    ({"template": V1, "healthCheck": {"path": "health"}}, "spec.healthCheck.path"),
    ({"template": V1, "healthCheck": {"failureThreshold": 0}},
     "spec.healthCheck.failureThreshold"),
    ({"template": V1, "ingress": {}}, "spec.ingress.host"),
    ({"template": V1, "analysis": {"metrics": []}}, "spec.analysis.metrics"),
    ({"template": V1, "analysis": {"checks": 0, "metrics": [
        {"name": "e", "query": "q", "max": 1}]}}, "spec.analysis.checks"),
    ({"template": V1, "analysis": {"metrics": [{"name": "e", "query": "q"}]}},
     "spec.analysis.metrics[0]: a metric needs min or max"),
    ({"template": V1, "analysis": {"metrics": [{"name": "e", "query": "q", "min": 2, "max": 1}]}},
     "spec.analysis.metrics[0]: min 2.0 is greater than max 1.0"),
    ({"template": V1, "analysis": {"metrics": [{"name": "e", "query": "q", "max": 1},
                                               {"name": "e", "query": "r", "max": 1}]}},
     "spec.analysis.metrics: metric names must be unique; repeated: e"),
    ({"template": V1, "analysis": {"metrics": [{"name": "E!", "query": "q", "max": 1}]}},
     "spec.analysis.metrics[0].name"),
    ({"template": V1, "analysis": {"metrics": [
        {"name": "ok", "query": "q", "max": 1},
        {"name": "e", "query": 'x{p="{{pod}}"}', "max": 1}]}},
     "spec.analysis.metrics[1].query: unknown placeholder {{pod}}"),
    ({"template": V1, "prometheusUrl": "http://evil"}, "spec.prometheusUrl"),
    ({"template": V1, "promotion": {"scaleDownDelaySeconds": -1}},
     "spec.promotion.scaleDownDelaySeconds"),
])
def test_validation_message_names_the_field(raw: Any, field: str) -> None:
    invalid = parse_spec(raw)
    assert isinstance(invalid, InvalidSpec), invalid
    message = invalid.reason
    assert field in message
    assert "\n" not in message


def test_unknown_placeholder_message_lists_the_known_ones() -> None:
    invalid = parse_spec(make_spec(analysis_spec={"metrics": [
        {"name": "e", "query": "{{pod}} {{node}}", "max": 1}]}))
    assert isinstance(invalid, InvalidSpec)
    message = invalid.reason
    assert "{{pod}}, {{node}}" in message
    for p in PLACEHOLDERS:
        assert "{{" + p + "}}" in message


def test_every_problem_is_reported() -> None:
    invalid = parse_spec({"template": V1, "replicas": 0, "progressDeadlineSeconds": 0})
    assert isinstance(invalid, InvalidSpec)
    message = invalid.reason
    assert "spec.replicas" in message and "spec.progressDeadlineSeconds" in message


# -- manifests ----------------------------------------------------------------------------------
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
