"""Every example resource is valid for the API server (schema + CEL) and for the operator's
models. Example pod templates pass strict Kubernetes validation as a Deployment's template
would. (Bad resources: the corpus in tests/bad_inputs/, tested by test_bad_inputs.py.)"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from finnexus_operator.models import FinNexusDeploymentSpec
from finnexus_operator.models.spec import container_port_names
from tests.packaging.crdschema import cel_errors, crd_schema, schema_errors, to_json_schema
from tests.packaging.tools import EXAMPLES, VENV_BIN, require_tool

GOOD = sorted(EXAMPLES.glob("*.yaml"))
K8S_VERSION = "1.30.0"


def load(path: Path) -> dict[str, Any]:
    (obj,) = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return dict(obj)


def test_the_examples_are_there() -> None:
    names = {p.name for p in GOOD}
    assert {"minimal.yaml", "prometheus-gates.yaml", "manual-promotion.yaml"} <= names


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_example_is_valid_for_the_crd_and_the_model(path: Path) -> None:
    obj = load(path)
    assert obj["apiVersion"] == "finnexus.ai/v1alpha1" and obj["kind"] == "FinNexusDeployment"
    assert schema_errors(obj) == []
    assert cel_errors(obj) == []
    spec = FinNexusDeploymentSpec.model_validate(obj["spec"])
    assert "http" in container_port_names(spec.template), "containers must declare port 'http'"


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_example_pod_template_is_a_valid_kubernetes_pod_template(path: Path) -> None:
    obj = load(path)
    labels = {"app.kubernetes.io/name": obj["metadata"]["name"], "finnexus.ai/color": "blue"}
    template = json.loads(json.dumps(obj["spec"]["template"]))
    template.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{obj['metadata']['name']}-blue"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
    }
    kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_gates_example_has_the_two_standard_gates() -> None:
    spec = FinNexusDeploymentSpec.model_validate(load(EXAMPLES / "prometheus-gates.yaml")["spec"])
    assert spec.analysis is not None
    bounds = {m.name: (m.min, m.max) for m in spec.analysis.metrics}
    assert bounds == {"error-rate": (None, 0.001), "latency-p95": (None, 0.2)}
    manual = FinNexusDeploymentSpec.model_validate(load(EXAMPLES / "manual-promotion.yaml")["spec"])
    assert manual.promotion.auto is False


def test_converter_handles_kubernetes_extensions() -> None:
    spec: dict[str, Any] = {
        "metadata": {"name": "x"},
        "spec": {
            "template": {"anything": {"goes": [1]}},  # preserve-unknown-fields
            "service": {"targetPort": 8080},  # int-or-string as int
            "healthCheck": {"port": None},  # nullable int-or-string
            "ingress": None,  # nullable object
        },
    }
    assert schema_errors(spec) == []
    spec["spec"]["service"]["targetPort"] = 8.5
    spec["spec"]["unknownField"] = True
    errors = schema_errors(spec)
    assert any(e.startswith("spec.service.targetPort") for e in errors)
    assert any("unknownField" in e for e in errors)


def test_check_jsonschema_cli_agrees(tmp_path: Path) -> None:
    exe = require_tool("check-jsonschema", VENV_BIN / "check-jsonschema")
    schema = tmp_path / "finnexusdeployment.schema.json"
    schema.write_text(json.dumps(to_json_schema(crd_schema())))
    good = subprocess.run(
        [exe, "--schemafile", str(schema), *map(str, GOOD)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert good.returncode == 0, good.stdout + good.stderr
