"""Every rejection records why as a kind (status.history[].reasonKind): the typed field the
metrics (finnexus_rollbacks_total{reason}) and the notifications read, never the text."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from finnexus_operator.models.phases import Phase, RejectionKind
from tests.unit.plan.situations import BAD, analyzing, awaiting, verifying
from tests.unit.planlib import R1, R2, V2, Sim, make_spec, stable_sim


def breach() -> Sim:
    sim = analyzing()
    sim.step(metrics=BAD)
    return sim


def health_after_switch() -> Sim:
    sim = analyzing()
    sim.run_until(Phase.ROLLING_BACK, health=False)
    return sim


def health_before_switch() -> Sim:
    sim = verifying()
    sim.run_until(Phase.ROLLING_BACK, health=False)
    return sim


def first_revision_health() -> Sim:
    sim = Sim(make_spec())
    sim.run_until(Phase.FAILED, health=False)
    return sim


def deadline() -> Sim:
    sim = stable_sim(make_spec(deadline=5))
    sim.set_template(V2)
    sim.run_until(Phase.ROLLING_BACK, ready=False)
    return sim


def request(value: str) -> Callable[[], Sim]:
    def run() -> Sim:
        sim = awaiting()
        sim.step(request=value)
        return sim
    return run


def invalid_after_switch() -> Sim:
    sim = analyzing()
    sim.set(replicas=0)
    sim.step()
    return sim


def abort_while_invalid() -> Sim:
    sim = verifying()
    sim.set(replicas=0)
    sim.step(request="abort")
    return sim


@pytest.mark.parametrize(("situation", "result", "kind"), [
    (breach, "RolledBack", RejectionKind.METRIC),
    (health_after_switch, "RolledBack", RejectionKind.HEALTH),
    (health_before_switch, "RolledBack", RejectionKind.HEALTH),
    (first_revision_health, "Failed", RejectionKind.HEALTH),
    (deadline, "RolledBack", RejectionKind.DEADLINE),
    (request("abort"), "RolledBack", RejectionKind.ABORT),
    (request("undo"), "RolledBack", RejectionKind.ABORT),
    (invalid_after_switch, "RolledBack", RejectionKind.INVALID),
    (abort_while_invalid, "RolledBack", RejectionKind.ABORT),
], ids=["breach", "health-after-switch", "health-before-switch", "first-revision-health",
        "deadline", "abort", "undo-during-rollout", "invalid-after-switch",
        "abort-while-invalid"])
def test_each_rejection_records_its_kind(situation: Callable[[], Sim], result: str,
                                         kind: RejectionKind) -> None:
    sim = situation()
    last = sim.status.history[-1]
    assert (last.result, last.reason_kind) == (result, kind.value), last.reason


def test_promotions_and_supersedes_carry_no_kind() -> None:
    sim = stable_sim()
    assert sim.status.history[-1].result == "Promoted"
    assert sim.status.history[-1].reason_kind is None


def test_the_template_revision_is_recorded_every_pass() -> None:
    sim = stable_sim()
    assert sim.status.template_revision == R1
    sim.set_template(V2)
    sim.step()
    assert sim.status.template_revision == R2 and sim.status.stable_revision == R1
