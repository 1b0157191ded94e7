"""The chart's shipped FinNexusAnalysisTemplate: valid against its CRD, parsed by the operator."""

from __future__ import annotations

from typing import Any

import yaml

from finnexus_operator.core import slo
from finnexus_operator.core.validation import InvalidSpec, parse_spec
from finnexus_operator.models import FinNexusDeploymentSpec
from finnexus_operator.models.template import FinNexusAnalysisTemplateSpec
from tests.packaging.crdschema import cel_errors, schema_errors
from tests.packaging.tools import CRD_FILE, EXAMPLES, of_kind, render

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


def test_shared_template_example_merges_with_the_shipped_template() -> None:
    (template,) = of_kind(render(), "FinNexusAnalysisTemplate")
    shipped = FinNexusAnalysisTemplateSpec.model_validate(template["spec"])
    example = yaml.safe_load((EXAMPLES / "shared-slo-template.yaml").read_text())
    spec = parse_spec(example["spec"], example["metadata"]["name"])
    assert isinstance(spec, FinNexusDeploymentSpec), spec
    merged = slo.merge(spec, {"standard-http-slo": shipped})
    assert not isinstance(merged, InvalidSpec), merged.reason
    assert merged.analysis is not None
    bounds = {m.name: (m.max, m.relative is not None) for m in merged.analysis.metrics}
    assert bounds == {"error-ratio": (0.001, False), "latency-p95": (0.15, True),
                      "saturation": (0.9, False)}


def test_standard_http_slo_is_applied_after_its_crd() -> None:
    """A hook: Helm maps a kind before it installs anything, so on a first install the
    template must come after the release that creates its CRD."""
    (template,) = of_kind(render(), "FinNexusAnalysisTemplate")
    annotations = template["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
