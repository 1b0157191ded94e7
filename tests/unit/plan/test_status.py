"""What every pass reports whatever the rung: the conditions, the history, the observed
generation and when the next pass is due."""

from __future__ import annotations

from datetime import timedelta

import pytest

from finnexus_operator.core.rollout import HISTORY_LIMIT
from tests.unit.plan.situations import (
    BAD,
    Situation,
    analyzing,
    failed,
    first_deploying,
    name,
    rolled_back,
    rolling_back,
    stable,
    stable_in_window,
    verifying,
)
from tests.unit.planlib import GREEN, R2, good, template


@pytest.mark.parametrize(("situation", "available", "progressing", "degraded"), [
    pytest.param(situation, *flags, id=f"{name(situation)}-Available={flags[0]}"
                                       f"-Progressing={flags[1]}-Degraded={flags[2]}")
    for situation, *flags in [
        (first_deploying, "False", "True", "False"),
        (verifying, "True", "True", "False"),
        (analyzing, "True", "True", "False"),
        (rolling_back, "True", "True", "True"),
        (rolled_back, "True", "False", "True"),
        (failed, "False", "False", "True"),
        (stable, "True", "False", "False"),
    ]
])
def test_conditions(situation: Situation, available: str, progressing: str,
                    degraded: str) -> None:
    st = situation().status
    conds = {c.type: c for c in st.conditions}
    assert set(conds) == {"Available", "Progressing", "Degraded"}
    got = (conds["Available"].status, conds["Progressing"].status, conds["Degraded"].status)
    assert got == (available, progressing, degraded)
    assert all(c.observed_generation == st.observed_generation for c in conds.values())


def test_condition_transition_time_changes_only_with_status() -> None:
    sim = analyzing()
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
    sim = rolled_back()  # Promoted (V1), RolledBack (V2)
    tmpls = [template(f"app:s{i}") for i in range(12)]
    for t in tmpls:
        sim.set_template(t)
        sim.step()
    hist = sim.status.history
    assert len(hist) == HISTORY_LIMIT
    assert {h.result for h in hist} == {"Superseded"}
    assert all(h.reason.startswith("superseded by ") for h in hist)
    results = [h.result for h in rolled_back().status.history]
    assert results == ["Promoted", "RolledBack"]
    assert failed().status.history[-1].result == "Failed"
    entry = stable_in_window().status.history[-1]
    assert (entry.revision, entry.color, entry.result) == (R2, GREEN, "Promoted")
    assert entry.started_at and entry.finished_at and entry.started_at < entry.finished_at


@pytest.mark.parametrize("generation", [1, 7, 42])
def test_observed_generation_follows_the_observed_generation(generation: int) -> None:
    sim = analyzing()
    sim.cluster.generation = generation
    assert sim.step(metrics=good()).status.observed_generation == generation


def test_requeue_bounded_while_in_progress() -> None:
    sim = analyzing()
    assert sim.last is not None and sim.last.requeue_after is not None
    assert sim.last.requeue_after <= 1.0
    p = sim.step(metrics=good(), health=None)
    assert p.requeue_after is not None and p.requeue_after <= 1.0
    st = stable().last
    assert st is not None and st.requeue_after is None  # idle: only an event brings a pass
