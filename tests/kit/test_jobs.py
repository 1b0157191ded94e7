"""The Job simulator plays the Job controller: the conditions it writes, by image tag."""

from __future__ import annotations

from typing import Any

import pytest

from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_kit.jobs import JobSimulator
from tests.helpers import wait_until

NS = "default"


def job(name: str, image: str, deadline: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": {"spec": {"restartPolicy": "Never", "containers": [
        {"name": "x", "image": image}]}}}
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


@pytest.mark.parametrize(("image", "deadline", "want"), [
    pytest.param("hook:succeed", None, ("Complete", None), id="succeed"),
    pytest.param("hook:fail", None, ("Failed", "BackoffLimitExceeded"), id="fail"),
    pytest.param("hook:hang", 1, ("Failed", "DeadlineExceeded"), id="hang-past-deadline"),
    pytest.param("hook:succeed-5", 1, ("Failed", "DeadlineExceeded"), id="slow-past-deadline"),
])
def test_a_job_ends_as_its_image_says(apiserver: ApiServer, image: str, deadline: int | None,
                                      want: tuple[str, str | None]) -> None:
    with JobSimulator(apiserver, NS, run_seconds=0.1) as sim:
        apiserver.create(path_for("batch/v1", "jobs", NS), job("j", image, deadline))

        def ended() -> dict[str, Any] | None:
            got = apiserver.get(path_for("batch/v1", "jobs", NS, "j")) or {}
            status = got.get("status") or {}
            return status if status.get("conditions") else None

        status = wait_until(ended, timeout=5, message="the Job ended")
        assert isinstance(status, dict)
        (cond,) = status["conditions"]
        assert (cond["type"], cond.get("reason")) == want and cond["status"] == "True"
        assert status["startTime"] and status["active"] == 0
        assert ("completionTime" in status) == (want[0] == "Complete")
        assert sim.started == ["j"] and not sim.errors


def test_a_hanging_job_without_deadline_keeps_running(apiserver: ApiServer) -> None:
    with JobSimulator(apiserver, NS, run_seconds=0.1) as sim:
        apiserver.create(path_for("batch/v1", "jobs", NS), job("h", "hook:hang"))
        wait_until(lambda: sim.started == ["h"], message="the Job started")
        apiserver.create(path_for("batch/v1", "jobs", NS), job("s", "hook:succeed"))
        wait_until(lambda: (apiserver.get(path_for("batch/v1", "jobs", NS, "s")) or {}).get(
            "status", {}).get("conditions"), message="the other Job ended")
        status = (apiserver.get(path_for("batch/v1", "jobs", NS, "h")) or {})["status"]
        assert status["active"] == 1 and "conditions" not in status
