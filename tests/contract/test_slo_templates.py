"""Shared SLO templates with the real operator: merged gates, a missing template, an edit
mid-rollout (kept until the next rollout), and the release record of item 5.

The real operator (kopf, real HTTP, in a thread) against the emulated API, a real Prometheus
answering ``vector(<value>)`` queries (the measured value is in the query itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from finnexus_kit.apiserver import ApiServer
from finnexus_kit.kubeapi.resources import path_for
from finnexus_operator.settings import Settings
from tests.contract.cluster import Cluster, resource, running_cluster, template
from tests.helpers import wait_until

TEMPLATES = path_for("finnexus.ai/v1alpha1", "finnexusanalysistemplates", None)
ERRORS = "vector(0.0005)"  # the candidate's error ratio, as Prometheus answers it


def slo_template(name: str, max_errors: float) -> dict[str, Any]:
    return {"apiVersion": "finnexus.ai/v1alpha1", "kind": "FinNexusAnalysisTemplate",
            "metadata": {"name": name},
            "spec": {"metrics": [
                {"name": "error-ratio", "query": ERRORS, "max": max_errors},
                {"name": "latency-p95", "query": "vector(0.1)", "max": 0.2}]}}


def gated(name: str = "shop", **analysis: Any) -> dict[str, Any]:
    return resource(name, analysis={"intervalSeconds": 1, "checks": 3, "failureLimit": 0,
                                    **analysis})


@pytest.fixture()
def slo(apiserver: ApiServer, kubeconfig: str, prometheus_url: str) -> Iterator[Cluster]:
    settings = Settings(metrics_port=0, health_port=0, prometheus_url=prometheus_url)
    with running_cluster(apiserver, kubeconfig, settings=settings) as rig:
        yield rig


def test_missing_template_is_invalid_and_its_creation_wakes_the_resource(slo: Cluster) -> None:
    slo.create(gated("shop", templates=["standard-http-slo"]))
    st = slo.wait_phase("Invalid", "shop")
    assert "spec.analysis.templates[0]: no FinNexusAnalysisTemplate 'standard-http-slo'" in (
        st["message"])
    passes = slo.passes("shop")
    slo.api.create(TEMPLATES, slo_template("standard-http-slo", 0.001))
    slo.wait_phase("Stable", "shop")  # woken by the template's event, no resync, no nudge
    assert slo.passes("shop") > passes


def test_loosening_a_template_bound_is_invalid_naming_field_and_template(slo: Cluster) -> None:
    slo.api.create(TEMPLATES, slo_template("strict-slo", 0.001))
    slo.create(gated("loose", templates=["strict-slo"], metrics=[
        {"name": "error-ratio", "query": ERRORS, "max": 0.01}]))
    st = slo.wait_phase("Invalid", "loose")
    assert ("spec.analysis.metrics[0].max: 0.01 loosens 0.001 of template 'strict-slo'"
            in st["message"])


def test_template_edit_mid_rollout_applies_from_the_next_rollout(slo: Cluster) -> None:
    slo.api.create(TEMPLATES, slo_template("shop-slo", 0.001))
    slo.create(gated("shop", templates=["shop-slo"]))
    slo.wait_phase("Stable", "shop")  # the first revision: no analysis
    # A promoted release: the template's gates apply (0.0005 <= 0.001)...
    slo.set_image("app:good2", "shop")
    st = slo.wait_phase("Analyzing", "shop")
    assert {m["name"] for m in st["analysis"]["metrics"]} <= {"error-ratio", "latency-p95"}
    pinned = st["analysisTemplates"]
    assert pinned["revision"] == st["candidateRevision"]
    assert pinned["templates"][0]["metrics"][0]["max"] == 0.001
    # ...and a template tightened below the measured value mid-rollout does not move them.
    slo.api.patch(path_for("finnexus.ai/v1alpha1", "finnexusanalysistemplates", None,
                           "shop-slo"), {"spec": {"metrics": [
                               {"name": "error-ratio", "query": ERRORS, "max": 0.0001},
                               {"name": "latency-p95", "query": "vector(0.1)", "max": 0.2}]}})
    st = slo.wait_phase("Stable", "shop", timeout=20, activeColor="green")
    promoted = st["history"][-1]
    assert promoted["result"] == "Promoted"
    measured = {m["name"]: m for m in promoted["gates"]["metrics"]}
    assert measured["error-ratio"]["verdict"] == "Pass"
    assert measured["error-ratio"]["value"] == pytest.approx(0.0005)
    assert measured["error-ratio"]["max"] == 0.001  # the bound it was gated on
    assert promoted["gates"]["analysisRounds"] >= 3
    assert promoted["gates"]["healthPassed"] >= 2
    assert promoted["gates"]["hooks"] == []
    # The next rollout takes the edited template: 0.0005 > 0.0001 rolls it back.
    slo.patch_spec("shop", template=template("app:good3"))
    st = slo.wait_phase("RolledBack", "shop", timeout=20)
    assert "error-ratio" in st["message"]
    rolled = st["history"][-1]
    assert rolled["result"] == "RolledBack"
    failed = {m["name"]: m for m in rolled["gates"]["metrics"]}
    assert failed["error-ratio"]["verdict"] == "Fail"
    assert failed["error-ratio"]["max"] == 0.0001
    wait_until(lambda: slo.status("shop").get("activeColor") == "green",
               message="traffic stays on the promoted colour")
