"""The emulator prints like a real API server for ``kubectl get`` (the CRD's printer columns,
as a meta.k8s.io Table) and answers what ``kubectl apply``'s validation downloads."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_kit.kubeapi import printer
from finnexus_kit.kubeapi.resources import RESOURCES
from finnexus_operator.crd import build_crd

ROOT = Path(__file__).resolve().parents[2]
FND = next(r for r in RESOURCES if r.plural == "finnexusdeployments")
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None,
                                   reason="no kubectl binary on this machine")


def test_wants_table_reads_kubectls_accept_header() -> None:
    assert printer.wants_table(TABLE)
    assert printer.wants_table("application/json;as=Table;v=v1beta1;g=meta.k8s.io")
    assert not printer.wants_table("application/json")
    assert not printer.wants_table("application/json;as=PartialObjectMetadata;g=meta.k8s.io")


def test_columns_are_the_crds_and_cells_follow_their_json_paths() -> None:
    crd_columns = build_crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    assert printer.columns_for(FND) == tuple(crd_columns)
    assert printer.columns_for(next(r for r in RESOURCES if r.plural == "pods")) == ()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 190))
    obj = {"metadata": {"name": "web", "creationTimestamp": created},
           "status": {"phase": "Analyzing", "activeColor": "green", "stableRevision": "aaa",
                      "candidateRevision": "bbb"}}
    table = printer.as_table(FND, {"items": [obj], "metadata": {"resourceVersion": "7"}})
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Phase", "Active", "Stable", "Candidate", "Age"]
    assert table["rows"][0]["cells"] == ["web", "Analyzing", "green", "aaa", "bbb", "3m10s"]
    assert table["rows"][0]["object"] is obj and table["metadata"]["resourceVersion"] == "7"
    bare = printer.as_table(FND, {"metadata": {"name": "x"}}, include_object="None")
    assert bare["rows"] == [{"cells": ["x", None, None, None, None, None]}]


def test_a_table_is_served_only_when_asked_for(apiserver: ApiServer) -> None:
    apiserver.create(path_for("finnexus.ai/v1alpha1", "finnexusdeployments", "default"),
                     {"metadata": {"name": "web"}, "spec": {}})

    def get(path: str, accept: str) -> dict[str, object]:
        request = urllib.request.Request(apiserver.url + path, headers={"Accept": accept})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            answer: dict[str, object] = json.load(response)
            return answer
    path = path_for("finnexus.ai/v1alpha1", "finnexusdeployments", "default")
    assert get(path, TABLE)["kind"] == "Table"
    assert get(path + "/web", TABLE)["kind"] == "Table"
    assert get(path, "application/json")["kind"] == "FinNexusDeploymentList"
    assert get(path_for("v1", "pods", "default"), TABLE)["kind"] == "PodList"  # no columns


@needs_kubectl
def test_real_kubectl_prints_the_columns_and_applies_with_validation(
        apiserver: ApiServer, kubeconfig: str, tmp_path: Path) -> None:
    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "--cache-dir",
                               str(tmp_path / "cache"), *args], capture_output=True, text=True,
                              timeout=60, check=False)
    applied = kubectl("apply", "-f", str(ROOT / "examples" / "minimal.yaml"))  # validation on
    assert applied.returncode == 0 and "created" in applied.stdout, applied.stderr
    apiserver.patch(path_for("finnexus.ai/v1alpha1", "finnexusdeployments", "default", "demo",
                             "status"),
                    {"status": {"phase": "Stable", "activeColor": "blue",
                                "stableRevision": "5d8c7f9a1b"}})
    shown = kubectl("get", "fnd")
    assert shown.returncode == 0, shown.stderr
    header, row = shown.stdout.splitlines()
    assert header.split() == ["NAME", "PHASE", "ACTIVE", "STABLE", "CANDIDATE", "AGE"]
    assert row.split()[:4] == ["demo", "Stable", "blue", "5d8c7f9a1b"]
    everywhere = kubectl("get", "fnd", "-A").stdout.splitlines()
    assert everywhere[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert everywhere[1].split()[:3] == ["default", "demo", "Stable"]
    again = kubectl("apply", "-f", str(ROOT / "examples" / "minimal.yaml"))
    assert again.returncode == 0 and "unchanged" in again.stdout, again.stderr
