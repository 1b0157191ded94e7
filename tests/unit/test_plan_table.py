"""Tables over decide(): every phase transition and request of DESIGN.md §2.

Each test drives the pure core through ``planlib.Sim`` (a deterministic fake cluster that
applies the actions) and checks one rule: the phase, the actions and their order, the status
fields, the Events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from finnexus_operator.core.actions import (
    ClearRequest,
    EnsureDeployment,
    RemoveIngress,
    RouteTraffic,
)
from finnexus_operator.core.measurement import QueryResult
from finnexus_operator.core.observed import DeploymentState, HealthRound, Observed
from finnexus_operator.core.revision import revision_of
from finnexus_operator.core.rollout import HISTORY_LIMIT
from finnexus_operator.models.phases import Phase
from finnexus_operator.models.status import FinNexusDeploymentStatus
from tests.unit.planlib import (
    BLUE,
    GREEN,
    R1,
    R2,
    R3,
    R4,
    T0,
    V1,
    V2,
    V3,
    V4,
    Cluster,
    Sim,
    analysis,
    decide,
    due_now,
    good,
    kinds,
    make_spec,
    round_of,
    stable_sim,
    switched_sim,
    template,
)

BAD = round_of(error_rate=QueryResult.value_of(0.052))
NODATA = round_of(error_rate=QueryResult.no_data("empty vector"))
ERROR = round_of(error_rate=QueryResult.error("HTTP 500"))


# -- situations -------------------------------------------------------------------------------
def reach(where: str, **spec_kw: Any) -> Sim:
    """A Sim in a named situation. V1 is the first revision (blue), V2 the candidate (green)."""
    spec_kw.setdefault("analysis_spec", analysis())
    if where == "awaiting":
        spec_kw["auto"] = False
    sim = Sim(make_spec(V1, **spec_kw))
    if where == "first-deploying":
        sim.step()
        return sim
    if where == "first-verifying":
        sim.run_until(Phase.VERIFYING)
        return sim
    if where == "failed":
        sim.run_until(Phase.FAILED, health=False)
        return sim
    sim.run_until(Phase.STABLE)
    if where == "stable":
        return sim
    sim.set_template(V2)
    if where == "deploying":
        sim.step()
        return sim
    if where == "verifying":
        sim.run_until(Phase.VERIFYING)
        return sim
    if where == "awaiting":
        sim.run_until(Phase.AWAITING_PROMOTION)
        return sim
    sim.run_until(Phase.ANALYZING)
    if where == "analyzing":
        return sim
    if where in ("rolling-back", "rolled-back"):
        sim.run_until(Phase.ROLLING_BACK, metrics=BAD, apply=where == "rolled-back")
        assert sim.cluster.service == (BLUE if where == "rolled-back" else GREEN)
        if where == "rolled-back":
            sim.run_until(Phase.ROLLED_BACK)
        return sim
    sim.run_until(Phase.STABLE, metrics=good())
    if where == "stable-in-window":
        return sim
    if where == "stable-after-window":
        sim.now += timedelta(seconds=31)
        sim.step()
        return sim
    raise AssertionError(where)


def idx(actions: list[str], item: str) -> int:
    assert item in actions, f"{item} not in {actions}"
    return actions.index(item)


# -- first deploy -------------------------------------------------------------------------------
@pytest.mark.parametrize("spec_kw", [
    {},
    {"analysis_spec": analysis()},
    {"auto": False},
    {"auto": False, "analysis_spec": analysis()},
    {"ingress": True},
])
def test_first_revision_deploys_verifies_switches_without_gate_or_analysis(spec_kw: Any) -> None:
    sim = Sim(make_spec(V1, **spec_kw))
    phases = [sim.step().status.phase for _ in range(3)]
    assert phases == [Phase.DEPLOYING, Phase.VERIFYING, Phase.STABLE]
    st = sim.status
    assert (st.active_color, st.stable_revision, st.candidate_color) == (BLUE, R1, None)
    assert sim.cluster.service == BLUE
    assert sim.cluster.ingress == (BLUE if spec_kw.get("ingress") else None)
    assert st.analysis is None
    assert [(h.revision, h.color, h.result) for h in st.history] == [(R1, BLUE, "Promoted")]
    assert "TrafficSwitched" in sim.all_events() and "Promoted" in sim.all_events()
    assert "AnalysisStarted" not in sim.all_events()


def test_first_pass_creates_blue_candidate_and_no_traffic_route() -> None:
    p = Sim(make_spec(V1)).step()
    assert kinds(p.actions) == ["Services", f"Ensure:blue:{R1}:2", "Preview:blue"]
    assert p.status.candidate_color == BLUE and p.status.candidate_revision == R1
    assert p.status.active_color is None
    assert [e.reason for e in p.events] == ["NewRevision", "Deploying"]


def test_paused_first_revision_stays_pending_and_touches_no_deployment() -> None:
    sim = Sim(make_spec(V1, paused=True))
    for _ in range(3):
        p = sim.step()
        assert p.status.phase is Phase.PENDING
        assert kinds(p.actions) == ["Services"]
    sim.set(paused=False)
    assert sim.step().status.phase is Phase.DEPLOYING


# -- new revision colour -------------------------------------------------------------------------
@pytest.mark.parametrize(("releases", "color"), [(1, GREEN), (2, BLUE), (3, GREEN)])
def test_new_candidate_gets_the_colour_that_is_not_active(releases: int, color: str) -> None:
    sim = stable_sim(make_spec(V1))
    for i, tmpl in enumerate([V2, V3, V4][:releases]):
        sim.set_template(tmpl)
        p = sim.step()
        assert p.status.candidate_color == (GREEN if i % 2 == 0 else BLUE)
        sim.run_until(Phase.STABLE)
    assert sim.status.active_color == color
    assert sim.cluster.service == color


# -- readiness and deadline ---------------------------------------------------------------------
@pytest.mark.parametrize(("ready", "phase", "message"), [
    (0, Phase.DEPLOYING, "0/2 pods Ready"),
    (1, Phase.DEPLOYING, "1/2 pods Ready"),
    (2, Phase.VERIFYING, "health checks 1/2 passing rounds on 2/2 pods"),
])
def test_candidate_waits_for_ready_pods_before_health_checks(
    ready: int, phase: Phase, message: str
) -> None:
    sim = reach("deploying", analysis_spec=None)
    sim.cluster.pods_ready(GREEN, ready)
    obs = sim.cluster.observe()
    assert bool(due_now(sim.spec, sim.status, obs, sim.now).health) is (ready == 2)
    p = sim.step(ready=False)
    assert p.status.phase is phase
    assert message in p.status.message
    assert p.status.active_color == BLUE


@pytest.mark.parametrize("first", [True, False])
@pytest.mark.parametrize("stall", ["not-ready", "no-health-round", "flapping-health"])
def test_progress_deadline_rejects_in_deploying_and_verifying(first: bool, stall: str) -> None:
    spec = make_spec(V1 if first else V2, deadline=10, success=3, failure=3)
    sim = Sim(spec) if first else stable_sim(make_spec(V1, deadline=10, success=3, failure=3))
    if not first:
        sim.set_template(V2)
    flip = [True, True, False]
    kw: dict[str, Any] = {"ready": stall != "not-ready",
                          "health": None if stall == "no-health-round" else True}
    seen = set()
    for i in range(30):
        if stall == "flapping-health":
            kw["health"] = flip[i % 3]
        p = sim.step(**kw)
        seen.add(p.status.phase)
        if p.status.phase in (Phase.FAILED, Phase.ROLLING_BACK):
            break
    assert (Phase.DEPLOYING if stall == "not-ready" else Phase.VERIFYING) in seen
    assert p.status.phase is (Phase.FAILED if first else Phase.ROLLING_BACK)
    assert "progress deadline exceeded" in p.status.message
    assert "within 10s" in p.status.message
    elapsed = (sim.now - timedelta(seconds=1) - T0).total_seconds()
    assert elapsed > 10


def test_deadline_is_not_exceeded_at_exactly_the_deadline() -> None:
    sim = reach("deploying", analysis_spec=None, deadline=5)
    sim.now += timedelta(seconds=4)  # candidate_since + 5 at the next step
    since = sim.status.candidate_since
    assert since is not None
    p = sim.step(ready=False)
    assert p.status.phase is Phase.DEPLOYING
    p = sim.step(ready=False)
    assert p.status.phase is Phase.ROLLING_BACK


def test_verifying_candidate_losing_ready_pods_resets_health_and_returns_to_deploying() -> None:
    sim = reach("verifying", analysis_spec=None, success=3)
    assert sim.status.health_check.consecutive_successes == 1
    sim.cluster.pods_ready(GREEN, 1)
    p = sim.step(ready=False)
    assert p.status.phase is Phase.DEPLOYING
    assert p.status.health_check.consecutive_successes == 0


# -- health thresholds --------------------------------------------------------------------------
@pytest.mark.parametrize(("rounds", "phase", "successes", "failures"), [
    ("T", Phase.VERIFYING, 1, 0),
    ("TT", Phase.VERIFYING, 2, 0),
    ("TTT", Phase.STABLE, 0, 0),
    ("TTFTT", Phase.VERIFYING, 2, 0),
    ("TTFTTT", Phase.STABLE, 0, 0),
    ("F", Phase.VERIFYING, 0, 1),
    ("FF", Phase.VERIFYING, 0, 2),
    ("FFF", Phase.ROLLING_BACK, 0, 3),
    ("FFTFF", Phase.VERIFYING, 0, 2),
    ("FFTFFF", Phase.ROLLING_BACK, 0, 3),
    ("TFTFTF", Phase.VERIFYING, 0, 1),
])
def test_health_thresholds_count_consecutive_rounds(
    rounds: str, phase: Phase, successes: int, failures: int
) -> None:
    sim = reach("deploying", analysis_spec=None, success=3, failure=3)
    for r in rounds:
        p = sim.step(health=r == "T")
    assert p.status.phase is phase
    if phase is Phase.VERIFYING:
        hc = p.status.health_check
        assert (hc.consecutive_successes, hc.consecutive_failures) == (successes, failures)
    if phase is Phase.ROLLING_BACK:
        assert "health checks failed 3 consecutive rounds (failureThreshold 3): HTTP 503" in (
            p.status.message)
        assert p.status.rejected_revision == R2
    if phase is Phase.STABLE:
        assert p.status.stable_revision == R2


def test_health_failure_message_is_kept_as_last_error() -> None:
    sim = reach("deploying", analysis_spec=None, success=3, failure=3)
    p = sim.step(health=False, detail="pod web-green-x 10.0.0.7:8080/health: HTTP 503")
    assert p.status.health_check.last_error == "pod web-green-x 10.0.0.7:8080/health: HTTP 503"
    assert "last error: pod web-green-x" in p.status.message


def test_health_is_probed_only_at_the_interval() -> None:
    sim = reach("verifying", analysis_spec=None, interval=5, success=3)
    obs = sim.cluster.observe()
    last = sim.now - timedelta(seconds=1)  # the Verifying step probed one second ago
    assert not due_now(sim.spec, sim.status, obs, last + timedelta(seconds=4)).health
    assert due_now(sim.spec, sim.status, obs, last + timedelta(seconds=5)).health


# -- manual gate and switch ---------------------------------------------------------------------
@pytest.mark.parametrize("with_analysis", [True, False])
def test_manual_gate_waits_for_promote_then_switches(with_analysis: bool) -> None:
    sim = reach("awaiting", analysis_spec=analysis() if with_analysis else None)
    for _ in range(5):
        p = sim.step()
        assert p.status.phase is Phase.AWAITING_PROMOTION
        assert RouteTraffic(BLUE) in p.actions and RouteTraffic(GREEN) not in p.actions
    p = sim.step(request="promote")
    assert p.status.phase is (Phase.ANALYZING if with_analysis else Phase.STABLE)
    assert RouteTraffic(GREEN) in p.actions
    assert ClearRequest("promote") in p.actions
    assert "Request" in sim.events(p) and "TrafficSwitched" in sim.events(p)
    assert sim.cluster.request is None


def test_switch_pass_routes_traffic_and_preview_to_candidate_and_keeps_stable() -> None:
    sim = reach("verifying", analysis_spec=analysis())
    p = sim.step()
    assert p.status.phase is Phase.ANALYZING
    # the candidate is ensured before traffic is routed to it
    assert kinds(p.actions) == ["Services", "Scale:blue:2", f"Ensure:green:{R2}:2",
                                "Route:green", "Preview:green"]
    assert p.status.active_color == GREEN and p.status.switched_at is not None
    assert p.status.message == "round 0/3: traffic on green, first measurement in 1s"


def test_before_switch_traffic_stays_on_stable_and_preview_on_candidate() -> None:
    sim = reach("verifying", analysis_spec=analysis(), success=3)
    acts = kinds(sim.last.actions)  # type: ignore[union-attr]
    assert "Route:blue" in acts and "Preview:green" in acts and "Route:green" not in acts


# -- analysis -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("limits", "rounds", "phase"), [
    ({}, "PPP", Phase.STABLE),
    ({}, "PP", Phase.ANALYZING),
    ({}, "PPF", Phase.ROLLING_BACK),
    ({"failureLimit": 1}, "PFP", Phase.ANALYZING),
    ({"failureLimit": 1}, "PFPP", Phase.STABLE),
    ({"failureLimit": 1}, "FPF", Phase.ROLLING_BACK),
    ({"noDataLimit": 1}, "PNP", Phase.ANALYZING),
    ({"noDataLimit": 1}, "NN", Phase.ROLLING_BACK),
    ({"noDataLimit": 1}, "NPNPNP", Phase.STABLE),
    ({"noDataLimit": 1}, "NPNPN", Phase.ANALYZING),
    ({"noDataLimit": 0}, "N", Phase.ROLLING_BACK),
    ({"noDataLimit": 2}, "NN", Phase.ANALYZING),
    ({"noDataLimit": 2}, "NNN", Phase.ROLLING_BACK),
    ({"errorLimit": 1}, "EPEPE", Phase.ANALYZING),
    ({"errorLimit": 1}, "EPEPEP", Phase.STABLE),
    ({"failureLimit": 2, "noDataLimit": 1, "errorLimit": 1}, "FNPEPFP", Phase.STABLE),
    ({"failureLimit": 2}, "FPFPF", Phase.ROLLING_BACK),
    ({"errorLimit": 1}, "PEE", Phase.ROLLING_BACK),
    ({"errorLimit": 0}, "E", Phase.ROLLING_BACK),
    ({"errorLimit": 3}, "EEEP", Phase.ANALYZING),
    ({"errorLimit": 3}, "EEEE", Phase.ROLLING_BACK),
    ({"checks": 1}, "P", Phase.STABLE),
    ({"checks": 1, "noDataLimit": 5}, "NNNNP", Phase.STABLE),
])
def test_analysis_rounds_and_limits(limits: dict[str, int], rounds: str, phase: Phase) -> None:
    sim = switched_sim(make_spec(V1, analysis_spec=analysis(**limits)))
    by = {"P": good(), "F": BAD, "N": NODATA, "E": ERROR}
    for i, r in enumerate(rounds):
        p = sim.step(metrics=by[r])
        if i < len(rounds) - 1:
            assert p.status.phase is Phase.ANALYZING, (i, p.status.message)
    assert p.status.phase is phase
    if phase is Phase.STABLE:
        assert p.status.stable_revision == R2 and p.status.active_color == GREEN
        assert sim.status.history[-1].result == "Promoted"
        assert "AnalysisPassed" in sim.events(p)
        assert sim.status.history[-1].reason == "analysis passed 3/3 rounds" or (
            limits.get("checks") == 1)
    if phase is Phase.ROLLING_BACK:
        assert p.status.rejected_revision == R2 and p.status.active_color == BLUE
        assert "AnalysisFailed" in sim.events(p)
        assert sim.status.history[-1].result == "RolledBack"


@pytest.mark.parametrize(("rounds", "message"), [
    ("P", "round 1/10: error-rate 0.0002 <= 0.001; latency-p95 0.12 <= 0.2"),
    ("PPPP", "round 4/10: error-rate 0.0002 <= 0.001; latency-p95 0.12 <= 0.2"),
    ("PN", "round 2 (1/10 passed): error-rate no data (empty vector); latency-p95 0.12 <= 0.2"),
    ("PE", "round 2 (1/10 passed): error-rate error (HTTP 500); latency-p95 0.12 <= 0.2"),
])
def test_analysis_round_message(rounds: str, message: str) -> None:
    sim = switched_sim(make_spec(V1, analysis_spec=analysis(checks=10, noDataLimit=3,
                                                              errorLimit=3)))
    by = {"P": good(), "N": NODATA, "E": ERROR}
    for r in rounds:
        p = sim.step(metrics=by[r])
    assert p.status.phase is Phase.ANALYZING
    assert p.status.message == message
    a = p.status.analysis
    assert a is not None and a.round == len(rounds) and a.checks == 10


def test_breach_message_names_value_bound_round_and_limit() -> None:
    sim = switched_sim(make_spec(V1, analysis_spec=analysis(checks=10)))
    sim.step(metrics=good())
    sim.step(metrics=good())
    p = sim.step(metrics=BAD)
    breach = "error-rate 0.052 > 0.001 (round 3, failureLimit 0)"
    assert p.status.message == f"rolling back {R2}: {breach}"
    assert any(e.message == breach and e.type == "Warning" for e in p.events)
    degraded = {c.type: c for c in p.status.conditions}["Degraded"]
    assert degraded.status == "True" and breach in degraded.message
    assert p.status.history[-1].reason == breach


def test_measurement_is_due_only_at_the_analysis_interval() -> None:
    sim = switched_sim(make_spec(V1, analysis_spec=analysis(intervalSeconds=10)))
    obs = sim.cluster.observe()
    switched = sim.now - timedelta(seconds=1)
    assert not due_now(sim.spec, sim.status, obs, switched + timedelta(seconds=9)).metrics
    assert due_now(sim.spec, sim.status, obs, switched + timedelta(seconds=10)).metrics
    # a pass without measurements changes no counters
    p = decide(sim.spec, sim.status, obs, switched + timedelta(seconds=5))
    assert p.status.analysis == sim.status.analysis


# -- rollback ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cause", ["breach", "abort", "undo"])
def test_rollback_routes_traffic_to_stable_before_scaling_candidate_down(cause: str) -> None:
    sim = reach("analyzing")
    p = sim.step(metrics=BAD) if cause == "breach" else sim.step(request=cause)
    assert p.status.phase is Phase.ROLLING_BACK
    acts = kinds(p.actions)
    assert idx(acts, "Route:blue") < idx(acts, "Scale:green:0")
    assert idx(acts, "Scale:blue:2") < idx(acts, "Scale:green:0")
    assert not any(a.startswith("Ensure:green") for a in acts)
    assert "Preview:blue" in acts


@pytest.mark.parametrize(("route", "scale", "ingress_too", "done"), [
    (False, False, True, False),
    (True, False, True, False),
    (False, True, True, False),
    (True, True, False, False),
    (True, True, True, True),
])
def test_rolled_back_only_after_traffic_is_back_and_candidate_is_scaled_to_zero(
    route: bool, scale: bool, ingress_too: bool, done: bool
) -> None:
    sim = reach("rolling-back", ingress=True)  # actions of the breach pass were not applied
    assert sim.cluster.service == GREEN and sim.cluster.ingress == GREEN
    if route:
        sim.cluster.service = BLUE
        if ingress_too:
            sim.cluster.ingress = BLUE
    if scale:
        sim.cluster.deployments[GREEN] = DeploymentState(R2, 0, 0)
    p = decide(sim.spec, sim.status, sim.cluster.observe(), sim.now)
    assert p.status.phase is (Phase.ROLLED_BACK if done else Phase.ROLLING_BACK)
    if done:
        assert p.status.candidate_color is None and p.status.active_color == BLUE
        assert p.status.message.startswith(f"{R2} rolled back; traffic on blue ({R1}): ")
        assert [e.reason for e in p.events] == ["RolledBack"]
    else:
        assert RouteTraffic(BLUE) in p.actions


@pytest.mark.parametrize("cause", ["health", "deadline", "abort"])
def test_first_revision_rejected_is_failed(cause: str) -> None:
    sim = Sim(make_spec(V1, deadline=5))
    sim.step()
    if cause == "health":
        p = sim.run_until(Phase.FAILED, health=False)
    elif cause == "deadline":
        p = sim.run_until(Phase.FAILED, ready=False)
    else:
        p = sim.step(request="abort")
    st = p.status
    assert st.phase is Phase.FAILED
    assert st.active_color is None and st.stable_revision is None
    assert st.candidate_color is None and st.rejected_revision == R1
    assert "no stable revision to return to" in st.message
    assert st.history[-1].result == "Failed"
    assert "Scale:blue:0" in kinds(p.actions)
    assert not any(a.startswith("Route:") for a in kinds(p.actions))
    # stays Failed, does not retry
    for _ in range(3):
        p = sim.step()
        assert p.status.phase is Phase.FAILED
        assert not any(a.startswith("Ensure:") for a in kinds(p.actions))


def test_rejected_revision_is_not_retried_until_the_template_changes_or_retry() -> None:
    sim = reach("rolled-back")
    for _ in range(5):
        p = sim.step()
        assert p.status.phase is Phase.ROLLED_BACK and p.status.candidate_color is None
        assert not any(a.startswith("Ensure:green") for a in kinds(p.actions))
    assert p.status.message.startswith(f"{R2} rolled back; traffic on blue ({R1})")
    sim.set_template(V3)
    p = sim.step()
    assert (p.status.phase, p.status.candidate_revision) == (Phase.DEPLOYING, R3)
    sim.set_template(V2)  # back to the rejected one: supersedes V3, does not retry V2
    p = sim.step()
    assert p.status.candidate_color is None and p.status.phase is Phase.ROLLED_BACK
    p = sim.step(request="retry")
    assert p.status.rejected_revision is None
    assert (p.status.phase, p.status.candidate_revision) == (Phase.DEPLOYING, R2)
    assert ClearRequest("retry") in p.actions


# -- scale-down of the old colour -------------------------------------------------------------
@pytest.mark.parametrize("delay", [0, 5, 30])
def test_old_colour_is_scaled_down_only_after_the_delay(delay: int) -> None:
    sim = stable_sim(make_spec(V1, scale_down_delay=delay))
    sim.set_template(V2)
    p = sim.run_until(Phase.STABLE)
    promoted = sim.now - timedelta(seconds=1)
    if delay == 0:  # due at once: scaled down in the promotion pass, after the route
        acts = kinds(p.actions)
        assert idx(acts, "Route:green") < idx(acts, "Scale:blue:0")
        return
    assert p.status.scale_down is not None and p.status.scale_down.color == BLUE
    assert sim.cluster.deployments[BLUE].replicas == 2
    for t in range(delay):
        q = decide(sim.spec, p.status, sim.cluster.observe(), promoted + timedelta(seconds=t))
        assert not any(a.startswith("Scale:blue") for a in kinds(q.actions)), t
    q = decide(sim.spec, p.status, sim.cluster.observe(), promoted + timedelta(seconds=delay))
    assert "Scale:blue:0" in kinds(q.actions)
    assert q.status.scale_down is None
    assert "OldColorScaledDown" in [e.reason for e in q.events]
    if delay:
        assert 0 < (p.requeue_after or 0) <= delay


# -- superseding --------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["first-deploying", "first-verifying", "deploying",
                                   "verifying", "awaiting"])
def test_new_template_before_switch_replaces_candidate_on_same_colour(where: str) -> None:
    sim = reach(where)
    old_color, old_rev = sim.status.candidate_color, sim.status.candidate_revision
    sim.set_template(V3)
    p = sim.step()
    st = p.status
    assert st.phase is Phase.DEPLOYING
    assert (st.candidate_color, st.candidate_revision) == (old_color, R3)
    assert st.history[-1].result == "Superseded" and st.history[-1].revision == old_rev
    assert f"Ensure:{old_color}:{R3}:2" in kinds(p.actions)
    assert st.health_check.consecutive_successes == 0
    assert "Superseded" in sim.events(p)
    if st.stable_revision:
        assert "Route:blue" in kinds(p.actions) and st.active_color == BLUE


def test_new_template_after_switch_returns_traffic_to_stable_first() -> None:
    sim = reach("analyzing")
    sim.set_template(V3)
    p = sim.step()
    acts = kinds(p.actions)
    assert p.status.active_color == BLUE
    assert (p.status.candidate_color, p.status.candidate_revision) == (GREEN, R3)
    assert p.status.history[-1].result == "Superseded"
    assert idx(acts, "Route:blue") < idx(acts, f"Ensure:green:{R3}:2")
    assert p.status.analysis is None
    assert any("traffic returned to the stable colour first" in e.message for e in p.events)


def test_lost_status_after_first_switch_never_replaces_or_scales_down_the_live_colour() -> None:
    sim = Sim(make_spec(V1))
    sim.run_until(Phase.VERIFYING)
    sim.step(store=False)  # the switch pass: the Service now selects blue, the status is lost
    assert sim.cluster.service == BLUE and sim.status.phase is Phase.VERIFYING
    sim.set_template(V2)
    p = sim.step()
    assert (p.status.candidate_color, p.status.candidate_revision) == (GREEN, R2)
    acts = kinds(p.actions)
    assert not any(a.startswith(("Ensure:blue", "Scale:blue")) for a in acts), acts
    p = sim.run_until(Phase.STABLE)
    acts = kinds(p.actions)
    assert p.status.active_color == GREEN
    assert idx(acts, "Route:green") < idx(acts, "Scale:blue:0")


def test_new_template_equal_to_stable_cancels_the_rollout() -> None:
    sim = reach("analyzing")
    sim.set_template(V1)
    p = sim.step()
    assert p.status.phase is Phase.STABLE and p.status.candidate_color is None
    acts = kinds(p.actions)
    assert idx(acts, "Route:blue") < idx(acts, "Scale:green:0")


# -- paused -------------------------------------------------------------------------------------
def test_paused_stable_does_not_start_a_candidate() -> None:
    sim = reach("stable")
    sim.set(paused=True)
    sim.set_template(V2)
    for _ in range(3):
        p = sim.step()
        assert p.status.candidate_color is None
        assert not any(a.startswith("Ensure:green") for a in kinds(p.actions))
    assert "paused" in p.status.message
    sim.set(paused=False)
    assert sim.step().status.candidate_revision == R2


@pytest.mark.parametrize("first", [True, False])
def test_paused_healthy_candidate_is_not_switched(first: bool) -> None:
    sim = reach("first-verifying" if first else "verifying", analysis_spec=None, success=3)
    sim.set(paused=True)
    for _ in range(6):
        p = sim.step()
        assert RouteTraffic(sim.status.candidate_color or "?") not in p.actions
        assert p.status.candidate_color is not None, p.status.message
    assert p.status.phase is Phase.VERIFYING
    sim.set(paused=False)
    p = sim.step()
    assert p.status.phase is Phase.STABLE


@pytest.mark.parametrize("unpaused_round", ["N", "E"])
def test_unpausing_after_enough_passing_rounds_does_not_promote_on_missing_data(
    unpaused_round: str
) -> None:
    sim = reach("analyzing", analysis_spec=analysis(noDataLimit=3, errorLimit=3))
    sim.set(paused=True)
    for _ in range(4):
        sim.step(metrics=good())
    sim.set(paused=False)
    p = sim.step(metrics=NODATA if unpaused_round == "N" else ERROR)
    assert p.status.phase is Phase.ANALYZING
    assert sim.step(metrics=good()).status.phase is Phase.STABLE


def test_candidate_without_revision_in_status_is_started_over() -> None:
    sim = reach("verifying")
    sim.status = sim.status.model_copy(update={"candidate_revision": None,
                                               "candidate_undo": True})
    p = sim.step()
    assert p.status.candidate_revision == R2 and p.status.phase is Phase.DEPLOYING


def test_paused_analysis_does_not_promote_but_unpause_does() -> None:
    sim = reach("analyzing")
    sim.set(paused=True)
    for _ in range(5):
        p = sim.step(metrics=good())
        assert p.status.phase is Phase.ANALYZING
    assert p.status.message.endswith("paused: not promoting")
    sim.set(paused=False)
    assert sim.step(metrics=good()).status.phase is Phase.STABLE


@pytest.mark.parametrize("how", ["breach", "health", "abort", "undo"])
def test_paused_never_suppresses_a_rollback(how: str) -> None:
    sim = reach("verifying" if how == "health" else "analyzing", paused=False)
    sim.set(paused=True)
    if how == "breach":
        p = sim.step(metrics=BAD)
    elif how == "health":
        p = sim.run_until(Phase.ROLLING_BACK, health=False, max_steps=3)
    else:
        p = sim.step(request=how)
    assert p.status.phase is Phase.ROLLING_BACK
    assert RouteTraffic(BLUE) in p.actions
    p = sim.step()
    assert p.status.phase is Phase.ROLLED_BACK


def test_paused_new_template_mid_rollout_leaves_no_in_progress_phase_without_candidate() -> None:
    sim = reach("analyzing")
    sim.set(paused=True)
    sim.set_template(V3)
    p = sim.step()
    if p.status.candidate_color is None:
        assert not p.status.phase or not p.status.phase.in_progress, p.status.phase
    assert p.status.active_color == BLUE


# -- invalid ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("patch", "field"), [
    ({"replicas": 0}, "spec.replicas"),
    ({"template": None}, "spec.template"),
    ({"template": {"spec": {"containers": []}}}, "spec.template"),
    ({"service": {"targetPort": "web"}}, "service.targetPort"),
    ({"healthCheck": {"successThreshold": 0}}, "spec.healthCheck.successThreshold"),
    ({"analysis": {"metrics": []}}, "spec.analysis.metrics"),
    ({"analysis": {"metrics": [{"name": "x", "query": "up"}]}}, "spec.analysis.metrics[0]"),
    ({"analysis": {"metrics": [{"name": "x", "query": "up{a='{{pod}}'}", "max": 1}]}},
     "spec.analysis.metrics[0].query"),
    ({"ingress": {"host": "h", "pathType": "Regex"}}, "spec.ingress.pathType"),
    ({"bogus": 1}, "spec.bogus"),
    ({"progressDeadlineSeconds": -1}, "spec.progressDeadlineSeconds"),
])
@pytest.mark.parametrize("where", ["new", "analyzing"])
def test_invalid_spec_touches_nothing_and_names_the_field(
    patch: dict[str, Any], field: str, where: str
) -> None:
    sim = Sim(make_spec(V1)) if where == "new" else reach("analyzing")
    before = sim.status
    sim.set(**patch)
    p = sim.step(request="promote")
    assert p.actions == ()
    assert p.status.phase is Phase.INVALID
    assert field in p.status.message
    assert [(e.type, e.reason) for e in p.events] == [("Warning", "InvalidSpec")]
    assert field in p.events[0].message
    assert p.status.observed_generation == sim.cluster.generation
    assert p.status.active_color == before.active_color
    assert p.status.candidate_color == before.candidate_color
    degraded = {c.type: c for c in p.status.conditions}["Degraded"]
    assert degraded.status == "True" and degraded.reason == "InvalidSpec"
    p2 = sim.step()
    assert p2.events == () and p2.actions == ()


def test_invalid_spec_none_and_changed_message_emits_a_new_event() -> None:
    status = FinNexusDeploymentStatus()
    p = decide(None, status, Cluster().observe(), T0)
    assert p.status.message == "spec: missing" and p.actions == ()
    p2 = decide(make_spec(replicas=0), p.status, Cluster().observe(), T0)
    assert [e.reason for e in p2.events] == ["InvalidSpec"]
    p3 = decide(make_spec(replicas=0), p2.status, Cluster().observe(), T0)
    assert p3.events == ()


@pytest.mark.parametrize("where", ["deploying", "verifying", "analyzing", "rolling-back",
                                   "stable", "rolled-back"])
def test_valid_again_after_invalid_resumes_without_losing_safety(where: str) -> None:
    sim = reach(where)
    before = sim.status.model_copy(deep=True)
    spec = sim.spec
    sim.set(replicas=0)
    sim.step()
    sim.spec = spec
    p = sim.step(health=None)
    st = p.status
    assert st.phase is not Phase.INVALID
    assert st.active_color == before.active_color
    assert st.stable_revision == before.stable_revision
    if where == "rolling-back":
        assert st.phase in (Phase.ROLLING_BACK, Phase.ROLLED_BACK)
        assert st.rejected_revision == R2
        assert f"Ensure:green:{R2}:2" not in kinds(p.actions)
    if where == "analyzing":
        assert st.phase is Phase.ANALYZING
    if where in ("stable", "rolled-back"):
        assert st.phase is before.phase


# -- requests -----------------------------------------------------------------------------------
REQUESTS = [
    # (situation, request, accepted, phase after)
    ("verifying", "promote", False, Phase.VERIFYING),
    ("awaiting", "promote", True, Phase.ANALYZING),
    ("analyzing", "promote", True, Phase.STABLE),
    ("stable", "promote", False, Phase.STABLE),
    ("rolled-back", "promote", False, Phase.ROLLED_BACK),
    ("first-deploying", "abort", True, Phase.FAILED),
    ("deploying", "abort", True, Phase.ROLLING_BACK),
    ("verifying", "abort", True, Phase.ROLLING_BACK),
    ("awaiting", "abort", True, Phase.ROLLING_BACK),
    ("analyzing", "abort", True, Phase.ROLLING_BACK),
    ("rolling-back", "abort", False, Phase.ROLLED_BACK),
    ("stable", "abort", False, Phase.STABLE),
    ("rolled-back", "retry", True, Phase.DEPLOYING),
    ("failed", "retry", True, Phase.DEPLOYING),
    ("stable", "retry", False, Phase.STABLE),
    ("analyzing", "retry", False, Phase.ANALYZING),
    ("stable-in-window", "undo", True, Phase.STABLE),
    ("stable-after-window", "undo", True, Phase.DEPLOYING),
    ("analyzing", "undo", True, Phase.ROLLING_BACK),
    ("verifying", "undo", True, Phase.ROLLING_BACK),
    ("stable", "undo", False, Phase.STABLE),
    ("rolling-back", "undo", False, Phase.ROLLED_BACK),
    ("analyzing", "frobnicate", False, Phase.ANALYZING),
    ("stable", "", False, Phase.STABLE),
    ("analyzing", " Promote ", True, Phase.STABLE),
]


@pytest.mark.parametrize(("where", "req", "accepted", "phase"), REQUESTS)
def test_requests(where: str, req: str, accepted: bool, phase: Phase) -> None:
    sim = reach(where)
    if where == "rolling-back":  # the breach pass's actions were not applied: apply them now
        sim.cluster.apply(sim.last.actions)  # type: ignore[union-attr]
    p = sim.step(request=req, health=None)
    assert ClearRequest(req) in p.actions
    assert kinds(p.actions)[-1] == f"Clear:{req}"
    reasons = [(e.type, e.reason) for e in p.events]
    if accepted:
        assert ("Normal", "Request") in reasons
    else:
        assert ("Warning", "RequestIgnored") in reasons and ("Normal", "Request") not in reasons
    assert p.status.phase is phase, p.status.message
    assert sim.cluster.request is None
    # once only: the next pass has no request and records no request Event
    q = sim.step(health=None)
    assert not any(isinstance(a, ClearRequest) for a in q.actions)
    assert not {"Request", "RequestIgnored"} & {e.reason for e in q.events}


def test_unknown_request_event_names_the_value() -> None:
    p = reach("stable").step(request="frobnicate")
    msg = next(e.message for e in p.events if e.reason == "RequestIgnored")
    assert "'frobnicate'" in msg and "promote, abort, retry, undo" in msg


def test_undo_within_scale_down_window_switches_instantly() -> None:
    sim = reach("stable-in-window")
    assert sim.status.active_color == GREEN and sim.status.scale_down is not None
    p = sim.step(request="undo", health=None)
    st = p.status
    assert st.phase is Phase.STABLE and st.active_color == BLUE and st.stable_revision == R1
    assert RouteTraffic(BLUE) in p.actions
    assert st.rejected_revision == R2  # the template stays what it is, but is not retried
    assert st.history[-1].result == "Promoted" and st.history[-1].reason == "undo"
    assert st.scale_down is not None and st.scale_down.color == GREEN
    for _ in range(3):
        q = sim.step()
        assert q.status.candidate_color is None and q.status.active_color == BLUE
        assert q.status.phase is Phase.STABLE


def test_undo_after_window_health_checks_the_old_colour_before_switching() -> None:
    sim = reach("stable-after-window")
    assert sim.cluster.deployments[BLUE].replicas == 0
    p = sim.step(request="undo", health=None, ready=False)
    assert p.status.phase is Phase.DEPLOYING and p.status.candidate_color == BLUE
    assert "Scale:blue:2" in kinds(p.actions)
    assert RouteTraffic(GREEN) in p.actions
    p = sim.run_until(Phase.STABLE)
    assert p.status.active_color == BLUE and p.status.stable_revision == R1


def test_undo_refused_when_previous_colour_holds_another_revision() -> None:
    sim = reach("stable-after-window")
    sim.cluster.deployments[BLUE] = DeploymentState(R4, 0, 0)
    p = sim.step(request="undo")
    assert p.status.phase is Phase.STABLE and p.status.active_color == GREEN
    assert any("no longer holds revision" in e.message for e in p.events)


# -- conditions, history, generation ------------------------------------------------------------
@pytest.mark.parametrize(("where", "available", "progressing", "degraded"), [
    ("first-deploying", "False", "True", "False"),
    ("verifying", "True", "True", "False"),
    ("analyzing", "True", "True", "False"),
    ("rolling-back", "True", "True", "True"),
    ("rolled-back", "True", "False", "True"),
    ("failed", "False", "False", "True"),
    ("stable", "True", "False", "False"),
])
def test_conditions(where: str, available: str, progressing: str, degraded: str) -> None:
    st = reach(where).status
    conds = {c.type: c for c in st.conditions}
    assert set(conds) == {"Available", "Progressing", "Degraded"}
    got = (conds["Available"].status, conds["Progressing"].status, conds["Degraded"].status)
    assert got == (available, progressing, degraded)
    assert all(c.observed_generation == st.observed_generation for c in conds.values())


def test_condition_transition_time_changes_only_with_status() -> None:
    sim = reach("analyzing")
    before = {c.type: c.last_transition_time for c in sim.status.conditions}
    sim.now += timedelta(seconds=100)
    p = sim.step(metrics=good())
    after = {c.type: c.last_transition_time for c in p.status.conditions}
    assert after == before
    p = sim.step(metrics=BAD)
    after = {c.type: c.last_transition_time for c in p.status.conditions}
    assert after["Degraded"] != before["Degraded"]
    assert after["Available"] == before["Available"]


def test_history_is_capped_and_records_every_result() -> None:
    sim = reach("rolled-back")  # Promoted (V1), RolledBack (V2)
    tmpls = [template(f"app:s{i}") for i in range(12)]
    for t in tmpls:
        sim.set_template(t)
        sim.step()
    hist = sim.status.history
    assert len(hist) == HISTORY_LIMIT
    assert {h.result for h in hist} == {"Superseded"}
    assert all(h.reason.startswith("superseded by ") for h in hist)
    results = [h.result for h in reach("rolled-back").status.history]
    assert results == ["Promoted", "RolledBack"]
    assert reach("failed").status.history[-1].result == "Failed"
    entry = reach("stable-in-window").status.history[-1]
    assert (entry.revision, entry.color, entry.result) == (R2, GREEN, "Promoted")
    assert entry.started_at and entry.finished_at and entry.started_at < entry.finished_at


@pytest.mark.parametrize("generation", [1, 7, 42])
def test_observed_generation_follows_the_observed_generation(generation: int) -> None:
    sim = reach("analyzing")
    sim.cluster.generation = generation
    assert sim.step(metrics=good()).status.observed_generation == generation


def test_ensure_deployment_carries_the_template_as_stored() -> None:
    p = Sim(make_spec(V1)).step()
    ens = [a for a in p.actions if isinstance(a, EnsureDeployment)]
    assert len(ens) == 1 and ens[0].template == V1 and ens[0].revision == R1


def test_requeue_bounded_while_in_progress() -> None:
    sim = reach("analyzing")
    assert sim.last is not None and sim.last.requeue_after is not None
    assert sim.last.requeue_after <= 1.0
    p = sim.step(metrics=good(), health=None)
    assert p.requeue_after is not None and p.requeue_after <= 1.0
    st = reach("stable").last
    assert st is not None and st.requeue_after == 60.0


def test_health_round_is_ignored_outside_deploying_and_verifying() -> None:
    sim = reach("analyzing")
    obs = sim.cluster.observe(HealthRound(False, 2, "boom"), good())
    p = decide(sim.spec, sim.status, obs, sim.now)
    assert p.status.phase is Phase.ANALYZING


def test_promote_request_is_refused_while_paused() -> None:
    """paused freezes progress: a promote request does not switch, and says why."""
    tmpl = {"spec": {"containers": [{"name": "a", "image": "v2",
                                     "ports": [{"name": "http", "containerPort": 80}]}]}}
    rev = revision_of(tmpl)
    status = FinNexusDeploymentStatus(
        phase="AwaitingPromotion", active_color="blue", stable_revision="old",
        candidate_color="green", candidate_revision=rev, candidate_since=None)
    observed = Observed(request="promote", deployments={
        "blue": DeploymentState("old", 1, 1), "green": DeploymentState(rev, 1, 1)},
        active_service_color="blue")
    result = decide({"template": tmpl, "paused": True, "promotion": {"auto": False}}, status,
                  observed, datetime(2026, 1, 1, tzinfo=UTC))
    assert result.status.phase == "AwaitingPromotion" and result.status.active_color == "blue"
    assert any(e.reason == "RequestIgnored" and "paused" in e.message for e in result.events)
    assert isinstance(result.actions[-1], ClearRequest)


@pytest.mark.parametrize("with_ingress, present, removed", [
    (False, True, True), (False, False, False), (True, True, False)])
def test_an_owned_ingress_is_removed_only_when_spec_ingress_is(
    with_ingress: bool, present: bool, removed: bool
) -> None:
    tmpl = {"spec": {"containers": [{"name": "a", "image": "v1",
                                     "ports": [{"name": "http", "containerPort": 80}]}]}}
    rev = revision_of(tmpl)
    spec: dict[str, Any] = {"template": tmpl}
    if with_ingress:
        spec["ingress"] = {"host": "x.example.com"}
    status = FinNexusDeploymentStatus(phase="Stable", active_color="blue", stable_revision=rev)
    observed = Observed(deployments={"blue": DeploymentState(rev, 1, 1)},
                        active_service_color="blue", ingress_present=present)
    result = decide(spec, status, observed, datetime(2026, 1, 1, tzinfo=UTC))
    assert any(isinstance(a, RemoveIngress) for a in result.actions) is removed
