"""The CRD is generated from the models: the committed file must be exactly what they generate."""

from __future__ import annotations

import yaml

from finnexus_operator.crd import CRD_PATH, build_crd, render


def test_committed_crd_is_what_the_models_generate() -> None:
    assert CRD_PATH.read_text() == render(), "stale CRD: run `make crd`"


def _walk(schema: dict[str, object], path: str = "spec") -> list[str]:
    """Fields (recursively) that lack a description."""
    missing = []
    props = schema.get("properties")
    if isinstance(props, dict):
        for key, sub in props.items():
            assert isinstance(sub, dict)
            if "description" not in sub:
                missing.append(f"{path}.{key}")
            missing += _walk(sub, f"{path}.{key}")
    items = schema.get("items")
    if isinstance(items, dict):
        missing += _walk(items, f"{path}[]")
    return missing


def test_every_spec_and_status_field_is_described_for_kubectl_explain() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _walk(schema["properties"]["spec"]) == []
    assert _walk(schema["properties"]["status"], "status") == []


def test_structural_schema_keywords_only() -> None:
    text = yaml.safe_dump(build_crd())
    for forbidden in ("$ref", "anyOf", "title:", "additionalProperties: false", "$defs"):
        assert forbidden not in text, forbidden
