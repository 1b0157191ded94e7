"""Hook Jobs as plan() sees them (``Observed.jobs``): their result from the conditions the Job
controller writes (``Complete``/``Failed`` with status True), read from the informer cache."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finnexus_operator import constants
from finnexus_operator.adapters.objects import ObjectStore, is_owned_by
from finnexus_operator.core import hooks
from finnexus_operator.core.observed import JobState

__all__ = ["job_state", "observe_jobs"]


def job_state(job: Mapping[str, Any]) -> JobState:
    """One Job's result: Succeeded (Complete=True), Failed (Failed=True) or Running."""
    meta, spec = job.get("metadata") or {}, job.get("spec") or {}
    status = job.get("status") or {}
    result, message, finished = hooks.RUNNING, "", None
    for cond in status.get("conditions") or []:
        if not isinstance(cond, Mapping) or cond.get("status") != "True":
            continue
        if cond.get("type") in ("Complete", "Failed"):
            result = hooks.SUCCEEDED if cond["type"] == "Complete" else hooks.FAILED
            message = ": ".join(str(x) for x in (cond.get("reason"), cond.get("message")) if x)
            finished = status.get("completionTime") or cond.get("lastTransitionTime")
            break
    deadline = spec.get("activeDeadlineSeconds")
    return JobState(
        name=str(meta.get("name") or ""), result=result, message=message,
        started_at=status.get("startTime"), finished_at=finished,
        deadline_seconds=deadline if isinstance(deadline, int) and not isinstance(
            deadline, bool) else None)


async def observe_jobs(store: ObjectStore, namespace: str, name: str, uid: str
                       ) -> dict[str, JobState]:
    """The hook Jobs this resource owns (labelled with its name, carrying the hook label)."""
    found: dict[str, JobState] = {}
    for job in await store.list_labelled("Job", namespace, name):
        labels = (job.get("metadata") or {}).get("labels") or {}
        if is_owned_by(job, uid) and constants.LABEL_HOOK in labels:
            state = job_state(job)
            found[state.name] = state
    return found
