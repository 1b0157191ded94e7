"""The hook Jobs of a rollout (``spec.hooks``, DESIGN.md §2.3), as rules of the ladder.

``preSwitch`` Jobs run one at a time, in order, after the candidate's health checks pass and
before any traffic moves; the phase stays ``Verifying`` with a message naming the running Job.
A Job that failed (condition Failed, or running past its ``activeDeadlineSeconds``) rejects the
candidate (reasonKind ``hook``) with the Job's name and last message; traffic never moved.
Once every Job succeeded the switch still needs a passing health round in this pass (§2.1 rule
1: a long Job must not switch on an old verdict).

``postPromotion`` Jobs run one at a time after the promotion (not after an undo or a revert to
the previous revision): a failure marks ``Degraded`` with a Warning Event; it never moves
traffic.

What was started and how it ended is kept in ``status.hooks`` (one revision's runs), so a Job
is created once per revision: a re-run of the pass or a restarted operator finds it by its
deterministic name, and a Job deleted after ``ttlSeconds`` is never started again. Pure: the
Jobs come from ``Observed.jobs``; creating and deleting them are actions (``output.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from finnexus_operator.core.actions import Action, CreateJob, DeleteJob
from finnexus_operator.core.clock import iso, parse
from finnexus_operator.core.manifests import preview_service_name
from finnexus_operator.core.observed import JobState, Observed
from finnexus_operator.models.hooks import HOOK_NAMES, HookRun, HookSpec, HooksStatus
from finnexus_operator.models.phases import Phase, Reason, RejectionKind
from finnexus_operator.models.spec import FinNexusDeploymentSpec

if TYPE_CHECKING:
    from finnexus_operator.core.rollout import Rollout

__all__ = [
    "FAILED",
    "POST_PROMOTION",
    "PRE_SWITCH",
    "RUNNING",
    "SUCCEEDED",
    "actions",
    "cleanup_in",
    "degraded",
    "hold_switch",
    "job_name",
    "on_promote",
    "post_promotion",
    "refresh",
    "render",
]

PRE_SWITCH, POST_PROMOTION = "preSwitch", "postPromotion"
RUNNING, SUCCEEDED, FAILED = "Running", "Succeeded", "Failed"
DEFAULT_TTL = 3600
_PLACEHOLDER = re.compile(r"\{\{\s*(previewService|revision|color)\s*\}\}")


def job_name(name: str, revision: str, hook: str, index: int) -> str:
    """``<name>-<revision>-<hook>-<i>`` (hook ``preswitch`` / ``postpromotion``)."""
    return f"{name}-{revision}-{HOOK_NAMES[hook]}-{index}"


def render(job_spec: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``job_spec`` with the placeholders rendered in its containers' env values and
    args (init containers too); nothing else is touched."""
    def sub(text: Any) -> Any:
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text) if isinstance(
            text, str) else text

    out: dict[str, Any] = _copy(job_spec)
    pod = (out.get("template") or {}).get("spec") or {}
    for key in ("initContainers", "containers"):
        for c in pod.get(key) or []:
            if isinstance(c.get("args"), list):
                c["args"] = [sub(a) for a in c["args"]]
            for env in c.get("env") or []:
                if isinstance(env, dict) and "value" in env:
                    env["value"] = sub(env["value"])
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _specs(spec: FinNexusDeploymentSpec, hook: str) -> list[HookSpec]:
    if spec.hooks is None:
        return []
    return list(spec.hooks.pre_switch if hook == PRE_SWITCH else spec.hooks.post_promotion)


def _runs(r: Rollout, revision: str) -> HooksStatus:
    """``status.hooks`` for ``revision`` (a new revision starts with no runs)."""
    if r.st.hooks is None or r.st.hooks.revision != revision:
        r.st.hooks = HooksStatus(revision=revision)
    return r.st.hooks


def _step(r: Rollout, rec: HooksStatus, hook: str, name: str, *, start: bool
          ) -> tuple[HookRun | None, bool]:
    """The run of Job ``name`` brought up to date with what is observed; (run, changed).
    ``run`` None: not started (``start`` False holds it back)."""
    runs = {run.name: i for i, run in enumerate(rec.runs)}
    at = runs.get(name)
    run = rec.runs[at] if at is not None else None
    if run is not None and run.result != RUNNING:
        return run, False  # decided once; the Job may be gone after ttlSeconds
    job = r.obs.jobs.get(name)
    if job is None:
        if run is None and start:
            run = HookRun(name=name, hook=hook, result=RUNNING)
            rec.runs = [*rec.runs, run]
            return run, True
        return run, False
    result, message, finished = job.result, job.message, job.finished_at
    if result == RUNNING and _past_deadline(job, r.now):
        result, finished = FAILED, iso(r.now)
        message = (f"DeadlineExceeded: Job was active longer than its activeDeadlineSeconds "
                   f"({job.deadline_seconds}s)")
    new = HookRun(name=name, hook=hook, result=result, message=message,
                  finished_at=None if result == RUNNING else finished or iso(r.now))
    if run == new:
        return run, False
    rec.runs = [*rec.runs[:at], new, *rec.runs[at + 1:]] if at is not None else [*rec.runs, new]
    if hook == POST_PROMOTION and result == FAILED:  # said once, when it is first seen
        r.event(Reason.HOOK_FAILED, f"postPromotion Job {name} failed: {message}; traffic "
                f"stays on {r.st.active_color} ({rec.revision})", warning=True)
    return new, True


def _past_deadline(job: JobState, now: datetime) -> bool:
    started = parse(job.started_at)
    return job.deadline_seconds is not None and started is not None and (
        now - started > timedelta(seconds=job.deadline_seconds))


def refresh(r: Rollout) -> None:
    """Every run still Running takes its Job's result, whatever the phase (a postPromotion Job
    that ends after the next candidate started is recorded, never started again)."""
    rec = r.st.hooks
    for run in list(rec.runs) if rec is not None else []:
        if run.result == RUNNING and rec is not None:
            _step(r, rec, run.hook, run.name, start=False)


def _current(r: Rollout, rec: HooksStatus, hook: str) -> bool:
    """The runs of ``hook`` in ``rec`` are the ones this pass may (re)create."""
    if hook == PRE_SWITCH:
        return r.st.candidate_revision == rec.revision and r.st.phase is Phase.VERIFYING
    return rec.post_promotion and r.st.stable_revision == rec.revision


def hold_switch(r: Rollout) -> bool:
    """The preSwitch gate of a healthy candidate: True while it holds the switch this pass
    (a Job runs or starts, a paused rollout, no fresh health round), or after it rejected."""
    specs = _specs(r.spec, PRE_SWITCH)
    rev = r.st.candidate_revision
    if not specs or rev is None:
        return False
    rec = _runs(r, rev)
    for i in range(len(specs)):
        name = job_name(r.obs.name, rev, PRE_SWITCH, i)
        run, _ = _step(r, rec, PRE_SWITCH, name, start=not r.spec.paused)
        if run is None:
            r.enter(Phase.VERIFYING, f"{rev} is healthy; paused before preSwitch {name}",
                    Reason.PAUSED)
            return True
        if run.result == FAILED:
            r.reject(f"preSwitch Job {name} failed: {run.message or 'no message'}",
                     RejectionKind.HOOK)
            return True
        if run.result == RUNNING:
            r.enter(Phase.VERIFYING, f"preSwitch {name} running", Reason.HOOK_RUNNING)
            return True
    if r.obs.health is None:
        # §2.1 rule 1: the switch needs a passing round in this pass, not the one before the Jobs
        r.enter(Phase.VERIFYING, f"preSwitch hooks passed ({len(specs)} Jobs); re-checking "
                "health before the switch", Reason.HOOK_RUNNING)
        return True
    return False


def on_promote(r: Rollout, revision: str, *, run_hooks: bool) -> None:
    """After a promotion: the postPromotion hooks become due (``run_hooks``: a rollout, not an
    undo or a revert to the previous revision)."""
    if not run_hooks or not _specs(r.spec, POST_PROMOTION):
        if r.st.hooks is not None and r.st.hooks.revision != revision:
            r.st.hooks = None
        return
    rec = _runs(r, revision)
    r.st.hooks = rec.model_copy(update={"post_promotion": True})


def post_promotion(r: Rollout) -> None:
    """Run the due postPromotion Jobs of the stable revision, one at a time; a failure is
    Degraded (``degraded``) with a Warning Event once, never a traffic change."""
    rec, rev = r.st.hooks, r.st.stable_revision
    specs = _specs(r.spec, POST_PROMOTION)
    if rec is None or not rec.post_promotion or rev is None or rec.revision != rev or not specs:
        return
    for i in range(len(specs)):
        name = job_name(r.obs.name, rev, POST_PROMOTION, i)
        run, _ = _step(r, rec, POST_PROMOTION, name, start=True)
        assert run is not None
        if run.result == FAILED:
            r.st.message = (f"{rev} stable on {r.st.active_color}; postPromotion Job {name} "
                            f"failed: {run.message}")
            return
        if run.result == RUNNING:
            r.st.message = f"{rev} stable on {r.st.active_color}; postPromotion {name} running"
            return
    if any(run.hook == POST_PROMOTION for run in rec.runs):
        r.st.message = (f"{rev} stable on {r.st.active_color}; postPromotion hooks passed "
                        f"({len(specs)} Jobs)")


def degraded(r: Rollout) -> tuple[str, str] | None:
    """(reason, message) of a failed postPromotion Job of the stable revision, or None."""
    rec = r.st.hooks
    if rec is None or not rec.post_promotion or rec.revision != r.st.stable_revision:
        return None
    for run in rec.runs:
        if run.hook == POST_PROMOTION and run.result == FAILED:
            return Reason.HOOK_FAILED.value, f"postPromotion Job {run.name} failed: {run.message}"
    return None


def actions(r: Rollout) -> list[Action]:
    """Create the started Jobs not yet there; delete finished ones ``ttlSeconds`` past their end."""
    acts: list[Action] = []
    rec = r.st.hooks
    for run in rec.runs if rec is not None else []:
        assert rec is not None
        if run.result != RUNNING or run.name in r.obs.jobs or not _current(r, rec, run.hook):
            continue
        index = int(run.name.rsplit("-", 1)[1])
        specs = _specs(r.spec, run.hook)
        if index >= len(specs):
            continue  # the hook was removed from the spec meanwhile
        color = (r.st.candidate_color if run.hook == PRE_SWITCH else r.st.active_color) or ""
        values = {"previewService": preview_service_name(r.obs.name),
                  "revision": rec.revision if rec else "", "color": color}
        acts.append(CreateJob(name=run.name, revision=rec.revision if rec else "",
                              hook=run.hook, spec=render(specs[index].template, values)))
    ttl = _ttl(r.spec)
    for name, job in sorted(r.obs.jobs.items()):
        ended = parse(job.finished_at)
        if job.result != RUNNING and ended is not None and (
                r.now - ended >= timedelta(seconds=ttl)):
            acts.append(DeleteJob(name))
    return acts


def _ttl(spec: FinNexusDeploymentSpec) -> int:
    return spec.hooks.ttl_seconds if spec.hooks is not None else DEFAULT_TTL


def cleanup_in(spec: FinNexusDeploymentSpec, observed: Observed, now: datetime) -> float | None:
    """Seconds until the next finished Job is due for deletion (None: none is)."""
    waits = []
    for job in observed.jobs.values():
        ended = parse(job.finished_at)
        if job.result != RUNNING and ended is not None:
            due = ended + timedelta(seconds=_ttl(spec))
            waits.append(max(0.0, (due - now) / timedelta(seconds=1)))
    return min(waits) if waits else None
