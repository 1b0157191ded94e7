"""The first revision: deployed, health-checked and switched to with no manual gate and no
analysis; rejected, it is Failed, since there is no stable revision to return to."""

from __future__ import annotations

from typing import Any

import pytest

from finnexus_operator.core.actions import EnsureDeployment
from finnexus_operator.models.phases import Phase
from tests.unit.planlib import BLUE, R1, V1, Sim, analysis, kinds, make_spec


@pytest.mark.parametrize("spec_kw", [
    pytest.param({}, id="plain"),
    pytest.param({"analysis_spec": analysis()}, id="with-analysis"),
    pytest.param({"auto": False}, id="manual-promotion"),
    pytest.param({"auto": False, "analysis_spec": analysis()},
                 id="manual-promotion-with-analysis"),
    pytest.param({"ingress": True}, id="with-ingress"),
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
    assert [e.reason for e in p.events] == ["NewRevision"]  # Deploying: routine, no Event


def test_ensure_deployment_carries_the_template_as_stored() -> None:
    p = Sim(make_spec(V1)).step()
    ens = [a for a in p.actions if isinstance(a, EnsureDeployment)]
    assert len(ens) == 1 and ens[0].template == V1 and ens[0].revision == R1


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
