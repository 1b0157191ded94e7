"""Hypothesis properties of plan() over random histories of a simulated cluster.

Each example is a spec (random thresholds, limits, gates, delays) and a sequence of steps:
template changes among a few templates, pods becoming Ready or not, health rounds passing or
failing, metric values passing/failing/NaN/empty/erroring, requests (valid and garbage), pause
toggles, invalid specs, time jumps, and operator "crashes" in which the status write is lost
and/or only some of the actions were applied. After every action the simulated cluster is
checked against the safety properties; after every pass the plan is checked for purity.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finnexus_operator.core.actions import (
    ClearRequest,
    EnsureDeployment,
    RouteTraffic,
    ScaleDeployment,
)
from finnexus_operator.core.manifests import other
from finnexus_operator.core.measurement import QueryResult
from finnexus_operator.core.observed import DeploymentState, HealthRound, MetricSample, Observed
from finnexus_operator.core.passes import run_pass, run_sync
from finnexus_operator.core.plan import Plan
from finnexus_operator.core.probes import HealthProbe, Measurement
from finnexus_operator.core.revision import revision_of
from finnexus_operator.core.schedule import Due, due
from finnexus_operator.core.validation import parse_spec
from finnexus_operator.models.phases import Phase
from finnexus_operator.models.status import FinNexusDeploymentStatus
from tests.unit.planlib import (
    METRICS,
    T0,
    V1,
    V2,
    V3,
    Cluster,
    analysis,
    decide,
    due_now,
    make_spec,
)

TEMPLATES = (V1, V2, V3)
SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))

# -- strategies -------------------------------------------------------------------------------
specs = st.fixed_dictionaries({
    "replicas": st.integers(1, 3),
    "success": st.integers(1, 3),
    "failure": st.integers(1, 3),
    "auto": st.booleans(),
    "scale_down_delay": st.sampled_from([0, 3, 30]),
    "deadline": st.sampled_from([4, 15, 600]),
    "ingress": st.booleans(),
    "analysis": st.sampled_from([None, 1, 1, 1]).flatmap(lambda a: st.none() if a is None else
                                                        st.fixed_dictionaries({
        "checks": st.integers(1, 4),
        "failureLimit": st.integers(0, 2),
        "noDataLimit": st.integers(0, 2),
        "errorLimit": st.integers(0, 2),
        "intervalSeconds": st.sampled_from([1, 2, 4]),
        "breachCheckSeconds": st.sampled_from([1, 2, 5]),
        # latency-p95 bounded by the stable colour's value at the switch too (relative bound)
        "relative": st.sampled_from([None, {"maxRatio": 2.0}, {"maxIncrease": 0.5}]),
    })),
})

MEASURE = st.sampled_from(["pass", "pass", "pass", "fail", "nan", "empty", "error", "missing"])


@dataclass(frozen=True)
class Step:
    template: int | None
    pause: bool
    invalid: bool
    ready: str  # all | none | one
    health: bool | None
    measures: tuple[str, str]
    request: str | None
    advance: float
    lost_status: bool
    partial: int | None  # apply only the first n actions


steps = st.builds(
    Step,
    template=st.none() | st.none() | st.none() | st.integers(0, len(TEMPLATES) - 1),
    pause=st.sampled_from([False] * 9 + [True]),
    invalid=st.sampled_from([False] * 14 + [True]),
    ready=st.sampled_from(["all", "all", "all", "none", "one"]),
    health=st.sampled_from([True, True, True, False, None]),
    measures=st.tuples(MEASURE, MEASURE),
    request=st.sampled_from([None] * 12 + ["promote", "abort", "retry", "undo", "bogus"]),
    advance=st.sampled_from([0.0, 1.0, 1.0, 1.0, 2.0, 5.0, 40.0]),
    lost_status=st.sampled_from([False] * 9 + [True]),
    partial=st.none() | st.none() | st.none() | st.none() | st.integers(0, 5),
)


def result_of(kind: str, metric: dict[str, Any]) -> QueryResult | None:
    good, bad = metric["max"] / 2, metric["max"] * 50
    return {
        "pass": QueryResult.value_of(good),
        "fail": QueryResult.value_of(bad),
        "nan": QueryResult.value_of(math.nan),
        "empty": QueryResult.no_data("empty vector"),
        "error": QueryResult.error("HTTP 500"),
        "missing": None,
    }[kind]


# -- the checker ------------------------------------------------------------------------------
@dataclass
class World:
    """The simulated cluster plus what the simulator itself knows about health and metrics."""

    params: dict[str, Any]
    cluster: Cluster = field(default_factory=Cluster)
    status: FinNexusDeploymentStatus = field(default_factory=FinNexusDeploymentStatus)
    paused: bool = False
    template: int = 0
    streak: dict[tuple[str, str | None], int] = field(default_factory=dict)
    verified: set[tuple[str, str | None]] = field(default_factory=set)
    passes: dict[tuple[Any, ...], int] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)  # colour -> revision decided against

    def spec(self, invalid: bool = False) -> dict[str, Any]:
        p = self.params
        a = p["analysis"]
        spec_a = None
        if a:
            spec_a = analysis(**{k: v for k, v in a.items() if k != "relative"})
            if a.get("relative"):
                spec_a["metrics"][1]["relative"] = a["relative"]
        raw = make_spec(TEMPLATES[self.template], replicas=p["replicas"], auto=p["auto"],
                        analysis_spec=spec_a, paused=self.paused,
                        scale_down_delay=p["scale_down_delay"], deadline=p["deadline"],
                        success=p["success"], failure=p["failure"], ingress=p["ingress"])
        if invalid:
            raw["replicas"] = 0
        return raw

    def apply(self, action: Any) -> None:
        deps = self.cluster.deployments
        if isinstance(action, EnsureDeployment):
            old = deps.get(action.color)
            if old is None or old.revision != action.revision:  # new pods: not verified yet
                self.verified = {k for k in self.verified if k[0] != action.color}
                self.streak = {k: v for k, v in self.streak.items() if k[0] != action.color}
        moves = isinstance(action, RouteTraffic) and (action.color != self.cluster.service or (
            self.params["ingress"] and action.color != self.cluster.ingress))
        if moves:  # §2.1 rule 1: traffic moves only to a colour that serves
            state = self.cluster.deployments.get(action.color)
            assert state is not None and state.ready >= 1, (
                f"traffic moved to {action.color}, which has no Ready pods ({state})")
        if isinstance(action, RouteTraffic) and action.color != self.cluster.service:
            state = self.cluster.deployments.get(action.color)
            assert state is None or self.rejected.get(action.color) != state.revision, (
                f"traffic sent back to {action.color} ({state.revision}) after the decision "
                "to roll it back")
        self.cluster.apply_one(action, has_ingress=self.params["ingress"])
        self.check_traffic()

    def check_traffic(self) -> None:
        """(a) production traffic only on a colour whose revision passed the health checks
        (and which is not scaled to zero under it)."""
        deps = self.cluster.deployments
        for routed in (self.cluster.service, self.cluster.ingress):
            if routed is None:
                continue
            state = deps.get(routed)
            assert state is not None, f"traffic on {routed}, which has no Deployment"
            assert state.replicas >= 1, f"traffic on {routed}, which is scaled to zero"
            assert (routed, state.revision) in self.verified, (
                f"traffic on {routed} ({state.revision}) which never passed "
                f"{self.params['success']} consecutive health rounds; verified={self.verified}")


def evolve_pods(cluster: Cluster, ready: str) -> None:
    if ready == "all":
        cluster.pods_ready()
    elif ready == "one":
        cluster.pods_ready(count=1)


PERFECT = Step(template=None, pause=False, invalid=False, ready="all", health=True,
               measures=("pass", "pass"), request=None, advance=1.0, lost_status=False,
               partial=None)


def warm(params: dict[str, Any], history: list[Step]) -> list[Step]:
    """V1 promoted first (perfect steps), then V2 applied: the history starts mid-rollout."""
    settle = [PERFECT] * (params["success"] + 2)
    return [*settle, dataclasses.replace(PERFECT, template=1), *history]


@dataclass
class WorldIO:
    """``core.passes.PassIO`` over the World for one step: the probes answer what the step
    says, and ``apply`` checks the decided plan before it applies the actions (maybe only
    some), checking the traffic property after every single one."""

    w: World
    step: Step
    raw: dict[str, Any]
    status: FinNexusDeploymentStatus  # the stored status this pass starts from
    now: datetime
    observed: Observed | None = None
    health: HealthRound | None = None
    metrics: list[MetricSample] | None = None
    asked: Due = field(default_factory=Due)
    applied: int = 0
    recorded: FinNexusDeploymentStatus | None = None

    def clock(self) -> datetime:
        return self.now

    async def observe(self) -> Observed:
        self.observed = self.w.cluster.observe()
        return self.observed

    async def probe_health(self, probe: HealthProbe) -> HealthRound | None:
        self.asked = dataclasses.replace(self.asked, health=probe)
        if self.step.health is None:
            return None
        replicas = self.w.params["replicas"]
        assert probe.expected == replicas
        state = self.w.cluster.deployments.get(probe.color)
        if state is None or state.revision != probe.revision or state.ready < replicas:
            # as the real prober: fewer Ready candidate pods than replicas fail the round
            ready = state.ready if state is not None and state.revision == probe.revision else 0
            self.health = HealthRound(False, ready, f"{ready}/{replicas} candidate pods Ready")
            if not self.step.lost_status:
                self.w.streak[(probe.color, probe.revision)] = 0
            return self.health
        self.health = HealthRound(self.step.health, replicas,
                                  "" if self.step.health else "HTTP 503")
        # the simulator's own health bookkeeping (what it fed to plan()). The round counts for
        # this pass's decisions; but when the status write is lost, later passes cannot know
        # the round happened, so the streak goes back to what it was (a lost failure is
        # forgotten exactly as a lost success is).
        cand = self.status.candidate_color
        assert cand is not None and probe.color == cand
        key = (cand, self.w.cluster.deployments[cand].revision)
        assert key[1] == self.status.candidate_revision == probe.revision
        streak = self.w.streak.get(key, 0) + 1 if self.health.ok else 0
        if streak >= self.w.params["success"]:
            self.w.verified.add(key)
        if not self.step.lost_status:
            self.w.streak[key] = streak
        return self.health

    async def measure(self, measurement: Measurement) -> list[MetricSample] | None:
        self.asked = dataclasses.replace(self.asked, metrics=measurement)
        rounds = [q for q in measurement.queries if not q.baseline]
        assert [q.name for q in rounds] == [m["name"] for m in METRICS]
        self.metrics = []
        for kind, m in zip(self.step.measures, METRICS, strict=True):
            r = result_of(kind, m)
            if r is not None:
                self.metrics.append(MetricSample(str(m["name"]), r))
        for q in measurement.queries:
            if q.baseline:  # the stable colour at the switch: a pass stays a pass against it
                assert q.at is not None and q.name == "latency-p95"
                self.metrics.append(MetricSample(q.name, QueryResult.value_of(0.2), q.promql,
                                                 baseline=True))
        return self.metrics

    async def record(self, decision: FinNexusDeploymentStatus) -> None:
        assert decision.phase in (Phase.ROLLING_BACK, Phase.INVALID)
        assert self.observed is not None
        # where traffic is: as stored, or as the routes show (a lost status write)
        assert decision.active_color in (self.status.active_color,
                                         self.observed.active_service_color,
                                         self.observed.ingress_color), "where traffic is"
        self.recorded = decision
        if decision.candidate_color is not None and decision.candidate_revision is not None:
            self.w.rejected[decision.candidate_color] = decision.candidate_revision
        elif decision.rejected_revision is not None and self.status.candidate_color:
            self.w.rejected[self.status.candidate_color] = decision.rejected_revision

    async def apply(self, p: Plan) -> None:
        check_plan(self, p)
        n = len(p.actions) if self.step.partial is None else min(self.step.partial,
                                                                 len(p.actions))
        for action in p.actions[:n]:
            self.w.apply(action)
        self.applied = n


def check_plan(io: WorldIO, p: Plan) -> None:
    """The properties of one decided plan, before any of its actions is applied."""
    w, step, raw, status, now = io.w, io.step, io.raw, io.status, io.now
    assert io.observed is not None
    obs = dataclasses.replace(io.observed, health=io.health,
                              metrics=None if io.metrics is None else tuple(io.metrics),
                              breach_check=io.asked.metrics is not None
                              and io.asked.metrics.breach_check)
    a_spec = w.params["analysis"]
    # the pass asked for exactly the probes due() names
    assert io.asked == due(parse_spec(raw), status, io.observed, now)

    # (d) never raises; (f) pure and deterministic: same inputs, same plan, inputs intact
    before = status.model_dump()
    assert p == decide(raw, status, obs, now)
    again = decide(copy.deepcopy(raw), status.model_copy(deep=True), obs, now)
    assert p == again
    assert status.model_dump() == before, "plan() mutated its input status"

    # (c) an invalid spec touches nothing, except to return traffic from a switched candidate
    # to the stable colour and to honour abort/undo (§2.1 rule 5): never towards a candidate
    if step.invalid:
        assert p.status.phase is Phase.INVALID
        for action in p.actions:
            assert isinstance(action, RouteTraffic | ScaleDeployment | ClearRequest), action
            if isinstance(action, RouteTraffic):
                assert action.color != status.candidate_color or (
                    status.candidate_color is None), "an invalid spec routed to a candidate"
            if isinstance(action, ClearRequest):
                assert action.value.strip().lower() in ("abort", "undo")
    else:
        assert p.status.phase is not None and p.status.phase is not Phase.INVALID
        # a phase is "in progress" exactly when there is a candidate
        assert (p.status.candidate_color is not None) == p.status.phase.in_progress, (
            p.status.phase, p.status.candidate_color, p.status.message)
        # a request is acted on once and removed
        has_clear = any(type(a).__name__ == "ClearRequest" for a in p.actions)
        assert has_clear == (obs.request is not None)

    # (e) missing data never promotes
    metrics = io.metrics
    all_pass = metrics is not None and all(k == "pass" for k in step.measures)
    akey = (status.candidate_color, status.candidate_revision, status.candidate_since)
    if metrics is not None and status.phase is Phase.ANALYZING:
        w.passes[akey] = w.passes.get(akey, 0) + all_pass
    if not step.invalid and status.phase is Phase.ANALYZING and (
        p.status.phase is Phase.ANALYZING and p.status.analysis is not None
    ):
        assert p.status.analysis.passed <= w.passes.get(akey, 0), (
            "a round with NoData/Error/Fail was counted as passing")
    new_entries = p.status.history[len(status.history):] if len(p.status.history) > len(
        status.history) else ([p.status.history[-1]] if p.status.history and (
            not status.history or p.status.history[-1] != status.history[-1]) else [])
    for entry in new_entries:
        if entry.result != "Promoted":
            continue
        if entry.reason.startswith("analysis passed"):
            assert a_spec is not None
            assert metrics is not None and all_pass, "promoted on a round that did not pass"
            assert not obs.breach_check, "a breach check promoted"
            assert w.passes.get(akey, 0) >= a_spec["checks"]
        elif entry.reason == "switched":
            assert a_spec is None or status.stable_revision is None, (
                "a non-first revision skipped the analysis")
        else:
            assert entry.reason in ("undo", "promoted by request, analysis skipped",
                                    "analysis removed from the spec",
                                    "rollback to previous revision"), entry.reason
            assert entry.reason != "analysis removed from the spec" or a_spec is None


def run(params: dict[str, Any], history: list[Step]) -> None:
    w = World(params)
    now = T0
    replicas = params["replicas"]
    for step in history:
        if step.template is not None and step.template != w.template:
            w.template = step.template
            w.cluster.generation += 1
        if step.pause:
            w.paused = not w.paused
            w.cluster.generation += 1
        raw = w.spec(step.invalid)
        evolve_pods(w.cluster, step.ready)
        if step.request is not None:
            w.cluster.request = step.request
        status = w.status
        io = WorldIO(w, step, raw, status, now)
        p = run_sync(run_pass(parse_spec(raw), status, io, io.clock))
        if not step.lost_status:
            w.status = p.status
        elif io.recorded is not None:  # the final write was lost; the decision was written first
            w.status = io.recorded
        if w.status.phase is not Phase.ROLLING_BACK:
            w.rejected = {}  # the decision is carried out; a retry may try the revision again

        # (b) while a candidate exists, the colour traffic can return to keeps its replicas
        if io.applied == len(p.actions) and not step.invalid:
            for action in p.actions:
                if isinstance(action, ScaleDeployment) and action.replicas < replicas:
                    for s in (status, p.status):
                        if s.candidate_color is not None and s.stable_revision is not None and (
                            s.phase is not Phase.INVALID and p.status.candidate_color
                        ):
                            assert action.color != other(p.status.candidate_color), (
                                f"stable colour {action.color} scaled to {action.replicas} "
                                f"during a rollout ({p.status.phase})")
            s = p.status
            if s.candidate_color is not None and s.stable_revision is not None:
                stable = other(s.candidate_color)
                state = w.cluster.deployments.get(stable)
                assert state is not None and state.replicas >= replicas, (
                    f"stable colour {stable} has {state} during {s.phase}")
                assert state.revision == s.stable_revision
        now += timedelta(seconds=step.advance)


@given(specs, st.lists(steps, min_size=1, max_size=40))
@SETTINGS
def test_random_histories_keep_every_safety_property(
    params: dict[str, Any], history: list[Step]
) -> None:
    run(params, history)


# A calmer history (no crashes, no invalid specs, few requests) reaches the later phases
# (Analyzing, promotion, scale-down, undo) far more often.
calm_steps = st.builds(
    Step,
    template=st.sampled_from([None] * 14 + [0, 1, 2]),
    pause=st.sampled_from([False] * 20 + [True]),
    invalid=st.just(False),
    ready=st.sampled_from(["all"] * 6 + ["none", "one"]),
    health=st.sampled_from([True] * 8 + [False]),
    measures=st.tuples(st.sampled_from(["pass"] * 8 + ["fail", "nan", "error"]),
                       st.sampled_from(["pass"] * 8 + ["empty", "missing"])),
    request=st.sampled_from([None] * 50 + ["promote", "abort", "retry", "undo"]),
    advance=st.sampled_from([1.0, 1.0, 2.0, 4.0, 10.0]),
    lost_status=st.sampled_from([False] * 20 + [True]),
    partial=st.sampled_from([None] * 20 + [1, 2, 3]),
)


@given(specs, st.lists(calm_steps, min_size=5, max_size=60))
@SETTINGS
def test_calm_histories_keep_every_safety_property(
    params: dict[str, Any], history: list[Step]
) -> None:
    run(params, warm(params, history))


@given(specs, st.lists(steps, min_size=1, max_size=30))
@SETTINGS
def test_random_histories_mid_rollout_keep_every_safety_property(
    params: dict[str, Any], history: list[Step]
) -> None:
    run(params, warm(params, history))


# -- (d) garbage in: plan() and due() never raise ------------------------------------------------
COLOURS = st.sampled_from(["blue", "green", "purple", "", None])
REVS = st.sampled_from([revision_of(t) for t in TEMPLATES] + ["zzz", "", None])
STAMPS = st.sampled_from([None, "", "garbage", "2026-01-01T00:00:00Z",
                          "2025-12-31T23:59:59.999999Z", "2999-01-01T00:00:00.000000Z",
                          "2026-01-01T00:00:05+02:00"])
PHASES = st.sampled_from([*list(Phase), None])

garbage_status = st.fixed_dictionaries({
    "observedGeneration": st.none() | st.integers(-5, 5),
    "phase": PHASES,
    "message": st.text(max_size=20),
    "activeColor": COLOURS,
    "stableRevision": REVS,
    "candidateColor": COLOURS,
    "candidateRevision": REVS,
    "rejectedRevision": REVS,
    "previousStableRevision": REVS,
    "candidateSince": STAMPS,
    "candidateUndo": st.booleans(),
    "switchedAt": STAMPS,
    "healthCheck": st.fixed_dictionaries({
        "consecutiveSuccesses": st.integers(-3, 200), "consecutiveFailures": st.integers(-3, 200),
        "lastProbeTime": STAMPS, "lastError": st.none() | st.text(max_size=5)}),
    "analysis": st.none() | st.fixed_dictionaries({
        "round": st.integers(-2, 50), "passed": st.integers(-2, 50), "checks": st.integers(0, 9),
        "lastRoundTime": STAMPS, "lastCheckAt": STAMPS, "breachChecks": st.integers(-1, 9),
        "metrics": st.lists(st.fixed_dictionaries({
            "name": st.sampled_from(["error-rate", "latency-p95", "other"]),
            "failures": st.integers(-1, 9), "noData": st.integers(-1, 9),
            "errors": st.integers(-1, 9), "checkFailed": st.booleans(),
            "baseline": st.none() | st.floats(allow_nan=False),
            "baselineQuery": st.none() | st.sampled_from(["x", ""])}), max_size=3)}),
    "scaleDown": st.none() | st.fixed_dictionaries({"color": COLOURS.filter(bool),
                                                     "after": STAMPS.filter(bool)}),
    "history": st.lists(st.fixed_dictionaries({
        "revision": st.sampled_from(["a", "b"]), "color": st.sampled_from(["blue", "x"]),
        "result": st.sampled_from(["Promoted", "RolledBack", "weird"]),
        "reason": st.sampled_from(["", "undo", "switched"]), "startedAt": STAMPS}), max_size=12),
    "conditions": st.lists(st.fixed_dictionaries({
        "type": st.sampled_from(["Available", "Progressing", "Degraded", "Other"]),
        "status": st.sampled_from(["True", "False", "Unknown"]), "reason": st.just("R"),
        "lastTransitionTime": st.sampled_from(["x", "2026-01-01T00:00:00Z"])}), max_size=4),
})

deployment_states = st.builds(DeploymentState, revision=REVS, replicas=st.integers(-1, 5),
                              ready=st.integers(-1, 5))
garbage_observed = st.builds(
    Observed,
    generation=st.integers(-1, 10),
    request=st.none() | st.text(max_size=8) | st.sampled_from(["promote", "abort", "retry",
                                                               "undo", " UNDO "]),
    deployments=st.dictionaries(st.sampled_from(["blue", "green", "purple"]), deployment_states,
                                max_size=3),
    active_service_color=COLOURS,
    ingress_color=COLOURS,
    health=st.none() | st.builds(HealthRound, ok=st.booleans(), pods=st.integers(-1, 3),
                                 detail=st.text(max_size=5)),
    metrics=st.none() | st.lists(st.builds(
        MetricSample, name=st.sampled_from(["error-rate", "latency-p95", "x"]),
        result=st.sampled_from([QueryResult.value_of(0.0), QueryResult.value_of(math.inf),
                                QueryResult.value_of(-1e300), QueryResult.no_data(""),
                                QueryResult.error("e")]),
        baseline=st.booleans()), max_size=4),
    breach_check=st.booleans(),
)


@given(specs, st.integers(0, 2), st.booleans(), garbage_status, garbage_observed,
       st.integers(-10_000, 10_000_000))
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
def test_plan_never_raises_on_garbage_status_and_observations(
    params: dict[str, Any], tmpl: int, paused: bool, raw_status: dict[str, Any], obs: Observed,
    offset: int,
) -> None:
    w = World(params, paused=paused, template=tmpl)
    raw = w.spec()
    status = FinNexusDeploymentStatus.model_validate(raw_status)
    now = T0 + timedelta(seconds=offset)
    due_now(raw, status, obs, now)
    p = decide(raw, status, obs, now)
    assert p.status.phase is not None
    assert p == decide(raw, status, obs, now)
    if p.status.phase is not Phase.INVALID:
        assert p.actions, "a valid spec always ensures at least the Services"


@given(st.none() | st.dictionaries(st.sampled_from(["replicas", "template", "paused", "analysis",
                                                    "x"]),
                                   st.none() | st.integers() | st.text(max_size=3)
                                   | st.booleans() | st.lists(st.integers(), max_size=2)),
       garbage_status, garbage_observed)
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
def test_garbage_spec_is_invalid_and_touches_nothing(
    raw: dict[str, Any] | None, raw_status: dict[str, Any], obs: Observed
) -> None:
    status = FinNexusDeploymentStatus.model_validate(raw_status)
    p = decide(raw, status, obs, T0)
    assert p.status.phase is Phase.INVALID and p.status.message
    switched = status.candidate_color is not None and status.stable_revision is not None and (
        status.candidate_color in (status.active_color, obs.active_service_color,
                                   obs.ingress_color))  # routes on the candidate: stranded
    if not switched and (obs.request or "").strip().lower() not in ("abort", "undo"):
        assert p.actions == ()  # touches nothing (rule 5: only traffic stranded, abort, undo)
    for action in p.actions:
        assert isinstance(action, RouteTraffic | ScaleDeployment | ClearRequest), action
        assert not isinstance(action, RouteTraffic) or action.color != status.candidate_color
    assert due_now(raw, status, obs, T0) == Due()
    repeat = decide(raw, p.status, dataclasses.replace(obs, request=None), T0)
    assert "InvalidSpec" not in [e.reason for e in repeat.events]  # recorded once


# -- (f) a pass repeated on its own outcome asks for the same, already-true things --------------
@given(specs, st.lists(calm_steps, min_size=1, max_size=30))
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_repeating_a_pass_without_new_observations_is_stable(
    params: dict[str, Any], history: list[Step]
) -> None:
    """After a fully applied pass, a second pass at the same instant (no probes, no request)
    asks for the same actions and leaves the phase as it was, except for the progress a
    rollback confirmation or an expired scale-down legitimately makes."""
    w = World(params)
    now = T0
    for step in warm(params, history):
        if step.template is not None:
            w.template = step.template
        raw = w.spec()
        evolve_pods(w.cluster, step.ready)
        p = decide(raw, w.status, w.cluster.observe(), now)
        w.cluster.apply(p.actions, has_ingress=params["ingress"])
        w.status = p.status
        q = decide(raw, w.status, w.cluster.observe(), now)
        if p.status.phase is not Phase.ROLLING_BACK:
            assert q.status.phase is p.status.phase
            assert q.actions == p.actions
            assert q.status.model_dump(exclude={"conditions"}) == p.status.model_dump(
                exclude={"conditions"})
        now += timedelta(seconds=step.advance)


# -- focused: a new template at a random point of the Prometheus gate -------------------------
gated_specs = specs.map(lambda p: {**p, "auto": True, "analysis": p["analysis"] or {
    "checks": 3, "failureLimit": 0, "noDataLimit": 1, "errorLimit": 1, "intervalSeconds": 1}})


@given(gated_specs, st.integers(0, 6), st.sampled_from([0, 2]), st.booleans(),
       st.lists(calm_steps, max_size=15))
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
def test_superseding_during_analysis_never_exposes_unverified_pods(
    params: dict[str, Any], rounds: int, new: int, crash: bool, tail: list[Step]
) -> None:
    """V2 is switched to and measured for a few rounds, then the template changes: traffic
    must leave the candidate colour before its Deployment gets the new template, also when
    the pass is cut short after any action or its status write is lost."""
    middle = [PERFECT] * (params["success"] + 1 + rounds)
    change = dataclasses.replace(PERFECT, template=new, lost_status=crash,
                                 partial=None if not crash else 3)
    run(params, warm(params, [*middle, change, *tail]))
