"""The operator as a process of its own: started, SIGKILLed (dead when kill returns), started
again, stopped."""

from __future__ import annotations

from pathlib import Path

from finnexus_kit.apiserver import ApiServer
from finnexus_kit.operator_process import OperatorProcess, _alive
from tests.helpers import wait_until


def test_start_kill_restart_stop(apiserver: ApiServer, kubeconfig: str, tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    process = OperatorProcess(kubeconfig, log)
    try:
        process.start()
        wait_until(lambda: apiserver.requests.by_agent("kopf/"), timeout=15,
                   message="the operator talks to the API")
        first = process.pid
        assert first is not None and process.running
        process.kill()
        assert not _alive(first) and not process.running and process.kills == 1
        seen = len(apiserver.requests.by_agent("kopf/"))
        process.start()
        assert process.pid != first and process.starts == 2
        wait_until(lambda: len(apiserver.requests.by_agent("kopf/")) > seen, timeout=15,
                   message="the restarted operator talks to the API")
    finally:
        process.stop()
    assert not process.running
    text = log.read_text()
    assert "--- operator process 1 ---" in text and "--- operator process 2 ---" in text
    assert "operator started" in text
