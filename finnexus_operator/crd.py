"""Generate the FinNexusDeployment CRD from the pydantic models (the single source of truth).

``python -m finnexus_operator.crd --write`` rewrites ``crds/finnexusdeployments.finnexus.ai.yaml``
and ``crds/finnexusanalysistemplates.finnexus.ai.yaml`` (the cluster-scoped shared SLO
templates); ``--check`` exits 1 when a committed file differs from what the models generate
(run by ``make test``), so the CRDs and the models cannot drift.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from finnexus_operator import constants
from finnexus_operator.models.spec import (
    DNS_LABEL_MAX,
    MAX_NAME_LENGTH,
    RESOURCE_NAME,
    FinNexusDeploymentSpec,
)
from finnexus_operator.models.status import FinNexusDeploymentStatus
from finnexus_operator.models.template import FinNexusAnalysisTemplateSpec

__all__ = ["CRD_PATH", "TEMPLATE_CRD_PATH", "build_crd", "build_template_crd", "render",
           "render_template", "structural"]

ARGOCD_SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
CRD_PATH = Path(__file__).resolve().parent.parent / "crds" / f"{constants.CRD_NAME}.yaml"
TEMPLATE_CRD_PATH = CRD_PATH.parent / f"{constants.TEMPLATE_CRD_NAME}.yaml"
_DROP = {"title", "additionalProperties"}


def structural(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Turn a pydantic JSON schema into a Kubernetes structural schema.

    Inlines ``$ref``, folds ``anyOf [X, null]`` into ``X`` + ``nullable``, int-or-string unions
    into ``x-kubernetes-int-or-string``, and drops keywords structural schemas do not allow.
    """
    defs = schema.get("$defs", {}) if defs is None else defs
    if "$ref" in schema:
        target = copy.deepcopy(defs[schema["$ref"].rsplit("/", 1)[-1]])
        extra = {k: v for k, v in schema.items() if k != "$ref"}
        return structural({**target, **extra}, defs)
    if "anyOf" in schema:
        branches = _flatten(schema["anyOf"])
        nullable = any(b.get("type") == "null" for b in branches)
        branches = [b for b in branches if b.get("type") != "null"]
        rest = {k: v for k, v in schema.items() if k not in _DROP and k != "anyOf"}
        if {b.get("type") for b in branches} == {"integer", "string"}:
            out: dict[str, Any] = {"x-kubernetes-int-or-string": True}
        else:
            (only,) = branches
            out = structural(only, defs)
        out.update(rest)
        if nullable:
            out["nullable"] = True
            if "default" in out and out["default"] is None:
                del out["default"]
        return out
    out = {k: v for k, v in schema.items() if k not in _DROP and k != "$defs"}
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out = {k: v for k, v in out.items() if k not in {"properties", "items"}}
        out["type"] = "object"
        return out
    if "properties" in out:
        out["properties"] = {k: structural(v, defs) for k, v in out["properties"].items()}
    elif out.get("type") == "object" and isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = structural(schema["additionalProperties"], defs)
    if "items" in out:
        out["items"] = structural(out["items"], defs)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def _flatten(branches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for b in branches:
        flat.extend(_flatten(b["anyOf"]) if "anyOf" in b else [b])
    return flat


def _spec_schema() -> dict[str, Any]:
    schema = structural(FinNexusDeploymentSpec.model_json_schema(by_alias=True))
    # Nested objects with all-default fields: default {} so the API server fills them in.
    for key in ("service", "healthCheck", "promotion"):
        schema["properties"][key]["default"] = {}
    return schema


def _status_schema() -> dict[str, Any]:
    schema = structural(FinNexusDeploymentStatus.model_json_schema(by_alias=True))
    schema["description"] = "Observed state, written by the operator through /status."
    schema.pop("required", None)
    return schema


def _name_rules() -> list[dict[str, str]]:
    """Root CEL rules on ``metadata.name``: it names Services (DNS-1035 labels, <= 63 chars)."""
    return [
        {"rule": f"self.metadata.name.matches('{RESOURCE_NAME}')",
         "message": "metadata.name must be a DNS-1035 label (lowercase letters, digits and "
                    "'-', starting with a letter): it names the Services <name>, "
                    "<name>-blue, <name>-green and <name>-preview"},
        {"rule": f"size(self.metadata.name) <= {MAX_NAME_LENGTH}",
         "message": f"metadata.name must be at most {MAX_NAME_LENGTH} characters: the Service "
                    f"<name>-preview must fit in {DNS_LABEL_MAX}"},
    ]


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition manifest."""
    columns = [
        ("Phase", ".status.phase", "Where the rollout stands."),
        ("Active", ".status.activeColor", "Colour with production traffic."),
        ("Stable", ".status.stableRevision", "Last promoted revision."),
        ("Candidate", ".status.candidateRevision", "Revision being rolled out."),
    ]
    printer = [
        {"name": n, "type": "string", "jsonPath": p, "description": d} for n, p, d in columns
    ]
    printer.append({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": constants.CRD_NAME,
            "labels": {"app.kubernetes.io/name": "finnexus-operator"},
            # Argo CD must never prune the CRD: that deletes every FinNexusDeployment and,
            # through ownerReferences, every app's Deployments (docs/argocd.md).
            "annotations": {ARGOCD_SYNC_OPTIONS: "Prune=false"},
        },
        "spec": {
            "group": constants.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": constants.KIND,
                "listKind": f"{constants.KIND}List",
                "plural": constants.PLURAL,
                "singular": constants.SINGULAR,
                "shortNames": list(constants.SHORT_NAMES),
                "categories": ["all", "finnexus"],
            },
            "versions": [{
                "name": constants.VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": printer,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": "A stateless HTTP service released blue-green by the "
                    "FinNexus operator: health-checked, switched at the Ingress, gated on "
                    "Prometheus, rolled back automatically.",
                    "required": ["spec"],
                    "x-kubernetes-validations": _name_rules(),
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": _spec_schema(),
                        "status": _status_schema(),
                    },
                }},
            }],
        },
    }


def build_template_crd() -> dict[str, Any]:
    """The cluster-scoped FinNexusAnalysisTemplate CRD manifest (no status: nothing writes one)."""
    spec = structural(FinNexusAnalysisTemplateSpec.model_json_schema(by_alias=True))
    printer = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": constants.TEMPLATE_CRD_NAME,
            "labels": {"app.kubernetes.io/name": "finnexus-operator"},
            "annotations": {ARGOCD_SYNC_OPTIONS: "Prune=false"},
        },
        "spec": {
            "group": constants.GROUP,
            "scope": "Cluster",
            "names": {
                "kind": constants.TEMPLATE_KIND,
                "listKind": f"{constants.TEMPLATE_KIND}List",
                "plural": constants.TEMPLATE_PLURAL,
                "singular": constants.TEMPLATE_SINGULAR,
                "shortNames": list(constants.TEMPLATE_SHORT_NAMES),
                "categories": ["finnexus"],
            },
            "versions": [{
                "name": constants.VERSION,
                "served": True,
                "storage": True,
                "additionalPrinterColumns": printer,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": "Shared SLO gates (Prometheus metrics with bounds) that "
                    "FinNexusDeployments merge into their analysis (spec.analysis.templates).",
                    "required": ["spec"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": spec,
                    },
                }},
            }],
        },
    }


_HEAD = ("# Generated by `python -m finnexus_operator.crd --write` from the models.\n"
         "# Do not edit by hand: `make test` fails when this file and the models differ.\n")


def render() -> str:
    """The CRD as the YAML text committed under crds/."""
    return _HEAD + yaml.safe_dump(build_crd(), sort_keys=False, width=100)


def render_template() -> str:
    """The FinNexusAnalysisTemplate CRD as the YAML text committed under crds/."""
    return _HEAD + yaml.safe_dump(build_template_crd(), sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the committed CRD")
    mode.add_argument("--check", action="store_true", help="fail when it is stale")
    mode.add_argument("--print", action="store_true", help="print it to stdout")
    args = parser.parse_args(argv)
    files = [(CRD_PATH, render()), (TEMPLATE_CRD_PATH, render_template())]
    stale = 0
    for path, text in files:
        if args.print:
            sys.stdout.write(text if path == CRD_PATH else "---\n" + text)
        elif args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            print(f"{path} is stale: run `make crd` (python -m finnexus_operator.crd --write)",
                  file=sys.stderr)
            stale = 1
    return stale


if __name__ == "__main__":
    raise SystemExit(main())
