"""Validate custom resources offline the way the API server would: structural schema + CEL.

``to_json_schema`` translates a CRD's ``openAPIV3Schema`` into JSON Schema (``nullable``,
``x-kubernetes-int-or-string``, ``x-kubernetes-preserve-unknown-fields``, unknown fields
rejected like ``kubectl``'s strict field validation); ``cel_errors`` evaluates every
``x-kubernetes-validations`` rule with cel-python at the node it is attached to.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import celpy
import celpy.adapter
import jsonschema
import yaml

from tests.packaging.tools import CRD_FILE

_K8S_ONLY = {
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "nullable",
}


def to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in node.items() if k not in _K8S_ONLY and k not in {"properties", "items"}}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in node:
        out["properties"] = {k: to_json_schema(v) for k, v in node["properties"].items()}
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            out.setdefault("additionalProperties", False)
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(node["additionalProperties"])
    if "items" in node:
        out["items"] = to_json_schema(node["items"])
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        elif "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    return out


@cache
def crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_FILE.read_text())
    (version,) = crd["spec"]["versions"]
    return dict(version["schema"]["openAPIV3Schema"])


def schema_errors(obj: dict[str, Any], schema: dict[str, Any] | None = None) -> list[str]:
    schema = crd_schema() if schema is None else schema
    validator = jsonschema.Draft202012Validator(to_json_schema(schema))
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(obj)
    ]


def _to_cel_value(schema: dict[str, Any], value: Any) -> Any:
    """Kubernetes types values by their schema: `type: number` is a CEL double."""
    if schema.get("type") == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: _to_cel_value(props.get(k, {}), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cel_value(schema.get("items", {}), v) for v in value]
    return value


def cel_errors(obj: Any, schema: dict[str, Any] | None = None, path: str = "") -> list[str]:
    schema = crd_schema() if schema is None else schema
    errors: list[str] = []
    if obj is None:
        return errors
    env = celpy.Environment()
    for rule in schema.get("x-kubernetes-validations", []):
        program = env.program(env.compile(rule["rule"]))
        ok = program.evaluate({"self": celpy.adapter.json_to_cel(_to_cel_value(schema, obj))})
        if not bool(ok):
            errors.append(f"{path or '<root>'}: {rule['message']}")
    if isinstance(obj, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in obj:
                errors += cel_errors(obj[key], sub, f"{path}.{key}" if path else key)
    if isinstance(obj, list) and "items" in schema:
        keys = schema.get("x-kubernetes-list-map-keys")
        if schema.get("x-kubernetes-list-type") == "map" and keys:
            seen = [tuple(i.get(k) for k in keys) for i in obj if isinstance(i, dict)]
            if len(seen) != len(set(seen)):
                errors.append(f"{path}: duplicate entries for map keys {keys}")
        for i, item in enumerate(obj):
            errors += cel_errors(item, schema["items"], f"{path}[{i}]")
    return errors
