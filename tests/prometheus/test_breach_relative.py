"""The breach watch and relative bounds: the real operator, a real Prometheus (issue 11, 3-4).

The rig of ``test_analysis_operator``: the operator (kopf) against the emulated API, demo apps
for blue (stable) and green (candidate) scraped every second under loopback load. Latencies
are chosen so each p95 falls in one histogram bucket of the demo app (0.04 s -> ~0.049,
0.12 s -> ~0.148, 0.45 s -> ~0.495).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from finnexus_kit.apiserver import ApiServer
from finnexus_kit.prometheus import PrometheusServer
from tests.prometheus.test_analysis_operator import ERROR_RATE, LATENCY_P95, analysis, rig

pytestmark = [pytest.mark.prometheus]

STABLE_P95 = 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service="web-blue"}[5s])))'  # noqa: E501


def relative_latency(bound: dict[str, float], **overrides: Any) -> dict[str, Any]:
    return analysis(metrics=[{"name": "latency-p95", "query": LATENCY_P95, "relative": bound}],
                    **overrides)


def latency_status(st: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in st["analysis"]["metrics"] if m["name"] == "latency-p95")


async def test_relative_bound_judges_against_the_stable_service_at_the_switch_time(
    apiserver: ApiServer, kubeconfig: str, prometheus: PrometheusServer, demo_app: Any
) -> None:
    """Blue serves fast (p95 ~0.049) until the switch, then slow (~0.495). The candidate's
    ~0.148 is more than twice the blue of the switch time (a rollback), though less than
    twice what blue does "now", at the first round 8 s later: the baseline must be read with
    the time parameter."""
    spec = relative_latency({"maxRatio": 2.0}, intervalSeconds=8, breachCheckSeconds=8)
    async with rig(apiserver, kubeconfig, prometheus, demo_app, candidate={"latency": 0.12},
                   stable={"latency": 0.04}, spec=spec) as r:
        await r.release_candidate()
        await r.phase("Analyzing", activeColor="green")
        r.apps["blue"].set(latency=0.45)  # the stable colour after the switch: slower
        st = await r.phase("RolledBack", timeout=40)
        now = await asyncio.to_thread(prometheus.query, STABLE_P95)
    message = st["message"]
    found = re.search(r"latency-p95 ([\d.]+) > ([\d.]+) \(stable ([\d.]+) x 2\) \(round 1, ",
                      message)
    assert found, message
    value, bound, baseline = (float(x) for x in found.groups())
    # blue as it served before the switch (~0.049 on an idle machine), not as it does now
    blue_now = float(now["data"]["result"][0]["value"][1])
    assert baseline < 0.5 * blue_now, (message, blue_now)
    assert value > bound == pytest.approx(2 * baseline, rel=0.01)
    assert value <= 2 * blue_now, (message, blue_now)  # against "now" it would have passed
    m = latency_status(st)
    assert m["verdict"] == "Fail" and m["baseline"] == pytest.approx(baseline, rel=0.01)
    assert m["bound"] == pytest.approx(bound, rel=0.01)
    assert r.cluster.ingress_backend() == "web-blue"


async def test_a_candidate_no_worse_than_the_stable_revision_is_promoted(
    apiserver: ApiServer, kubeconfig: str, prometheus: PrometheusServer, demo_app: Any
) -> None:
    spec = relative_latency({"maxIncrease": 0.5})
    async with rig(apiserver, kubeconfig, prometheus, demo_app, candidate={"latency": 0.12},
                   stable={"latency": 0.12}, spec=spec) as r:
        await r.release_candidate()
        analyzing = await r.phase("Analyzing", activeColor="green")
        st = await r.phase("Stable", activeColor="green")
    assert analyzing["candidateColor"] == "green"
    assert "analysis passed" in st["message"]
    promoted = st["history"][-1]
    assert promoted["result"] == "Promoted" and promoted["color"] == "green"


async def test_the_breach_watch_rolls_back_between_rounds_of_a_long_interval(
    apiserver: ApiServer, kubeconfig: str, prometheus: PrometheusServer, demo_app: Any
) -> None:
    """intervalSeconds 600, breachCheckSeconds 1: the candidate starts failing once it is
    analysed; it is rolled back by a breach check, long before any round."""
    spec = analysis(intervalSeconds=600, breachCheckSeconds=1, checks=3,
                    metrics=[{"name": "error-rate", "query": ERROR_RATE, "max": 0.01}])
    async with rig(apiserver, kubeconfig, prometheus, demo_app, candidate={},
                   spec=spec) as r:
        await r.release_candidate()
        await r.phase("Analyzing", activeColor="green")
        r.apps["green"].set(error_ratio=0.3)
        st = await r.phase("RolledBack", timeout=40)
    assert "error-rate" in st["message"], st["message"]
    assert "(breach check after round 0, failureLimit 0)" in st["message"]
    assert st["analysis"]["round"] == 0 and st["analysis"]["breachChecks"] >= 1
    assert st["activeColor"] == "blue" and r.cluster.ingress_backend() == "web-blue"
