"""bench/scale runs end to end at N=2 (a smoke test: figures are printed, never asserted as
timings) and leaves no process behind; its request classification and percentiles."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bench.scale.__main__ import main
from bench.scale.report import percentile
from bench.scale.world import request_kind


def test_requests_are_classified_by_verb_and_resource() -> None:
    fnd = "/apis/finnexus.ai/v1alpha1/namespaces/default/finnexusdeployments"
    assert request_kind("GET", f"{fnd}/web", {}) == ("get", "finnexusdeployments")
    assert request_kind("PATCH", f"{fnd}/web/status", {}) == ("patch",
                                                               "finnexusdeployments/status")
    assert request_kind("GET", fnd, {"watch": "true"}) == ("watch", "finnexusdeployments")
    assert request_kind("GET", "/api/v1/pods", {"labelSelector": "a=b"}) == ("list", "pods")
    assert request_kind("POST", "/api/v1/namespaces/default/events", {}) == ("create", "events")
    assert request_kind("GET", "/api/v1/namespaces/default", {}) == ("get", "namespaces")
    assert request_kind("DELETE", "/apis/apps/v1/namespaces/x/deployments/d", {}) == (
        "delete", "deployments")


def test_percentiles_are_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0 and percentile([], 50) is None


def _leftovers(marker: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state not in ("Z", "X"):
            found.append(cmdline.replace("\0", " "))
    return found


@pytest.mark.slow
def test_the_benchmark_runs_at_n_2_and_stops_everything(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--n", "2", "--quiet-seconds", "1", "--timeout", "60",
                 "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip()
            for line in out.splitlines() if line.startswith("| ") and "N=2" not in line}
    number = re.compile(r"^\d+(\.\d+)? s$")
    for figure in ("time until all deployed (first time)", "time until all released",
                   "restart -> all reconciled once"):
        assert number.match(rows[figure]), (figure, out)
    for step in ("deploy", "switch", "promote"):
        (cell,) = [v for k, v in rows.items() if k.startswith(f"decision {step} ")]
        assert re.fullmatch(r"\d+ ms / \d+ ms", cell), (step, out)
    assert float(rows["API requests per object, release"]) > 0
    assert float(rows["API requests per object, first deployment"]) > 0
    assert "patch finnexusdeployments/status" in out  # by verb and resource
    assert "MiB" in rows["operator peak RSS (VmHWM)"] and not rows[
        "operator peak RSS (VmHWM)"].startswith("0 ")
    assert _leftovers(str(tmp_path)) == []  # the operator and the world are gone
