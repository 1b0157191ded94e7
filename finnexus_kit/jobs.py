"""A Job controller simulator: marks the batch/v1 Jobs of the emulated API Complete or Failed.

The test decides a Job's fate by its first container's image (tag ``<mode>[-<seconds>]``):

- ``hook:succeed`` -- Complete after ``run_seconds`` (``hook:succeed-3``: after 3 s);
- ``hook:fail`` -- Failed after ``run_seconds`` (reason ``BackoffLimitExceeded``);
- ``hook:hang`` -- runs until its ``activeDeadlineSeconds`` (if any) ends it.

Like the real Job controller it writes, through the status subresource, ``startTime`` and
``active: 1`` when it sees the Job, then ``conditions`` (type ``Complete`` or ``Failed``, status
``True``, reason and message: ``DeadlineExceeded`` / "Job was active longer than specified
deadline" past ``activeDeadlineSeconds``), ``completionTime`` on success and the
``succeeded``/``failed`` counts. Event-driven like `finnexus_kit.kubelet`: subscribed to the
store's change feed in the API's loop, a worker thread acts on the Jobs a change concerns and
on due timers; it writes through the HTTP API, so its writes reach every watcher.
"""

from __future__ import annotations

import heapq
import time
from datetime import UTC, datetime
from typing import Any

from finnexus_kit.apiserver import ApiRequestError, ApiServer, path_for
from finnexus_kit.follower import StoreFollower
from finnexus_kit.kubeapi.store import WatchEvent

__all__ = ["JobSimulator", "job_mode"]

DEADLINE = ("DeadlineExceeded", "Job was active longer than specified deadline")
BACKOFF = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def job_mode(job: dict[str, Any], run_seconds: float) -> tuple[str, float]:
    """(mode, seconds) from the first container's image tag."""
    containers = ((((job.get("spec") or {}).get("template") or {}).get("spec") or {})
                  .get("containers") or [{}])
    tag = str(containers[0].get("image") or "").rsplit(":", 1)[-1]
    mode, _, seconds = tag.partition("-")
    try:
        return mode, float(seconds) if seconds else run_seconds
    except ValueError:
        return mode, run_seconds


class JobSimulator(StoreFollower):
    """Runs the Jobs of ``namespace`` to their end in a background thread, on events."""

    thread_name = "job-simulator"

    def __init__(self, api: ApiServer, namespace: str = "default", *,
                 run_seconds: float = 0.2) -> None:
        super().__init__(api)
        self.namespace, self.run_seconds = namespace, run_seconds
        self.errors: list[str] = []
        self.started: list[str] = []  # Job names in the order they were first seen
        self._seen: dict[str, dict[str, Any]] = {}  # name -> last object (uid, spec)
        self._timers: list[tuple[float, str, str]] = []  # (when, name, uid)
        self._fresh: list[str] = []

    def _take(self, store: Any) -> None:
        rtype = store.rtype("batch/v1", "jobs")
        for obj in store.items(rtype, store.keys(rtype, self.namespace)):
            self._note(obj)

    def _on_change(self, event: WatchEvent) -> None:
        if (event.rtype.api_version, event.rtype.plural) != ("batch/v1", "jobs"):
            return
        if event.type == "DELETED":
            with self._wake:
                self._seen.pop(event.obj["metadata"]["name"], None)
            return
        self._note(event.obj)

    def _note(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        if meta.get("namespace") != self.namespace:
            return
        name = meta["name"]
        with self._wake:
            known = self._seen.get(name)
            self._seen[name] = obj
            if known is None or known["metadata"].get("uid") != meta.get("uid"):
                self._fresh.append(name)
                self._wake.notify()

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                now = time.monotonic()
                due = []
                while self._timers and self._timers[0][0] <= now:
                    due.append(heapq.heappop(self._timers)[1:])
                fresh, self._fresh = self._fresh, []
                if not due and not fresh:
                    wait = self._timers[0][0] - now if self._timers else None
                    self._wake.wait(wait)
                    continue
            for name in fresh:
                self._guard(self._begin, name)
            for name, uid in due:
                self._guard(self._end, name, uid)

    def _guard(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except ApiRequestError as exc:
            if exc.status != 404:  # a Job deleted meanwhile is fine
                self.errors.append(str(exc))
        except Exception as exc:  # reported to the test (errors), never swallowed
            self.errors.append(repr(exc))

    def _path(self, name: str) -> str:
        return path_for("batch/v1", "jobs", self.namespace, name) + "/status"

    def _begin(self, name: str) -> None:
        with self._wake:
            job = self._seen.get(name)
        if job is None or (job.get("status") or {}).get("conditions"):
            return
        uid = job["metadata"].get("uid", "")
        self.started.append(name)
        self.api.patch(self._path(name), {"status": {"startTime": _now(), "active": 1}})
        mode, seconds = job_mode(job, self.run_seconds)
        deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
        ends = [seconds] if mode in ("succeed", "fail") else []
        if isinstance(deadline, int):
            ends.append(float(deadline))
        if ends:
            with self._wake:
                heapq.heappush(self._timers, (time.monotonic() + min(ends), name, uid))

    def _end(self, name: str, uid: str) -> None:
        with self._wake:
            job = self._seen.get(name)
        if job is None or job["metadata"].get("uid") != uid:
            return
        mode, seconds = job_mode(job, self.run_seconds)
        deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
        past = isinstance(deadline, int) and (mode == "hang" or deadline < seconds)
        now = _now()
        if mode == "succeed" and not past:
            cond = {"type": "Complete", "status": "True", "lastTransitionTime": now}
            status = {"active": 0, "succeeded": 1, "completionTime": now, "conditions": [cond]}
        else:
            reason, message = DEADLINE if past else BACKOFF
            cond = {"type": "Failed", "status": "True", "reason": reason, "message": message,
                    "lastTransitionTime": now}
            status = {"active": 0, "failed": 1, "conditions": [cond]}
        self.api.patch(self._path(name), {"status": status})
