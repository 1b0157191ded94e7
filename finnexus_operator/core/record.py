"""The release record a history entry carries (issue 11 item 5). Pure: no I/O.

When a rollout ends (promoted, rolled back, failed, superseded) its history entry records
what gated it: the candidate's health-check rounds (passed and failed), the analysis rounds
after the switch, each metric's final value and verdict with the bounds in force (the merged
ones, templates included), and the hook Jobs run (``hooks``; filled by the Job hooks of
issue 11 item 1, empty until then). Bounded: at most 20 metrics and 20 hooks per entry, and
the history keeps 10 entries, so the status stays small.
"""

from __future__ import annotations

from collections.abc import Sequence

from finnexus_operator.models.spec import MetricSpec
from finnexus_operator.models.status import (
    FinNexusDeploymentStatus,
    GateMetric,
    HookRecord,
    ReleaseRecord,
)

__all__ = ["MAX_ITEMS", "release_record"]

MAX_ITEMS = 20


def release_record(st: FinNexusDeploymentStatus, metrics: Sequence[MetricSpec] = (),
                   hooks: Sequence[HookRecord] = ()) -> ReleaseRecord:
    """What gated the current candidate so far (call before its bookkeeping is cleared).

    ``metrics`` are the bounds in force (the spec's merged analysis metrics; empty when the
    spec is invalid: the measurements are recorded without bounds)."""
    hc, analysis = st.health_check, st.analysis
    if not hooks and st.hooks is not None and st.hooks.revision == st.candidate_revision:
        # the hook Jobs this candidate ran so far (its preSwitch Jobs; postPromotion ones
        # start after the promotion is recorded, and stay in status.hooks)
        hooks = [HookRecord(name=run.name, result=run.result, message=run.message)
                 for run in st.hooks.runs]
    bounds = {m.name: m for m in metrics}
    gates = []
    for measured in (analysis.metrics if analysis is not None else [])[:MAX_ITEMS]:
        spec = bounds.get(measured.name)
        gates.append(GateMetric(
            name=measured.name, value=measured.value, verdict=measured.verdict,
            min=spec.min if spec else None, max=spec.max if spec else None,
            bound=measured.bound))
    return ReleaseRecord(
        health_passed=hc.rounds_passed, health_failed=hc.rounds_failed,
        analysis_rounds=analysis.round if analysis is not None else 0,
        analysis_passed=analysis.passed if analysis is not None else 0,
        metrics=gates, hooks=list(hooks)[:MAX_ITEMS])
