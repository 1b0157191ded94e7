"""A tiny deterministic "cluster" that applies plan() actions, plus spec/template builders.

The simulator plays kubelet, the Deployment controller and the API server just enough for the
pure core: Deployments per colour (revision, replicas, Ready pods), the active Service's colour
and the Ingress backend colour. ``Sim.step`` runs one reconcile pass the way the operator does:
the same ``core.passes.run_pass`` (observe -> due() -> probe only what is due -> plan() ->
apply actions), with a :class:`SimIO` instead of the real cluster; then it stores the status.
Time only moves when a step says so; nothing sleeps.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from finnexus_operator.core.actions import (
    Action,
    ClearRequest,
    CreateJob,
    DeleteJob,
    EnsureDeployment,
    EnsureServices,
    PruneRevisions,
    RecordRevision,
    RemoveIngress,
    RoutePreview,
    RouteTraffic,
    ScaleDeployment,
)
from finnexus_operator.core.measurement import QueryResult
from finnexus_operator.core.observed import (
    DeploymentState,
    HealthRound,
    JobState,
    MetricSample,
    Observed,
)
from finnexus_operator.core.passes import run_pass, run_sync
from finnexus_operator.core.plan import Plan, plan
from finnexus_operator.core.probes import HealthProbe, Measurement
from finnexus_operator.core.revision import revision_of
from finnexus_operator.core.schedule import Due, due
from finnexus_operator.core.validation import parse_spec
from finnexus_operator.models.phases import Phase
from finnexus_operator.models.status import FinNexusDeploymentStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BLUE, GREEN = "blue", "green"


# -- builders ----------------------------------------------------------------------------------
def template(image: str = "app:v1", **labels: str) -> dict[str, Any]:
    """A PodTemplateSpec whose only container names a port "http"."""
    return {
        "metadata": {"labels": {"app": "web", **labels}},
        "spec": {"containers": [{
            "name": "app", "image": image,
            "ports": [{"name": "http", "containerPort": 8080}],
        }]},
    }


V1, V2, V3, V4 = (template(f"app:v{i}") for i in range(1, 5))
R1, R2, R3, R4 = (revision_of(t) for t in (V1, V2, V3, V4))

METRICS = (
    {"name": "error-rate", "query": 'err{service="{{service}}"}', "max": 0.001},
    {"name": "latency-p95", "query": 'lat{service="{{service}}"}', "max": 0.2},
)


def analysis(**overrides: Any) -> dict[str, Any]:
    """spec.analysis with small numbers (1 s interval, 3 checks, limits 0/1/1)."""
    out: dict[str, Any] = {"intervalSeconds": 1, "checks": 3, "failureLimit": 0,
                           "noDataLimit": 1, "errorLimit": 1, "metrics": [dict(m) for m in METRICS]}
    out.update(overrides)
    return out


def make_spec(tmpl: Mapping[str, Any] | None = None, *, replicas: int = 2,
              analysis_spec: Mapping[str, Any] | None = None, auto: bool = True,
              paused: bool = False, scale_down_delay: int = 30, deadline: int = 600,
              success: int = 2, failure: int = 2, interval: int = 1,
              ingress: bool = False, **extra: Any) -> dict[str, Any]:
    """A raw spec (camelCase, as stored in the resource) with test-friendly numbers."""
    spec: dict[str, Any] = {
        "replicas": replicas,
        "template": copy.deepcopy(dict(tmpl if tmpl is not None else V1)),
        "healthCheck": {"intervalSeconds": interval, "successThreshold": success,
                        "failureThreshold": failure},
        "promotion": {"auto": auto, "scaleDownDelaySeconds": scale_down_delay},
        "progressDeadlineSeconds": deadline,
        "paused": paused,
    }
    if analysis_spec is not None:
        spec["analysis"] = dict(analysis_spec)
    if ingress:
        spec["ingress"] = {"host": "api.example.com"}
    spec.update(extra)
    return spec


def good(*names: str) -> list[MetricSample]:
    """A measurement round in which every metric of METRICS passes."""
    values = {"error-rate": 0.0002, "latency-p95": 0.12}
    return [MetricSample(n, QueryResult.value_of(values[n])) for n in (names or values)]


def round_of(**results: QueryResult) -> list[MetricSample]:
    """A measurement round; metrics not named pass."""
    base = {s.name: s.result for s in good()}
    base.update({k.replace("_", "-"): v for k, v in results.items()})
    return [MetricSample(name, result) for name, result in base.items()]


# -- the simulated cluster ----------------------------------------------------------------------
@dataclass
class Cluster:
    """What the operator's actions change, and what observe() reads back."""

    deployments: dict[str, DeploymentState] = field(default_factory=dict)
    service: str | None = None
    ingress: str | None = None
    preview: str | None = None
    request: str | None = None
    generation: int = 1
    services_ensured: bool = False
    revisions: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    jobs: dict[str, JobState] = field(default_factory=dict)  # hook Jobs (Running when created)
    created_jobs: list[CreateJob] = field(default_factory=list)

    def apply(self, actions: Iterable[Action], *, has_ingress: bool = False) -> None:
        for action in actions:
            self.apply_one(action, has_ingress=has_ingress)

    def apply_one(self, action: Action, *, has_ingress: bool = False) -> None:
        deps = self.deployments
        if isinstance(action, EnsureDeployment):
            old = deps.get(action.color)
            same = old is not None and old.revision == action.revision
            ready = min(old.ready, action.replicas) if same and old else 0
            deps[action.color] = DeploymentState(action.revision, action.replicas, ready)
        elif isinstance(action, ScaleDeployment):
            old = deps.get(action.color)
            if old is not None:
                deps[action.color] = DeploymentState(
                    old.revision, action.replicas, min(old.ready, action.replicas))
        elif isinstance(action, RouteTraffic):
            self.service = action.color
            if has_ingress:
                self.ingress = action.color
        elif isinstance(action, RoutePreview):
            self.preview = action.color
        elif isinstance(action, EnsureServices):
            self.services_ensured = True
        elif isinstance(action, ClearRequest):
            if self.request == action.value:
                self.request = None
        elif isinstance(action, RecordRevision):
            self.revisions.setdefault(action.revision, copy.deepcopy(dict(action.template)))
        elif isinstance(action, PruneRevisions):
            self.revisions = {k: v for k, v in self.revisions.items() if k in action.keep}
        elif isinstance(action, RemoveIngress):
            self.ingress = None
        elif isinstance(action, CreateJob):
            if action.name not in self.jobs:  # a second create of the name is a 409
                self.jobs[action.name] = JobState(action.name, "Running")
                self.created_jobs.append(action)
        elif isinstance(action, DeleteJob):
            self.jobs.pop(action.name, None)
        else:  # pragma: no cover - a new action type must be simulated here
            raise AssertionError(f"unknown action {action!r}")

    def pods_ready(self, color: str | None = None, count: int | None = None) -> None:
        """Pods of ``color`` (default: every colour) become Ready (all, or ``count``)."""
        for c, state in list(self.deployments.items()):
            if color is None or c == color:
                n = state.replicas if count is None else min(count, state.replicas)
                self.deployments[c] = replace(state, ready=n)

    def observe(self, health: HealthRound | None = None,
                metrics: Sequence[MetricSample] | None = None) -> Observed:
        return Observed(generation=self.generation, request=self.request,
                        deployments=dict(self.deployments), active_service_color=self.service,
                        ingress_color=self.ingress, revisions=dict(self.revisions),
                        health=health, metrics=metrics, jobs=dict(self.jobs))


def kinds(actions: Iterable[Action]) -> list[str]:
    """Actions as short strings: "Ensure:green:<rev>:2", "Scale:blue:0", "Route:green", ..."""
    out = []
    for a in actions:
        if isinstance(a, EnsureDeployment):
            out.append(f"Ensure:{a.color}:{a.revision}:{a.replicas}")
        elif isinstance(a, ScaleDeployment):
            out.append(f"Scale:{a.color}:{a.replicas}")
        elif isinstance(a, RouteTraffic):
            out.append(f"Route:{a.color}")
        elif isinstance(a, RoutePreview):
            out.append(f"Preview:{a.color}")
        elif isinstance(a, ClearRequest):
            out.append(f"Clear:{a.value}")
        elif isinstance(a, RecordRevision):
            out.append(f"Record:{a.revision}")
        elif isinstance(a, PruneRevisions):
            out.append("Prune")
        elif isinstance(a, RemoveIngress):
            out.append("RemoveIngress")
        elif isinstance(a, CreateJob):
            out.append(f"CreateJob:{a.name}")
        elif isinstance(a, DeleteJob):
            out.append(f"DeleteJob:{a.name}")
        else:
            out.append("Services")
    return out


@dataclass
class SimIO:
    """``core.passes.PassIO`` over a :class:`Cluster`: the probes answer what the step says."""

    cluster: Cluster
    health: bool | None = True  # the health round's verdict (None: no round is taken)
    metrics: Sequence[MetricSample] | None = None  # the measurement round's samples
    detail: str = "HTTP 503"
    partial: bool | int = True  # apply all actions, none, or only the first n
    has_ingress: bool = False
    asked: Due = field(default_factory=Due)  # what the core asked for in this pass
    recorded: FinNexusDeploymentStatus | None = None  # a decision written ahead of the actions

    async def observe(self) -> Observed:
        return self.cluster.observe()

    async def probe_health(self, probe: HealthProbe) -> HealthRound | None:
        self.asked = replace(self.asked, health=probe)
        if self.health is None:
            return None
        state = self.cluster.deployments.get(probe.color)
        ready = state.ready if state is not None and state.revision == probe.revision else 0
        if ready < probe.expected:  # as the real prober: fewer Ready pods fail the round
            return HealthRound(False, ready, f"{ready}/{probe.expected} candidate pods Ready")
        return HealthRound(self.health, probe.expected, "" if self.health else self.detail)

    async def record(self, decision: FinNexusDeploymentStatus) -> None:
        self.recorded = decision

    async def measure(self, measurement: Measurement) -> Sequence[MetricSample] | None:
        self.asked = replace(self.asked, metrics=measurement)
        return self.metrics

    async def apply(self, decided: Plan) -> None:
        todo = decided.actions if self.partial is True else decided.actions[:int(self.partial)]
        self.cluster.apply(todo, has_ingress=self.has_ingress)


def decide(raw_spec: Mapping[str, Any] | None, status: FinNexusDeploymentStatus,
           observed: Observed, now: datetime) -> Plan:
    """plan() on a raw spec (parsed once, as the reconciler does)."""
    return plan(parse_spec(raw_spec), status, observed, now)


def due_now(raw_spec: Mapping[str, Any] | None, status: FinNexusDeploymentStatus,
            observed: Observed, now: datetime) -> Due:
    """due() on a raw spec."""
    return due(parse_spec(raw_spec), status, observed, now)


@dataclass
class Sim:
    """Drives plan() pass by pass against a Cluster, with a controllable clock."""

    spec: dict[str, Any]
    status: FinNexusDeploymentStatus = field(default_factory=FinNexusDeploymentStatus)
    cluster: Cluster = field(default_factory=Cluster)
    now: datetime = T0
    last: Plan | None = None
    plans: list[Plan] = field(default_factory=list)

    @property
    def phase(self) -> Phase | None:
        return self.status.phase

    def step(self, *, health: bool | None = True, metrics: Sequence[MetricSample] | None = None,
             request: str | None = None, ready: bool = True, advance: float = 1.0,
             apply: bool | int = True, store: bool = True, detail: str = "HTTP 503") -> Plan:
        """One reconcile pass; ``health``/``metrics`` are used only when due() says so.

        ``apply``: apply all actions (True), none (False) or only the first n (an int);
        ``store``: keep the new status (False: the status write was lost).
        """
        if request is not None:
            self.cluster.request = request
        if ready:
            self.cluster.pods_ready()
        io = SimIO(self.cluster, health=health, metrics=metrics, detail=detail, partial=apply,
                   has_ingress="ingress" in self.spec)
        now = self.now
        result = run_sync(run_pass(parse_spec(self.spec), self.status, io, lambda: now))
        if store:
            self.status = result.status
        elif io.recorded is not None:  # the final write was lost, the decision was not
            self.status = io.recorded
        self.last = result
        self.plans.append(result)
        self.now += timedelta(seconds=advance)
        return result

    def run_until(self, phase: Phase, *, max_steps: int = 40, **kw: Any) -> Plan:
        for _ in range(max_steps):
            p = self.step(**kw)
            if p.status.phase is phase:
                return p
        raise AssertionError(f"never reached {phase}; at {self.phase}: {self.status.message}")

    def set_template(self, tmpl: Mapping[str, Any]) -> None:
        self.spec = {**self.spec, "template": copy.deepcopy(dict(tmpl))}
        self.cluster.generation += 1

    def set(self, **fields: Any) -> None:
        self.spec = {**self.spec, **fields}
        self.cluster.generation += 1

    def events(self, plan_: Plan | None = None) -> list[str]:
        p = plan_ or self.last
        assert p is not None
        return [e.reason for e in p.events]

    def all_events(self) -> list[str]:
        return [e.reason for p in self.plans for e in p.events]


def stable_sim(spec: dict[str, Any] | None = None) -> Sim:
    """A Sim whose first revision (spec's template) is Stable on blue."""
    sim = Sim(spec if spec is not None else make_spec())
    sim.run_until(Phase.STABLE)
    return sim


def switched_sim(spec: dict[str, Any], tmpl: Mapping[str, Any] = V2) -> Sim:
    """A Sim with V1 stable on blue and ``tmpl`` switched to green, in Analyzing."""
    sim = stable_sim(spec)
    sim.set_template(tmpl)
    sim.run_until(Phase.ANALYZING)
    return sim
