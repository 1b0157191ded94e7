"""The bad-input corpus (``tests/bad_inputs/``, issue 8 proof 4).

Every file is a whole FinNexusDeployment manifest with a header naming where it is rejected
and which field is to blame::

    # rejected-by: schema | cel | api | operator
    # field: spec.replicas
    # why: ...

- ``schema``: the CRD's structural schema (types, bounds, patterns, required, unknown fields,
  list-map keys), evaluated offline with :mod:`tests.packaging.crdschema`;
- ``cel``: the CRD's ``x-kubernetes-validations`` rules (cel-python), the schema passing;
- ``api``: the API server has no such resource (apiVersion/kind not served by the CRD);
- ``operator``: passes the CRD, and the operator's own validation (``parse_spec``) ends it
  ``Invalid``.

Whatever the layer, the error must name the field; and every case that reaches the operator at
all (not ``api``) is also rejected by ``parse_spec`` naming the field (defence in depth: the
emulated API of the contract tests, a non-strict client or an older CRD skips the schema), and
plan() on it decides no action (an invalid spec touches nothing).
``tests/contract/test_bad_inputs_operator.py`` applies the ``operator`` cases to the running
operator.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from finnexus_operator.core.observed import Observed
from finnexus_operator.core.plan import plan
from finnexus_operator.core.validation import InvalidSpec, derived_service_names, parse_spec
from finnexus_operator.models.spec import MAX_NAME_LENGTH, MAX_REPLICAS, FinNexusDeploymentSpec
from finnexus_operator.models.status import FinNexusDeploymentStatus
from tests.packaging.badinputs import (
    LAYERS,
    Case,
    all_cases,
    names_field,
    reason_names_field,
)
from tests.packaging.crdschema import cel_errors, crd_schema, schema_errors, to_json_schema
from tests.packaging.tools import CRD_FILE, VENV_BIN, require_tool

_LIST_MAP = "duplicate entries for map keys"
_NOW = datetime(2026, 1, 1, tzinfo=UTC)


CASES = all_cases()


def ids(case: Case) -> str:
    return case.path.stem


def crd_errors(obj: dict[str, Any]) -> dict[str, list[str]]:
    """What the API server would answer, by layer (the list-map uniqueness is the schema's)."""
    cel = cel_errors(obj)
    return {"schema": schema_errors(obj) + [e for e in cel if _LIST_MAP in e],
            "cel": [e for e in cel if _LIST_MAP not in e]}


@cache
def _served() -> tuple[frozenset[str], str]:
    crd = yaml.safe_load(CRD_FILE.read_text())["spec"]
    versions = frozenset(f"{crd['group']}/{v['name']}" for v in crd["versions"] if v["served"])
    return versions, crd["names"]["kind"]


def api_errors(obj: dict[str, Any]) -> list[str]:
    """The API server routes by apiVersion and kind: anything else has no resource to go to."""
    versions, kind = _served()
    errors = []
    if obj.get("apiVersion") not in versions:
        errors.append(f"apiVersion: no matches for kind {obj.get('kind')!r} in version "
                      f"{obj.get('apiVersion')!r} (served: {', '.join(sorted(versions))})")
    if obj.get("kind") != kind:
        errors.append(f"kind: no matches for kind {obj.get('kind')!r} (the CRD serves {kind!r})")
    return errors


def operator_verdict(case: Case) -> InvalidSpec | FinNexusDeploymentSpec:
    return parse_spec(case.obj.get("spec"), name=case.name)


# -- the corpus itself -----------------------------------------------------------------------------
def test_the_corpus_covers_every_layer() -> None:
    counts = Counter(c.layer for c in CASES)
    print(f"\nbad inputs: {len(CASES)} cases, rejected by: "
          + ", ".join(f"{layer} {counts[layer]}" for layer in LAYERS))
    assert len(CASES) >= 71
    assert set(counts) == set(LAYERS), counts
    assert all(c.field and c.why for c in CASES), [ids(c) for c in CASES if not c.why]
    assert counts["operator"] >= 8  # the contract test applies these to the running operator


def test_the_breach_watch_and_relative_bounds_have_their_bad_inputs() -> None:
    """Issue 11 items 3-4: every new field has cases, at the layer that rejects it."""
    fields = Counter((c.field, c.layer) for c in CASES)
    assert fields["spec.analysis.breachCheckSeconds", "schema"] >= 3
    assert fields["spec.analysis.metrics[0].relative", "cel"] >= 2  # both / neither bound
    assert fields["spec.analysis.metrics[0].relative.maxIncrease", "schema"] >= 1
    assert fields["spec.analysis.metrics[0].relative.maxRatio", "schema"] >= 1


def test_cases_are_whole_manifests_with_distinct_names() -> None:
    names = [c.name for c in CASES]
    assert len(set(names)) == len(names), Counter(names).most_common(3)
    for case in CASES:
        assert {"apiVersion", "kind", "metadata"} <= set(case.obj), ids(case)
        if case.field != "metadata.name":
            assert len(case.name) <= MAX_NAME_LENGTH, ids(case)


def test_the_bounds_that_need_a_decision() -> None:
    """Decided: replicas at most 1000; timeoutSeconds may exceed intervalSeconds (as in a
    Kubernetes probe, a round then lasts up to the timeout); a name at most 55 characters."""
    assert MAX_REPLICAS == 1000
    schema = crd_schema()["properties"]["spec"]["properties"]
    assert schema["replicas"]["maximum"] == MAX_REPLICAS
    template = {"spec": {"containers": [
        {"name": "a", "image": "b", "ports": [{"name": "http", "containerPort": 8080}]}]}}
    slow = parse_spec({"template": template, "replicas": MAX_REPLICAS,
                       "healthCheck": {"intervalSeconds": 1, "timeoutSeconds": 10}})
    assert isinstance(slow, FinNexusDeploymentSpec), slow
    longest = "a" * MAX_NAME_LENGTH
    assert max(len(n) for n in derived_service_names(longest)) == 63
    assert isinstance(parse_spec({"template": template}, name=longest), FinNexusDeploymentSpec)
    ok = {"apiVersion": "finnexus.ai/v1alpha1", "kind": "FinNexusDeployment",
          "metadata": {"name": longest}, "spec": {"template": template}}
    assert cel_errors(ok) == [] and schema_errors(ok) == []


# -- each case ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_case_is_rejected_where_its_header_says_naming_the_field(case: Case) -> None:
    assert case.layer in LAYERS, f"{ids(case)}: unknown layer {case.layer!r}"
    crd = crd_errors(case.obj)
    api = api_errors(case.obj)
    if case.layer == "api":
        assert api and any(names_field(e, case.field) for e in api), api
        # Only the routing is wrong: the same object under the served apiVersion/kind is fine.
        versions, kind = _served()
        fixed = {**case.obj, "apiVersion": sorted(versions)[0], "kind": kind}
        assert crd_errors(fixed) == {"schema": [], "cel": []}
        assert isinstance(operator_verdict(case), FinNexusDeploymentSpec)
        return
    assert api == [], api
    if case.layer == "schema":
        assert any(names_field(e, case.field) for e in crd["schema"]), crd
    elif case.layer == "cel":
        assert crd["schema"] == [], f"{ids(case)} is rejected by the schema already: {crd}"
        assert any(names_field(e, case.field) for e in crd["cel"]), crd
    else:
        assert crd == {"schema": [], "cel": []}, f"{ids(case)} does not pass the CRD: {crd}"
    verdict = operator_verdict(case)
    assert isinstance(verdict, InvalidSpec), f"{ids(case)}: the operator accepts it"
    assert reason_names_field(verdict.reason, case.field), verdict.reason
    assert "\n" not in verdict.reason


@pytest.mark.parametrize("case", [c for c in CASES if c.layer != "api"], ids=ids)
def test_plan_on_a_bad_input_decides_no_action(case: Case) -> None:
    """Invalid touches nothing: no ensure, route or scale action, one Warning Event."""
    decided = plan(operator_verdict(case), FinNexusDeploymentStatus(),
                   Observed(namespace="default", name=case.name), _NOW)
    assert decided.actions == ()
    assert decided.status.phase is not None and decided.status.phase.value == "Invalid"
    assert [e.reason for e in decided.events] == ["InvalidSpec"]


def test_check_jsonschema_cli_rejects_every_schema_case(tmp_path: Path) -> None:
    """The real validator CLI agrees on every schema case (list-map uniqueness is not JSON
    Schema: the API server checks it, and crdschema evaluates it)."""
    exe = require_tool("check-jsonschema", VENV_BIN / "check-jsonschema")
    schema = tmp_path / "finnexusdeployment.schema.json"
    schema.write_text(json.dumps(to_json_schema(crd_schema())))
    cases = [c for c in CASES if c.layer == "schema"]
    run = subprocess.run([exe, "--schemafile", str(schema), "-o", "json",
                          *(str(c.path) for c in cases)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    failed = {Path(e["filename"]).stem for e in json.loads(run.stdout)["errors"]}
    listmap = {ids(c) for c in cases if any(_LIST_MAP in e for e in cel_errors(c.obj))}
    assert listmap == {"metric-duplicate-names"}
    assert failed == {ids(c) for c in cases} - listmap


# -- no input crashes the validation -------------------------------------------------------------
_WEIRD: tuple[Any, ...] = (None, "", "x", 0, -1, 1.5, 10**12, True, [], [1], {}, {"a": 1})


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [path] + [p for k, v in node.items() for p in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [path] + [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))]
    return [path]


def _replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    copy: Any = dict(node) if isinstance(node, dict) else list(node)
    copy[head] = _replaced(node[head], tuple(rest), value)
    return copy


FULL_SPEC: dict[str, Any] = {
    "replicas": 2,
    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
        {"name": "web", "image": "app:good",
         "ports": [{"name": "http", "containerPort": 8080}]}]}},
    "service": {"port": 80, "targetPort": "http"},
    "ingress": {"host": "web.example.com", "path": "/", "pathType": "Prefix",
                "className": "nginx", "tlsSecretName": "web-tls", "annotations": {"a": "b"}},
    "healthCheck": {"path": "/health", "port": "http", "intervalSeconds": 5, "timeoutSeconds": 2,
                    "successThreshold": 3, "failureThreshold": 3},
    "analysis": {"intervalSeconds": 30, "checks": 10, "failureLimit": 0, "noDataLimit": 3,
                 "errorLimit": 3, "metrics": [
                     {"name": "error-rate", "query": 'x{service="{{service}}"}', "max": 0.001},
                     {"name": "latency", "query": "y", "min": 0, "max": 0.2}]},
    "promotion": {"auto": True, "scaleDownDelaySeconds": 30},
    "progressDeadlineSeconds": 600,
    "paused": False,
}


def test_no_value_anywhere_in_a_spec_crashes_the_validation_or_the_plan() -> None:
    """Every node of a full spec replaced by values of every JSON type: parse_spec never raises,
    and plan() on the result never raises."""
    assert isinstance(parse_spec(FULL_SPEC, name="web"), FinNexusDeploymentSpec)
    tried = invalid = 0
    for path, value in itertools.product(_leaves(FULL_SPEC), _WEIRD):
        raw = _replaced(FULL_SPEC, path, value)
        verdict = parse_spec(raw, name="web")
        if isinstance(verdict, InvalidSpec):
            invalid += 1
            assert verdict.reason.startswith(("spec", "metadata")), verdict.reason
        plan(verdict, FinNexusDeploymentStatus(), Observed(namespace="d", name="web"), _NOW)
        tried += 1
    print(f"\ntype confusion: {tried} mutated specs, {invalid} Invalid, none raised")
    assert invalid > tried // 2


def test_parse_spec_checks_the_name_only_when_given() -> None:
    raw = dict(FULL_SPEC)
    assert isinstance(parse_spec(raw), FinNexusDeploymentSpec)  # existing callers: unchanged
    assert isinstance(parse_spec(raw, name="x" * 60), InvalidSpec)
    both = parse_spec(None, name="Web.v2")
    assert isinstance(both, InvalidSpec)
    assert both.reason.startswith("metadata.name: 'Web.v2' is not a DNS-1035 label")
    assert both.reason.endswith("; spec: missing")
