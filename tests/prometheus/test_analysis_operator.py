"""Prometheus-gated promotion and automatic rollback: the real operator, a real Prometheus.

Each test runs the operator (kopf) against the emulated API, with two in-process demo apps
standing for the blue (stable) and green (candidate) pods, scraped every second by the real
Prometheus, under loopback load the test generates. The candidate's error ratio and latency are
what the test sets; the analysis queries are the two standard gates with a 5 s rate window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from finnexus_kit.apiserver import ApiServer
from finnexus_kit.app import AppHandle
from finnexus_kit.load import generate_load
from finnexus_kit.prometheus import PrometheusServer
from finnexus_operator.settings import Settings
from tests.contract.cluster import Cluster, resource, running_cluster
from tests.helpers import wait_until

pytestmark = [pytest.mark.prometheus]
RATE_WINDOW = 5.0  # seconds, the [5s] of the queries below

ERROR_RATE = (
    'sum(rate(http_requests_total{service="{{service}}",status=~"5.."}[5s]))'
    ' / sum(rate(http_requests_total{service="{{service}}"}[5s]))'
)
LATENCY_P95 = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(http_request_duration_seconds_bucket{service="{{service}}"}[5s])))'
)


def analysis(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "intervalSeconds": 1, "checks": 3, "failureLimit": 0, "noDataLimit": 2,
        "errorLimit": 2,
        "metrics": [
            {"name": "error-rate", "query": ERROR_RATE, "max": 0.01},
            {"name": "latency-p95", "query": LATENCY_P95, "max": 0.2},
        ],
    }
    spec.update(overrides)
    return spec


class Rig:
    """The operator, the apps of both colours, the load, and async waits."""

    def __init__(self, cluster: Cluster, apps: dict[str, AppHandle], started: float) -> None:
        self.cluster, self.apps, self.started = cluster, apps, started

    async def phase(self, phase: str, timeout: float = 40.0, **fields: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self.cluster.wait_phase, phase, "web", timeout, **fields)

    async def release_candidate(self) -> None:
        """v1 stable on blue, then v2 (green) rolled out: returns once traffic switched."""
        await self.phase("Stable", activeColor="blue")
        # The scrape slots (ports) are reused across tests, so the series of the previous
        # test's app stay in a 5 s rate window for up to 5 s + one scrape after this test's
        # app started: release only once they are out of it (the operator, woken by the pod
        # events, reaches its first measurement within about a second of the switch).
        await asyncio.sleep(max(0.0, self.started + RATE_WINDOW + 1.5 - time.monotonic()))
        await asyncio.to_thread(self.cluster.set_image, "app:v2")


@contextlib.asynccontextmanager
async def rig(apiserver: ApiServer, kubeconfig: str, prometheus: PrometheusServer,
              demo_app: Callable[..., Awaitable[AppHandle]], *, candidate: dict[str, Any],
              spec: dict[str, Any], load_candidate: bool = True,
              stable: dict[str, Any] | None = None) -> AsyncIterator[Rig]:
    started = time.monotonic()
    apps = {
        "blue": await demo_app(service="web-blue", version="v1", **(stable or {})),
        "green": await demo_app(service="web-green", version="v2", **candidate),
    }

    def endpoint(dep: dict[str, Any]) -> int | None:
        color = dep["spec"]["template"]["metadata"]["labels"]["finnexus.ai/color"]
        return apps[color].port

    targets = [apps["blue"].url] + ([apps["green"].url] if load_candidate else [])
    stop = asyncio.Event()
    load = asyncio.create_task(generate_load(targets, rps=80.0 * len(targets), stop=stop))
    settings = Settings(prometheus_url=prometheus.url, metrics_port=0, health_port=0,
                        prometheus_timeout=2.0)
    body = resource(image="app:v1", analysis=spec)
    cm = running_cluster(apiserver, kubeconfig, settings=settings, endpoint=endpoint)
    cluster = await asyncio.to_thread(cm.__enter__)
    try:
        await asyncio.to_thread(cluster.create, body)
        yield Rig(cluster, apps, started)
    finally:
        stop.set()
        await load
        await asyncio.to_thread(cm.__exit__, None, None, None)


async def test_good_candidate_is_promoted_after_its_checks(
    apiserver: ApiServer, kubeconfig: str, prometheus: PrometheusServer, demo_app: Any
) -> None:
    async with rig(apiserver, kubeconfig, prometheus, demo_app,
                   candidate={"latency": 0.01}, spec=analysis()) as r:
        await r.release_candidate()
        analyzing = await r.phase("Analyzing", activeColor="green")
        assert analyzing["candidateColor"] == "green"
        st = await r.phase("Stable", activeColor="green")
        assert st["analysis"]["passed"] >= 3 and st["analysis"]["checks"] == 3
        verdicts = {m["name"]: m["verdict"] for m in st["analysis"]["metrics"]}
        assert verdicts == {"error-rate": "Pass", "latency-p95": "Pass"}
        assert r.cluster.ingress_backend() == "web-green"
        assert "analysis passed" in st["message"]


async def test_error_rate_breach_rolls_back(
    apiserver: ApiServer, kubeconfig: str, prometheus: PrometheusServer, demo_app: Any
) -> None:
    async with rig(apiserver, kubeconfig, prometheus, demo_app,
                   candidate={"error_ratio": 0.2}, spec=analysis()) as r:
        await r.release_candidate()
        st = await r.phase("RolledBack")
        assert "error-rate" in st["message"] and " > 0.01 (round" in st["message"]
        assert "failureLimit 0" in st["message"]
        assert st["activeColor"] == "blue" and r.cluster.ingress_backend() == "web-blue"
        assert r.cluster.service_color("web") == "blue"
        assert st["rejectedRevision"] == st["history"][-1]["revision"]
        await asyncio.to_thread(_wait, lambda: r.cluster.replicas("web-green") == 0)
        degraded = next(c for c in st["conditions"] if c["type"] == "Degraded")
        assert degraded["status"] == "True" and "error-rate" in degraded["message"]
        warnings = [e for e in r.cluster.events() if e["reason"] == "AnalysisFailed"]
        assert warnings and "error-rate" in warnings[0]["message"]


async def test_latency_breach_rolls_back(
    apiserver: ApiServer, kubeconfig: str, prometheus: PrometheusServer, demo_app: Any
) -> None:
    async with rig(apiserver, kubeconfig, prometheus, demo_app,
                   candidate={"latency": 0.35}, spec=analysis()) as r:
        await r.release_candidate()
        st = await r.phase("RolledBack")
        assert "latency-p95" in st["message"] and "> 0.2" in st["message"]
        assert r.cluster.ingress_backend() == "web-blue"


async def test_no_traffic_never_promotes_and_rolls_back_after_no_data_limit(
    apiserver: ApiServer, kubeconfig: str, prometheus: PrometheusServer, demo_app: Any
) -> None:
    async with rig(apiserver, kubeconfig, prometheus, demo_app, candidate={},
                   spec=analysis(checks=2), load_candidate=False) as r:
        await r.release_candidate()
        st = await r.phase("RolledBack")
        assert "no data" in st["message"] and "noDataLimit 2" in st["message"]
        assert all(h["result"] != "Promoted" or h["color"] != "green" for h in st["history"])
        assert st["analysis"]["passed"] == 0


async def test_bad_query_is_an_error_with_prometheus_message(
    apiserver: ApiServer, kubeconfig: str, prometheus: PrometheusServer, demo_app: Any
) -> None:
    broken = analysis(metrics=[{"name": "broken", "query": 'sum(rate(x{service="{{service}}"}[5s])',
                                "max": 1}])
    async with rig(apiserver, kubeconfig, prometheus, demo_app, candidate={}, spec=broken) as r:
        await r.release_candidate()
        st = await r.phase("RolledBack")
        assert "bad_data" in st["message"] and "errorLimit 2" in st["message"]
        assert "parse error" in st["message"]


async def test_prometheus_stopped_mid_analysis_rolls_back_never_promotes(
    apiserver: ApiServer, kubeconfig: str, prometheus: PrometheusServer, demo_app: Any
) -> None:
    async with rig(apiserver, kubeconfig, prometheus, demo_app, candidate={},
                   spec=analysis(checks=30)) as r:
        await r.release_candidate()
        await r.phase("Analyzing", activeColor="green")
        await asyncio.to_thread(prometheus.stop)
        try:
            st = await r.phase("RolledBack")
        finally:
            await asyncio.to_thread(prometheus.start)
        assert "error" in st["message"] and "errorLimit 2" in st["message"]
        assert r.cluster.ingress_backend() == "web-blue"
        assert not any(h["result"] == "Promoted" and h["color"] == "green"
                       for h in st["history"])


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    wait_until(predicate, timeout=timeout)

