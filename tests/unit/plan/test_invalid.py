"""Invalid: a spec that cannot be acted on touches nothing and names the field; made valid
again, the rollout resumes where it was, without losing a decided rollback."""

from __future__ import annotations

from typing import Any

import pytest

from finnexus_operator.models.phases import Phase
from finnexus_operator.models.status import FinNexusDeploymentStatus
from tests.unit.plan.calls import decide
from tests.unit.plan.situations import (
    Situation,
    analyzing,
    deploying,
    name,
    rolled_back,
    rolling_back,
    stable,
    verifying,
)
from tests.unit.planlib import R2, T0, V1, Cluster, Sim, kinds, make_spec


def new() -> Sim:
    """A resource just created (no analysis), before its first pass."""
    return Sim(make_spec(V1))


@pytest.mark.parametrize(("patch", "field"), [
    pytest.param({"replicas": 0}, "spec.replicas", id="replicas-0"),
    pytest.param({"template": None}, "spec.template", id="template-missing"),
    pytest.param({"template": {"spec": {"containers": []}}}, "spec.template",
                 id="template-without-containers"),
    pytest.param({"service": {"targetPort": "web"}}, "service.targetPort",
                 id="targetPort-not-a-container-port"),
    pytest.param({"healthCheck": {"successThreshold": 0}}, "spec.healthCheck.successThreshold",
                 id="successThreshold-0"),
    pytest.param({"analysis": {"metrics": []}}, "spec.analysis.metrics",
                 id="analysis-without-metrics"),
    pytest.param({"analysis": {"metrics": [{"name": "x", "query": "up"}]}},
                 "spec.analysis.metrics[0]", id="metric-without-bounds"),
    pytest.param({"analysis": {"metrics": [{"name": "x", "query": "up{a='{{pod}}'}", "max": 1}]}},
                 "spec.analysis.metrics[0].query", id="query-with-unknown-placeholder"),
    pytest.param({"ingress": {"host": "h", "pathType": "Regex"}}, "spec.ingress.pathType",
                 id="ingress-pathType-Regex"),
    pytest.param({"bogus": 1}, "spec.bogus", id="unknown-field"),
    pytest.param({"progressDeadlineSeconds": -1}, "spec.progressDeadlineSeconds",
                 id="negative-deadline"),
])
@pytest.mark.parametrize("situation", [new, analyzing], ids=name)
def test_invalid_spec_touches_nothing_and_names_the_field(
    patch: dict[str, Any], field: str, situation: Situation
) -> None:
    sim = situation()
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


@pytest.mark.parametrize(("situation", "phases"), [
    pytest.param(deploying, None, id="deploying"),
    pytest.param(verifying, None, id="verifying"),
    pytest.param(analyzing, {Phase.ANALYZING}, id="analyzing"),
    pytest.param(rolling_back, {Phase.ROLLING_BACK, Phase.ROLLED_BACK}, id="rolling-back"),
    pytest.param(stable, {Phase.STABLE}, id="stable"),
    pytest.param(rolled_back, {Phase.ROLLED_BACK}, id="rolled-back"),
])
def test_valid_again_after_invalid_resumes_without_losing_safety(
    situation: Situation, phases: set[Phase] | None
) -> None:
    sim = situation()
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
    if phases is not None:
        assert st.phase in phases
    if situation is stable or situation is rolled_back:
        assert st.phase is before.phase
    if situation is rolling_back:  # the decided rollback stands
        assert st.rejected_revision == R2
        assert f"Ensure:green:{R2}:2" not in kinds(p.actions)
