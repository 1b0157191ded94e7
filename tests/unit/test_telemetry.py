"""telemetry.observe_pass counts each outcome once (across passes, after a restart, after a
status recovered from a failed write); forget() removes every series of a resource."""

from __future__ import annotations

from prometheus_client import REGISTRY

from finnexus_operator.controller import telemetry
from finnexus_operator.core.plan import Plan
from finnexus_operator.models.phases import Phase
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from finnexus_operator.models.status import (
    AnalysisStatus,
    FinNexusDeploymentStatus,
    HistoryEntry,
    MetricStatus,
)

NS = "unit"
SPEC = FinNexusDeploymentSpec.model_validate({
    "template": {"spec": {"containers": [{"name": "w", "image": "x",
                                          "ports": [{"name": "http", "containerPort": 80}]}]}},
    "analysis": {"metrics": [{"name": "errors", "query": "q", "min": 0, "max": 0.01}]},
})


def sample(metric: str, name: str, /, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, {"namespace": NS, "name": name, **labels})


def entry(revision: str, result: str, kind: str | None = None) -> HistoryEntry:
    return HistoryEntry(revision=revision, color="green", result=result, reason="r",
                        started_at="2026-12-02T06:00:00.000000Z",
                        finished_at="2026-12-02T06:00:42.000000Z", reason_kind=kind)


def status(*history: HistoryEntry, phase: Phase = Phase.STABLE) -> FinNexusDeploymentStatus:
    return FinNexusDeploymentStatus(phase=phase, history=list(history), analysis=AnalysisStatus(
        metrics=[MetricStatus(name="errors", value=0.02, verdict="Fail", failures=1)]))


def test_each_outcome_is_counted_once_across_passes() -> None:
    name = "once"
    promoted, rolled = entry("a", "Promoted"), entry("b", "RolledBack", "metric")
    old = status(promoted)  # the first pass since start: what the status holds is old news
    outcomes = telemetry.observe_pass(NS, name, old, status(promoted, rolled), SPEC)
    assert [(o.event, o.reason_kind) for o in outcomes] == [("RolledBack", "metric")]
    assert outcomes[0].breach is not None and outcomes[0].breach.value == 0.02
    # the next pass starts from a status that missed the write (recovered): not counted again
    assert telemetry.observe_pass(NS, name, status(promoted, rolled),
                                  status(promoted, rolled), SPEC) == []
    assert telemetry.observe_pass(NS, name, status(promoted), status(promoted, rolled),
                                  SPEC) == []
    assert sample("finnexus_rollbacks_total", name, reason="metric") == 1
    assert sample("finnexus_rollouts_total", name, result="RolledBack") == 1
    assert sample("finnexus_rollouts_total", name, result="Promoted") is None
    assert sample("finnexus_analysis_metric_value", name, metric="errors") == 0.02
    assert sample("finnexus_analysis_metric_bound", name, metric="errors", bound="max") == 0.01
    invalid = telemetry.observe_pass(NS, name, status(promoted, rolled),
                                     status(promoted, rolled, phase=Phase.INVALID), None)
    assert [o.event for o in invalid] == ["Invalid"]


def test_forget_removes_every_series_of_the_resource_only() -> None:
    telemetry.set_phase(NS, "gone", Phase.DEPLOYING)
    telemetry.set_phase(NS, "kept", Phase.DEPLOYING)
    telemetry.health_round(NS, "gone", ok=False)
    telemetry.observe_pass(NS, "gone", status(), status(entry("c", "RolledBack", "health")),
                           SPEC)
    assert sample("finnexus_phase", "gone", phase="Deploying") == 1
    telemetry.forget(NS, "gone")
    names = {s.name for m in REGISTRY.collect() for s in m.samples
             if s.labels.get("name") == "gone" and s.labels.get("namespace") == NS}
    assert names == set()
    assert sample("finnexus_phase", "kept", phase="Deploying") == 1
    # known entries are forgotten too: a re-created resource counts its own outcomes
    telemetry.observe_pass(NS, "gone", status(), status(entry("c", "RolledBack", "health")),
                           SPEC)
    assert sample("finnexus_rollbacks_total", "gone", reason="health") == 1


def test_breach_to_rollback_is_timed_only_for_a_metric_rollback() -> None:
    before = REGISTRY.get_sample_value("finnexus_breach_to_rollback_seconds_count") or 0
    for kind in ("health", "abort"):
        decision = status(entry("d", "RolledBack", kind), phase=Phase.ROLLING_BACK)
        telemetry.route_accepted(Plan(status=decision, decision=decision), 10.0, 10.2)
    metric = status(entry("d", "RolledBack", "metric"), phase=Phase.ROLLING_BACK)
    telemetry.route_accepted(Plan(status=metric), 10.0, 10.2)  # no decision in this pass
    telemetry.route_accepted(Plan(status=metric, decision=metric), 10.0, None)  # no route
    assert REGISTRY.get_sample_value("finnexus_breach_to_rollback_seconds_count") == before
    telemetry.route_accepted(Plan(status=metric, decision=metric), 10.0, 10.25)
    assert REGISTRY.get_sample_value("finnexus_breach_to_rollback_seconds_count") == before + 1


def test_the_readme_metrics_table_lists_every_metric_with_its_labels() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = dict(re.findall(r"^\| `(finnexus_\w+)` \| \w+ \| ([^|]*) \|", readme, re.M))
    exported = {}
    for family in REGISTRY.collect():
        if family.name.startswith("finnexus_"):
            name = family.name + ("_total" if family.type == "counter" else "")
            labels = {k for s in family.samples for k in s.labels if k != "le"}
            exported[name] = labels
    assert set(table) == set(exported)
    for name, labels in table.items():
        documented = set(re.findall(r"`(\w+)`", labels))
        assert exported[name] <= documented, (name, exported[name], documented)
