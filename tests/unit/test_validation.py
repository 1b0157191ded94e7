"""Spec validation: defaults, and messages that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from finnexus_operator.core.templating import PLACEHOLDERS
from finnexus_operator.core.validation import InvalidSpec, parse_spec
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from tests.unit.planlib import V1, make_spec


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
     "spec.analysis.metrics[0]: a metric needs min, max or relative"),
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
