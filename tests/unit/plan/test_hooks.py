"""spec.hooks in the ladder: preSwitch Jobs gate the switch (one at a time, in order; a
failure or a deadline rejects; a fresh health round before the switch), postPromotion Jobs
follow the promotion (a failure is Degraded, never a traffic change), Jobs created once per
revision and deleted ttlSeconds after they end."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from finnexus_operator.core.actions import CreateJob, RouteTraffic
from finnexus_operator.core.clock import iso
from finnexus_operator.core.hooks import job_name, render
from finnexus_operator.core.validation import InvalidSpec, parse_spec
from finnexus_operator.models.phases import Phase
from tests.unit.planlib import BLUE, GREEN, R1, R2, V1, V2, Sim, kinds, make_spec, stable_sim


def hook(image: str = "migrate:1", **job: Any) -> dict[str, Any]:
    return {"template": {"template": {"spec": {"containers": [{
        "name": "m", "image": image, "args": ["--db", "{{previewService}}"],
        "env": [{"name": "REV", "value": "{{revision}}"}, {"name": "C", "value": "{{ color }}"}],
    }]}}, **job}}


def pre(i: int, rev: str = R2) -> str:
    return job_name("", rev, "preSwitch", i)


def post(i: int, rev: str = R2) -> str:
    return job_name("", rev, "postPromotion", i)


def finish(sim: Sim, name: str, result: str = "Succeeded", message: str = "") -> None:
    sim.cluster.jobs[name] = replace(sim.cluster.jobs[name], result=result, message=message,
                                     finished_at=iso(sim.now))


def candidate_with(hooks: dict[str, Any], **spec: Any) -> Sim:
    """V1 stable on blue, then V2 with ``hooks``, run until its first Job was created."""
    sim = stable_sim(make_spec(V1, **spec))
    sim.set(template=V2, hooks=hooks)
    for _ in range(20):
        sim.step()
        if sim.cluster.jobs:
            return sim
    raise AssertionError(f"no Job created; at {sim.phase}: {sim.status.message}")


def test_pre_switch_jobs_run_one_at_a_time_in_order_then_the_switch() -> None:
    sim = candidate_with({"preSwitch": [hook(), hook()]})
    assert list(sim.cluster.jobs) == [pre(0)]  # the second waits for the first
    assert sim.phase is Phase.VERIFYING and sim.status.message == f"preSwitch {pre(0)} running"
    for _ in range(3):
        p = sim.step()
        assert sim.cluster.service == BLUE and "Route:green" not in kinds(p.actions)
    assert list(sim.cluster.jobs) == [pre(0)]
    finish(sim, pre(0))
    sim.step()
    assert list(sim.cluster.jobs) == [pre(0), pre(1)]
    assert sim.status.message == f"preSwitch {pre(1)} running" and sim.cluster.service == BLUE
    finish(sim, pre(1))
    p = sim.step()
    assert sim.cluster.service == GREEN and RouteTraffic(GREEN) in p.actions
    assert [r.result for r in sim.status.hooks.runs] == ["Succeeded", "Succeeded"]
    last = sim.status.history[-1]  # the release record carries the Jobs that gated it
    assert last.result == "Promoted" and last.gates is not None
    assert [(h.name, h.result) for h in last.gates.hooks] == [
        (pre(0), "Succeeded"), (pre(1), "Succeeded")]


def test_placeholders_are_rendered_in_env_values_and_args() -> None:
    sim = candidate_with({"preSwitch": [hook()]})
    created = sim.cluster.created_jobs[0]
    c = created.spec["template"]["spec"]["containers"][0]
    assert c["args"] == ["--db", "-preview"]
    assert c["env"] == [{"name": "REV", "value": R2}, {"name": "C", "value": GREEN}]
    assert (created.revision, created.hook) == (R2, "preSwitch")


def test_render_touches_only_env_values_and_args() -> None:
    spec = {"template": {"spec": {"containers": [{"name": "{{color}}", "image": "i:{{color}}",
                                                  "command": ["{{color}}"],
                                                  "args": ["{{color}}", "x{{revision}}y"]}]}}}
    out = render(spec, {"previewService": "p", "revision": "r", "color": "c"})
    c = out["template"]["spec"]["containers"][0]
    assert c["args"] == ["c", "xry"] and c["name"] == "{{color}}" and c["command"] == ["{{color}}"]
    assert spec["template"]["spec"]["containers"][0]["args"] == ["{{color}}", "x{{revision}}y"]


@pytest.mark.parametrize(("result", "message", "deadline", "why"), [
    pytest.param("Failed", "BackoffLimitExceeded: Job has reached the specified backoff limit",
                 None, "BackoffLimitExceeded", id="failed-condition"),
    pytest.param("Running", "", 5, "DeadlineExceeded", id="past-active-deadline"),
])
def test_a_failed_pre_switch_job_rejects_and_traffic_never_moved(
        result: str, message: str, deadline: int | None, why: str) -> None:
    sim = candidate_with({"preSwitch": [hook()]})
    name = pre(0)
    if deadline is None:
        finish(sim, name, result, message)
    else:
        started = iso(sim.now - timedelta(seconds=deadline + 1))
        sim.cluster.jobs[name] = replace(sim.cluster.jobs[name], started_at=started,
                                         deadline_seconds=deadline)
    p = sim.step()
    assert p.status.phase is Phase.ROLLING_BACK
    last = p.status.history[-1]
    assert last.reason_kind == "hook" and name in last.reason and why in last.reason
    assert last.gates is not None and [h.name for h in last.gates.hooks] == [name]
    assert last.gates.hooks[0].result != "Succeeded"
    assert sim.cluster.service == BLUE and sim.status.rejected_revision == R2
    sim.run_until(Phase.ROLLED_BACK)
    assert all(f"Route:{GREEN}" not in kinds(x.actions) for x in sim.plans)


def test_the_switch_waits_for_a_fresh_health_round_after_the_jobs() -> None:
    sim = candidate_with({"preSwitch": [hook()]})
    finish(sim, pre(0))
    p = sim.step(health=None)  # no round in this pass: an old verdict never switches
    assert sim.cluster.service == BLUE and p.status.phase is Phase.VERIFYING
    assert "re-checking health" in p.status.message
    sim.step(health=True)
    assert sim.cluster.service == GREEN


def test_a_job_is_created_once_per_revision() -> None:
    sim = candidate_with({"preSwitch": [hook()]})
    for _ in range(3):
        p = sim.step()
        assert not [a for a in p.actions if isinstance(a, CreateJob)]
    # a lost status write (or a restart) asks for the same name again: never a second Job
    lost = Sim(sim.spec, status=sim.plans[-4].status, cluster=sim.cluster, now=sim.now)
    lost.cluster.jobs.clear()
    p = lost.step()
    assert [a.name for a in p.actions if isinstance(a, CreateJob)] == [pre(0)]
    assert [j.name for j in sim.cluster.created_jobs] == [pre(0), pre(0)]  # same name


def test_finished_jobs_are_deleted_after_ttl_and_never_run_again() -> None:
    sim = candidate_with({"preSwitch": [hook()], "ttlSeconds": 5})
    finish(sim, pre(0))
    p = sim.run_until(Phase.STABLE)
    assert p.requeue_after is not None and p.requeue_after <= 5  # woken for the cleanup
    deleted = []
    for _ in range(8):
        p = sim.step()
        deleted += [k for k in kinds(p.actions) if k.startswith("DeleteJob")]
    assert deleted == [f"DeleteJob:{pre(0)}"] and not sim.cluster.jobs
    assert len(sim.cluster.created_jobs) == 1


def test_the_first_revision_runs_pre_switch_hooks_too() -> None:
    sim = Sim(make_spec(V1, hooks={"preSwitch": [hook()]}))
    for _ in range(6):
        sim.step()
    assert list(sim.cluster.jobs) == [pre(0, R1)] and sim.cluster.service is None
    finish(sim, pre(0, R1))
    sim.run_until(Phase.STABLE)
    assert sim.cluster.service == BLUE


def test_paused_starts_no_job() -> None:
    sim = stable_sim(make_spec(V1))
    sim.set(template=V2, hooks={"preSwitch": [hook()]})
    sim.step()
    assert sim.phase is Phase.DEPLOYING
    sim.set(paused=True)
    for _ in range(6):
        sim.step()
    assert not sim.cluster.jobs and "paused before preSwitch" in sim.status.message
    sim.set(paused=False)
    sim.step()
    assert list(sim.cluster.jobs) == [pre(0)]


def degraded(sim: Sim) -> tuple[str, str]:
    cond = next(c for c in sim.status.conditions if c.type == "Degraded")
    return cond.status, cond.reason


def test_post_promotion_jobs_run_after_the_promotion_and_a_failure_is_degraded() -> None:
    sim = stable_sim(make_spec(V1))
    sim.set(template=V2, hooks={"postPromotion": [hook(), hook()]})
    p = sim.run_until(Phase.STABLE)
    assert list(sim.cluster.jobs) == [post(0)]  # started in the promoting pass
    assert kinds(p.actions).count(f"CreateJob:{post(0)}") == 1
    finish(sim, post(0))
    sim.step()
    assert list(sim.cluster.jobs) == [post(0), post(1)]
    finish(sim, post(1), "Failed", "BackoffLimitExceeded: boom")
    p = sim.step()
    assert degraded(sim) == ("True", "HookFailed") and sim.phase is Phase.STABLE
    assert [e.type for e in p.events if e.reason == "HookFailed"] == ["Warning"]
    assert post(1) in sim.status.message and "boom" in sim.status.message
    for _ in range(3):
        p = sim.step()
        assert "HookFailed" not in sim.events(p)  # said once
    assert sim.cluster.service == GREEN and sim.status.active_color == GREEN


def test_post_promotion_is_not_run_by_a_revert_to_the_previous_revision() -> None:
    # ttlSeconds 0: a finished Job is gone at once, so only status.hooks can tell it ran
    sim = stable_sim(make_spec(V1, hooks={"postPromotion": [hook()], "ttlSeconds": 0}))
    finish(sim, post(0, R1))
    sim.set_template(V2)
    sim.run_until(Phase.STABLE)
    finish(sim, post(0))
    sim.set_template(V1)  # back within the scale-down window: an instant switch back
    sim.run_until(Phase.STABLE)
    assert sim.cluster.service == BLUE
    assert [j.name for j in sim.cluster.created_jobs] == [post(0, R1), post(0)]


@pytest.mark.parametrize(("name", "invalid"), [
    pytest.param("a" * 36, False, id="fits"),  # 36 + len("-<10 hex>-postpromotion-9") = 63
    pytest.param("a" * 37, True, id="too-long"),
])
def test_hook_job_names_must_fit_a_label(name: str, invalid: bool) -> None:
    parsed = parse_spec(make_spec(V1, hooks={"postPromotion": [hook()] * 10}), name)
    assert isinstance(parsed, InvalidSpec) is invalid
    if invalid:
        assert isinstance(parsed, InvalidSpec) and "spec.hooks.postPromotion" in parsed.reason
