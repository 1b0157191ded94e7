"""Table tests of core.slo: templates merged, tightened, loosened, dropped, unknown."""

from __future__ import annotations

from typing import Any

import pytest

from finnexus_operator.core import slo
from finnexus_operator.core.validation import InvalidSpec, parse_spec
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from finnexus_operator.models.template import FinNexusAnalysisTemplateSpec

ERR = 'sum(rate(http_requests_total{service="{{service}}",code=~"5.."}[1m]))'
P95 = 'histogram_quantile(0.95, sum by (le) (rate(d_bucket{service="{{service}}"}[1m])))'
CPU = 'sum(rate(cpu{service="{{service}}"}[1m]))'

TEMPLATES = {
    "standard-http-slo": FinNexusAnalysisTemplateSpec.model_validate({"metrics": [
        {"name": "error-ratio", "query": ERR, "max": 0.001},
        {"name": "latency-p95", "query": P95, "max": 0.2, "relative": {"maxIncrease": 0.2}},
        {"name": "cpu", "query": CPU, "min": 0.0, "max": 4.0, "required": False},
    ]}),
    "other": FinNexusAnalysisTemplateSpec.model_validate({"metrics": [
        {"name": "error-ratio", "query": ERR, "max": 0.01},
    ]}),
}


def spec(**analysis: Any) -> FinNexusDeploymentSpec:
    raw = {"template": {"spec": {"containers": [
        {"name": "w", "image": "a", "ports": [{"name": "http", "containerPort": 8080}]}]}},
        "analysis": analysis}
    parsed = parse_spec(raw)
    assert isinstance(parsed, FinNexusDeploymentSpec), parsed
    return parsed


def bounds(result: FinNexusDeploymentSpec | InvalidSpec) -> dict[str, tuple[Any, ...]]:
    assert isinstance(result, FinNexusDeploymentSpec), result
    assert result.analysis is not None
    return {m.name: (m.min, m.max, m.relative and slo._ratio(m.relative))
            for m in result.analysis.metrics}


OK_CASES = [
    ("template only", {"templates": ["standard-http-slo"]},
     {"error-ratio": (None, 0.001, None), "latency-p95": (None, 0.2, 1.2),
      "cpu": (0.0, 4.0, None)}),
    ("own metric appended", {"templates": ["other"],
                             "metrics": [{"name": "cpu", "query": CPU, "max": 2.0}]},
     {"error-ratio": (None, 0.01, None), "cpu": (None, 2.0, None)}),
    ("lower max, higher min, stricter relative", {"templates": ["standard-http-slo"], "metrics": [
        {"name": "error-ratio", "query": ERR, "max": 0.0005, "min": 0.0},
        {"name": "latency-p95", "query": P95, "max": 0.15, "relative": {"maxRatio": 1.1}},
        {"name": "cpu", "query": CPU, "min": 0.5, "max": 4.0}]},
     {"error-ratio": (0.0, 0.0005, None), "latency-p95": (None, 0.15, 1.1),
      "cpu": (0.5, 4.0, None)}),
    ("relative added", {"templates": ["other"], "metrics": [
        {"name": "error-ratio", "query": ERR, "max": 0.01, "relative": {"maxIncrease": 0.5}}]},
     {"error-ratio": (None, 0.01, 1.5)}),
    ("optional metric dropped", {"templates": ["standard-http-slo"], "dropMetrics": ["cpu"]},
     {"error-ratio": (None, 0.001, None), "latency-p95": (None, 0.2, 1.2)}),
    ("no templates: unchanged", {"metrics": [{"name": "cpu", "query": CPU, "max": 9.0}]},
     {"cpu": (None, 9.0, None)}),
]


@pytest.mark.parametrize(("analysis", "want"), [c[1:] for c in OK_CASES],
                         ids=[c[0] for c in OK_CASES])
def test_merge(analysis: dict[str, Any], want: dict[str, tuple[Any, ...]]) -> None:
    assert bounds(slo.merge(spec(**analysis), TEMPLATES)) == want


BAD_CASES = [
    ("unknown template", {"templates": ["nope"]},
     ["spec.analysis.templates[0]: no FinNexusAnalysisTemplate 'nope'"]),
    ("max raised", {"templates": ["standard-http-slo"], "metrics": [
        {"name": "error-ratio", "query": ERR, "max": 0.01}]},
     ["spec.analysis.metrics[0].max: 0.01 loosens 0.001 of template 'standard-http-slo'"]),
    ("max removed", {"templates": ["standard-http-slo"], "metrics": [
        {"name": "latency-p95", "query": P95, "relative": {"maxIncrease": 0.2}}]},
     ["spec.analysis.metrics[0].max: absent loosens 0.2 of template 'standard-http-slo'"]),
    ("min lowered", {"templates": ["standard-http-slo"], "metrics": [
        {"name": "cpu", "query": CPU, "min": -1.0, "max": 4.0}]},
     ["spec.analysis.metrics[0].min: -1 loosens 0 of template"]),
    ("relative loosened", {"templates": ["standard-http-slo"], "metrics": [
        {"name": "latency-p95", "query": P95, "max": 0.2, "relative": {"maxRatio": 1.5}}]},
     ["spec.analysis.metrics[0].relative: x1.5 loosens x1.2 of template 'standard-http-slo'"]),
    ("relative dropped", {"templates": ["standard-http-slo"], "metrics": [
        {"name": "latency-p95", "query": P95, "max": 0.1}]},
     ["spec.analysis.metrics[0].relative: absent loosens x1.2"]),
    ("query changed", {"templates": ["other"], "metrics": [
        {"name": "error-ratio", "query": CPU, "max": 0.001}]},
     ["spec.analysis.metrics[0].query:", "of template 'other'"]),
    ("required dropped", {"templates": ["standard-http-slo"], "dropMetrics": ["error-ratio"]},
     ["spec.analysis.dropMetrics[0]: metric 'error-ratio' is required by template "
      "'standard-http-slo'"]),
    ("drop unknown", {"templates": ["other"], "dropMetrics": ["cpu"]},
     ["spec.analysis.dropMetrics[0]: no template metric 'cpu'"]),
    ("two templates, one metric", {"templates": ["standard-http-slo", "other"]},
     ["spec.analysis.templates[1]: metric 'error-ratio' of template 'other' is also defined "
      "by template 'standard-http-slo'"]),
]


@pytest.mark.parametrize(("analysis", "needles"), [c[1:] for c in BAD_CASES],
                         ids=[c[0] for c in BAD_CASES])
def test_invalid(analysis: dict[str, Any], needles: list[str]) -> None:
    result = slo.merge(spec(**analysis), TEMPLATES)
    assert isinstance(result, InvalidSpec)
    for needle in needles:
        assert needle in result.reason


def test_analysis_needs_metrics_or_templates() -> None:
    raw = spec(templates=["other"]).model_dump(by_alias=True)
    raw["analysis"] = {"metrics": []}
    result = parse_spec(raw)
    assert isinstance(result, InvalidSpec)
    assert result.reason == ("spec.analysis: an analysis needs metrics or templates "
                             "(spec.analysis.metrics is empty)")


def test_fingerprint_tracks_bounds() -> None:
    a = slo.merge(spec(templates=["other"]), TEMPLATES)
    b = slo.merge(spec(templates=["standard-http-slo"]), TEMPLATES)
    assert isinstance(a, FinNexusDeploymentSpec) and isinstance(b, FinNexusDeploymentSpec)
    assert a.analysis and b.analysis
    assert slo.fingerprint(a.analysis.metrics) == slo.fingerprint(list(a.analysis.metrics))
    assert slo.fingerprint(a.analysis.metrics) != slo.fingerprint(b.analysis.metrics)
