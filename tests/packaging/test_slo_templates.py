"""The chart's shipped FinNexusAnalysisTemplate: valid against its CRD, parsed by the operator."""

from __future__ import annotations

from typing import Any

import yaml

from finnexus_operator.models.template import FinNexusAnalysisTemplateSpec
from tests.packaging.crdschema import cel_errors, schema_errors
from tests.packaging.tools import CRD_FILE, of_kind, render

TEMPLATE_CRD = CRD_FILE.parent / "finnexusanalysistemplates.finnexus.ai.yaml"


def _schema() -> dict[str, Any]:
    (version,) = yaml.safe_load(TEMPLATE_CRD.read_text())["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def test_standard_http_slo_is_shipped_valid_and_parsed() -> None:
    (template,) = of_kind(render(), "FinNexusAnalysisTemplate")
    assert template["metadata"]["name"] == "standard-http-slo"
    assert "namespace" not in template["metadata"]
    assert schema_errors(template, _schema()) == []
    assert cel_errors(template, _schema()) == []
    spec = FinNexusAnalysisTemplateSpec.model_validate(template["spec"])
    bounds = {m.name: (m.max, m.required) for m in spec.metrics}
    assert bounds == {"error-ratio": (0.001, True), "latency-p95": (0.2, True)}
    assert all("{{service}}" in m.query for m in spec.metrics)


def test_standard_http_slo_can_be_turned_off() -> None:
    objs = render({"sloTemplates.standardHttp.enabled": "false"})
    assert of_kind(objs, "FinNexusAnalysisTemplate") == []
