"""The ``kubectl finnexus get`` drawing and the phase -> exit code rule, as pure functions."""

from __future__ import annotations

import time
from typing import Any

import pytest

from finnexus_operator.core.revision import revision_of
from finnexus_operator.kubectl import render
from finnexus_operator.kubectl.commands import status_line, verdict
from finnexus_operator.kubectl.exits import Exit

NOW = 1_800_000_000.0
TEMPLATE = {"spec": {"containers": [{"name": "web", "image": "app:2"}]}}


def _dep(color: str, rev: str, image: str, replicas: int = 2) -> dict[str, Any]:
    return {"metadata": {"name": f"web-{color}"}, "spec": {"replicas": replicas, "template": {
        "metadata": {"labels": {"finnexus.ai/revision": rev}},
        "spec": {"containers": [{"name": "web", "image": image}]}}}}


def _resource(status: dict[str, Any], generation: int = 3, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "shop", "generation": generation},
            "spec": {"template": TEMPLATE, "replicas": 2,
                     "healthCheck": {"successThreshold": 3, "failureThreshold": 2},
                     "ingress": {"host": "web.example.com"}, **spec},
            "status": {"observedGeneration": generation, **status}}


def _snap(status: dict[str, Any], ready: dict[str, int] | None = None,
          events: list[dict[str, Any]] | None = None, **spec: Any) -> render.Snapshot:
    ingress = {"spec": {"rules": [{"http": {"paths": [{"backend": {"service": {
        "name": "web-blue"}}}]}}]}}
    return render.Snapshot(
        _resource(status, **spec),
        {"blue": _dep("blue", "aaaa", "app:1"), "green": _dep("green", "bbbb", "app:2")},
        ready if ready is not None else {"blue": 2, "green": 1}, ingress, events or [], NOW)


ANALYZING = {"phase": "Analyzing", "message": "round 4/10", "activeColor": "green",
             "stableRevision": "aaaa", "candidateColor": "green", "candidateRevision": "bbbb",
             "analysis": {"round": 4, "checks": 10, "passed": 4, "metrics": [
                 {"name": "error-rate", "value": 0.0002, "verdict": "Pass", "failures": 0,
                  "noData": 1, "errors": 0}]}}


@pytest.mark.parametrize(("status", "spec", "expected"), [
    ({"phase": "Pending"}, {}, "the operator's first pass"),
    ({"phase": "Deploying", "candidateColor": "green"}, {}, "candidate green pods Ready (1/2)"),
    ({"phase": "Verifying", "candidateColor": "green",
      "healthCheck": {"consecutiveSuccesses": 1}}, {}, "health round 2/3"),
    ({"phase": "AwaitingPromotion", "candidateColor": "green"}, {},
     "waiting for a promote request (kubectl finnexus promote web -n shop)"),
    ({"phase": "AwaitingPromotion"}, {"paused": True},
     "waiting for a promote request (kubectl finnexus promote web -n shop) "
     "(paused: kubectl finnexus resume to continue)"),
    (ANALYZING, {}, "analysis round 5/10"),
    ({"phase": "Stable", "scaleDown": {"color": "blue", "after": "2027-01-15T08:00:12Z"}}, {},
     "scale-down of blue in 12 s"),
    ({"phase": "Stable"}, {}, "nothing: a new spec.template starts a rollout"),
    ({"phase": "RolledBack"}, {},
     "a new spec.template, or a retry request (kubectl finnexus retry web -n shop)"),
    ({"phase": "Invalid"}, {}, "a corrected spec (see the message)"),
])
def test_next_step_says_what_the_operator_waits_for(status: dict[str, Any], spec: dict[str, Any],
                                                     expected: str) -> None:
    assert render.next_step(_snap(status, **spec)) == expected


def test_next_step_first_waits_for_the_latest_generation() -> None:
    snap = _snap({"phase": "Stable"})
    snap.resource["metadata"]["generation"] = 4
    assert render.next_step(snap) == "the operator to observe generation 4 (it has seen 3)"


def test_roles_follow_the_status() -> None:
    analyzing = _snap(ANALYZING)
    assert render.roles(analyzing, "green") == ["active", "preview", "candidate"]
    assert render.roles(analyzing, "blue") == ["stable"]
    idle = _snap({"phase": "Stable", "activeColor": "blue", "stableRevision": "aaaa"})
    assert render.roles(idle, "blue") == ["active", "preview", "stable"]
    assert render.roles(idle, "green") == []


def test_the_tree_shows_colours_route_analysis_health_and_the_newest_events() -> None:
    events = [{"type": "Normal", "reason": f"R{i}", "message": f"m{i}",
               "lastTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 60 + i))}
              for i in (3, 1, 6, 2, 5, 4)]
    text = render.tree(_snap(dict(ANALYZING, healthCheck={"consecutiveSuccesses": 7,
                                                          "consecutiveFailures": 0}),
                             events=events, analysis={"metrics": [
                                 {"name": "error-rate", "max": 0.001},
                                 {"name": "latency-p95", "min": 0.0, "max": 0.2}]}))
    lines = text.splitlines()
    assert lines[2] == "Phase:       ◌ Analyzing"
    green = next(line for line in lines if "green: web-green" in line).split()
    assert green[-4:] == ["active,preview,candidate", "bbbb", "1/2", "app:2"]
    assert next(line for line in lines if "blue: web-blue" in line).split()[-4:] == [
        "stable", "aaaa", "2/2", "app:1"]
    assert "└── ingress: web" in text and "backend web-blue" in text
    assert "Analysis:    round 4/10 (4 passed)" in text
    assert next(line for line in lines if line.strip().startswith("error-rate")).split() == [
        "error-rate", "0.0002", "<=", "0.001", "Pass", "0", "1", "0"]
    assert next(line for line in lines if line.strip().startswith("latency-p95")).split() == [
        "latency-p95", "-", "0..0.2", "-", "0", "0", "0"]
    assert "Health:      7 passed / 0 failed consecutive rounds (need 3, reject at 2)" in text
    shown = [line.split()[2] for line in lines[lines.index(
        "Events (last 5, newest last):") + 2:]]
    assert shown == ["R2", "R3", "R4", "R5", "R6"]


@pytest.mark.parametrize(("seconds", "text"), [(5, "5s"), (119, "119s"), (190, "3m10s"),
                                               (1200, "20m"), (4 * 3600, "4h"),
                                               (3 * 86400, "3d"), (None, "<unknown>")])
def test_age_is_kubectls(seconds: float | None, text: str) -> None:
    assert render.age(seconds) == text


REV = revision_of(TEMPLATE)


@pytest.mark.parametrize(("status", "generation", "code"), [
    ({"phase": "Stable", "stableRevision": REV}, 3, Exit.OK),
    ({"phase": "RolledBack"}, 3, Exit.REJECTED),
    ({"phase": "Failed"}, 3, Exit.REJECTED),
    ({"phase": "Invalid"}, 3, Exit.REJECTED),
    ({"phase": "Analyzing"}, 3, None),
    ({"phase": "RollingBack"}, 3, None),
    ({}, 3, None),
    ({"phase": "Stable", "stableRevision": REV, "observedGeneration": 2}, 3, None),  # stale
    ({"phase": "RolledBack", "observedGeneration": 2}, 3, None),
    ({"phase": "Stable", "stableRevision": "0000000000"}, 3, None),  # paused new template
])
def test_verdict_answers_only_for_the_applied_spec(status: dict[str, Any], generation: int,
                                                   code: Exit | None) -> None:
    resource = _resource(status, generation)
    if "observedGeneration" in status:
        resource["status"]["observedGeneration"] = status["observedGeneration"]
    assert verdict(resource) == code


def test_status_line_says_why_it_is_not_the_answer_yet() -> None:
    resource = _resource({"phase": "Stable", "message": "paused", "stableRevision": "0000"})
    assert status_line(resource) == f"Stable: paused (the spec's revision {REV} is not rolled " \
        "out yet)"
    resource["status"]["observedGeneration"] = 1
    assert status_line(resource).endswith("(generation 3 not yet observed by the operator)")
