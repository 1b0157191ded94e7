"""The kubectl plugin against the emulated API: status, history and a request round-trip."""

from __future__ import annotations

import pytest

from finnexus_operator import kubectl_plugin
from tests.contract.cluster import Cluster, resource


def test_plugin_status_history_and_promote(cluster: Cluster, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    cluster.create(resource(promotion={"auto": False, "scaleDownDelaySeconds": 1}))
    cluster.wait_phase("Stable")
    cluster.set_image("app:good2")
    cluster.wait_phase("AwaitingPromotion")
    assert kubectl_plugin.main(["status", "web", "--kubeconfig", cluster.kubeconfig]) == 0
    out = capsys.readouterr().out
    assert "default/web: AwaitingPromotion" in out and "candidate:  green" in out
    assert kubectl_plugin.main(["promote", "web", "--kubeconfig", cluster.kubeconfig]) == 0
    cluster.wait_phase("Stable", activeColor="green")
    assert kubectl_plugin.main(["history", "web", "--kubeconfig", cluster.kubeconfig]) == 0
    out = capsys.readouterr().out
    table = out[out.index("REVISION"):].splitlines()  # the operator thread logs to stdout too
    rows = [line.split()[2] for line in table[1:] if line and line[0].isalnum()]
    assert rows == ["Promoted", "Promoted"]


def test_plugin_reports_a_missing_resource(cluster: Cluster,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert kubectl_plugin.main(["status", "nope", "--kubeconfig", cluster.kubeconfig]) == 1
    assert "not found" in capsys.readouterr().err
