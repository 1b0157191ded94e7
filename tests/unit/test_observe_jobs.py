"""A hook Job's result as plan() sees it, from the conditions the Job controller writes."""

from __future__ import annotations

from typing import Any

import pytest

from finnexus_operator.controller.observe_jobs import job_state


def job(conditions: list[dict[str, Any]], **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web-r-preswitch-0"}, "spec": {"activeDeadlineSeconds": 60},
            "status": {"startTime": "2026-01-01T00:00:00Z", "conditions": conditions, **status}}


@pytest.mark.parametrize(("conditions", "result", "message"), [
    pytest.param([], "Running", "", id="no-condition"),
    pytest.param([{"type": "Complete", "status": "True"}], "Succeeded", "", id="complete"),
    pytest.param([{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                   "message": "Job was active longer than specified deadline"}],
                 "Failed", "DeadlineExceeded: Job was active longer than specified deadline",
                 id="failed"),
    pytest.param([{"type": "Failed", "status": "False"}], "Running", "", id="failed-false"),
    pytest.param([{"type": "Suspended", "status": "True"}], "Running", "", id="suspended"),
])
def test_job_state(conditions: list[dict[str, Any]], result: str, message: str) -> None:
    state = job_state(job(conditions, completionTime="2026-01-01T00:01:00Z"))
    assert (state.result, state.message) == (result, message)
    assert state.started_at == "2026-01-01T00:00:00Z" and state.deadline_seconds == 60
    assert (state.finished_at is not None) == (result != "Running")
