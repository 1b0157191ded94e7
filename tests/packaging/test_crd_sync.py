"""The chart's CRD is the generated one: byte-identical copy, identical rendered object."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import yaml

from tests.packaging.tools import CHART, CRD_FILE, ROOT, of_kind, render

CHART_COPY = CHART / "files" / "crds" / CRD_FILE.name
HELM_LABELS = {
    "helm.sh/chart",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/component",
}


def _crd(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (crd,) = [
        o
        for o in of_kind(objs, "CustomResourceDefinition")
        if o["metadata"]["name"] == "finnexusdeployments.finnexus.ai"
    ]
    return crd


def _without_helm_metadata(crd: dict[str, Any]) -> dict[str, Any]:
    crd = copy.deepcopy(crd)
    meta = crd["metadata"]
    meta.get("annotations", {}).pop("helm.sh/resource-policy", None)
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    meta["labels"] = {k: v for k, v in meta.get("labels", {}).items() if k not in HELM_LABELS}
    return crd


def test_chart_copy_is_byte_identical_to_the_generated_crd() -> None:
    assert CHART_COPY.read_bytes() == CRD_FILE.read_bytes(), (
        "run `python scripts/sync-chart-crd.py` after `make crd`"
    )


def test_sync_script_check_mode_agrees() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync-chart-crd.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_rendered_crd_equals_the_generated_crd_apart_from_helm_metadata() -> None:
    generated = yaml.safe_load(CRD_FILE.read_text())
    rendered = _crd(render())
    assert _without_helm_metadata(rendered) == generated
    # Numbers survive helm's fromYaml/toYaml round trip as integers, not floats.
    spec = rendered["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["replicas"]["maximum"] == 1000
    assert isinstance(spec["properties"]["replicas"]["maximum"], int)


def test_crd_upgrade_story_keep_and_opt_out() -> None:
    rendered = _crd(render())
    assert rendered["metadata"]["annotations"] == {
        "helm.sh/resource-policy": "keep", "argocd.argoproj.io/sync-options": "Prune=false"}
    assert rendered["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    no_keep = _crd(render({"crds.keep": "false"}))
    assert no_keep["metadata"]["annotations"] == {
        "argocd.argoproj.io/sync-options": "Prune=false"}
    objs = render({"crds.install": "false"}, crds=True)
    names = {o["metadata"]["name"] for o in of_kind(objs, "CustomResourceDefinition")}
    assert "finnexusdeployments.finnexus.ai" not in names
    # The templated CRD must not also sit in crds/ (Helm would install it twice).
    assert not (CHART / "crds" / CRD_FILE.name).exists()


TEMPLATE_CRD = CRD_FILE.parent / "finnexusanalysistemplates.finnexus.ai.yaml"


def test_template_crd_copy_and_rendering_equal_the_generated_one() -> None:
    chart_copy = CHART / "files" / "crds" / TEMPLATE_CRD.name
    assert chart_copy.read_bytes() == TEMPLATE_CRD.read_bytes(), (
        "run `python scripts/sync-chart-crd.py` after `make crd`"
    )
    generated = yaml.safe_load(TEMPLATE_CRD.read_text())
    assert generated["spec"]["scope"] == "Cluster"
    (rendered,) = [o for o in of_kind(render(), "CustomResourceDefinition")
                   if o["metadata"]["name"] == "finnexusanalysistemplates.finnexus.ai"]
    assert _without_helm_metadata(rendered) == generated
    assert rendered["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
