"""``finnexus-operator run`` as a real process: flags, liveness, /metrics, JSON logs, SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_kit.kubelet import PodSimulator
from tests.contract.cluster import HealthServers, resource
from tests.helpers import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except OSError:
        return 0, ""


def test_run_process_serves_liveness_metrics_and_json_logs(
    apiserver: ApiServer, kubeconfig: str, tmp_path: Path
) -> None:
    metrics_port, health_port = free_port(), free_port()
    health = HealthServers()
    log = (tmp_path / "operator.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "finnexus_operator", "run", "--kubeconfig", kubeconfig,
         "--namespace", "default", "--metrics-port", str(metrics_port),
         "--health-port", str(health_port), "--log-format", "json"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        with PodSimulator(apiserver, endpoint=lambda d: health.port("good")):
            apiserver.create(path_for("finnexus.ai/v1alpha1", "finnexusdeployments", "default"),
                             resource())
            wait_until(lambda: (apiserver.get(path_for(
                "finnexus.ai/v1alpha1", "finnexusdeployments", "default", "web")) or {}).get(
                "status", {}).get("phase") == "Stable", timeout=20, message="Stable")
        assert wait_until(lambda: http_get(f"http://127.0.0.1:{health_port}/healthz")[0] == 200)
        promoted = 'finnexus_rollouts_total{name="web",namespace="default",result="Promoted"} 1.0'
        stable = 'finnexus_phase{name="web",namespace="default",phase="Stable"} 1.0'
        # The status is written before the pass finishes (decision first): wait for the pass.
        wait_until(lambda: all(m in http_get(f"http://127.0.0.1:{metrics_port}/metrics")[1]
                               for m in (promoted, stable)), timeout=10,
                   message="operator metrics after the promotion")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        health.close()
    log.seek(0)
    lines = [line for line in log.read().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is a JSON object
    assert any(r.get("event") == "traffic routed" and r.get("object") == "default/web"
               for r in records)
    assert all("timestamp" in r and "level" in r for r in records)


@pytest.mark.parametrize("argv, message", [
    (["--prometheus-url", "prometheus:9090"], "expected http(s)://"),
    (["--prometheus-timeout", "0"], "must be positive"),
    (["--metrics-provider", "x"], "finnexus-operator: unknown --metrics-provider 'x'; known: "
     "prometheus"),
])
def test_run_rejects_bad_flags(argv: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "finnexus_operator", "run", *argv],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and message in proc.stderr


def test_the_product_cli_offers_only_run(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo is ``python -m finnexus_demo`` (outside the product), not a subcommand."""
    from finnexus_operator.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["demo"])
    assert exited.value.code == 2
    assert "invalid choice: 'demo'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    assert "{run}" in capsys.readouterr().out
