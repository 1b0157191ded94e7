"""PrometheusProvider against a real Prometheus scraping in-process demo apps under load."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from finnexus_kit.app import AppHandle, start_app
from finnexus_kit.load import LoadStats, generate_load
from finnexus_kit.prometheus import Predicate, PrometheusServer, Series
from finnexus_operator.adapters.prometheus import PrometheusProvider
from finnexus_operator.core.measurement import QueryOutcome, QueryResult

from .conftest import DemoAppFactory

pytestmark = pytest.mark.prometheus

WINDOW = "5s"


def error_ratio_query(service: str) -> str:
    return (
        f'sum(rate(http_requests_total{{service="{service}",status=~"5.."}}[{WINDOW}])) / '
        f'sum(rate(http_requests_total{{service="{service}"}}[{WINDOW}]))'
    )


def p95_query(service: str) -> str:
    return (
        "histogram_quantile(0.95, sum by (le) "
        f'(rate(http_request_duration_seconds_bucket{{service="{service}"}}[{WINDOW}])))'
    )


def at_least(n: float) -> Predicate:
    def predicate(result: Series) -> bool:
        return bool(result) and float(result[0]["value"][1]) >= n

    return predicate


async def samples_in_window(prometheus: PrometheusServer, selector: str, n: int) -> None:
    """Wait until the rate window holds ``n`` scrapes of ``selector`` (so rate() is settled)."""
    await prometheus.wait_for(f"count_over_time({selector}[{WINDOW}])", at_least(n), timeout=20)


@asynccontextmanager
async def load(app: AppHandle, rps: float) -> AsyncIterator[asyncio.Task[LoadStats]]:
    stop = asyncio.Event()
    task = asyncio.create_task(generate_load([app.url + "/"], rps, duration=60, stop=stop))
    try:
        yield task
    finally:
        stop.set()
        await task


@pytest.fixture
async def provider(prometheus: PrometheusServer) -> AsyncIterator[PrometheusProvider]:
    async with PrometheusProvider(prometheus.url, timeout=3.0) as client:
        yield client


@pytest.mark.parametrize(
    ("promql", "expected"),
    [
        ("vector(0.25)", QueryResult.value_of(0.25)),
        ("scalar(vector(0.5))", QueryResult.value_of(0.5)),
        ("vector(1) / 0", QueryResult.value_of(math.inf)),
        ("-vector(1) / 0", QueryResult.value_of(-math.inf)),
    ],
)
async def test_wire_format_values(
    provider: PrometheusProvider, promql: str, expected: QueryResult
) -> None:
    assert await provider.query(promql) == expected


@pytest.mark.parametrize(
    ("promql", "outcome", "fragment"),
    [
        ("vector(0) / 0", QueryOutcome.NO_DATA, "NaN"),
        ('up{job="prometheus"}[5s]', QueryOutcome.ERROR, "range vector"),
        ('"hello"', QueryOutcome.ERROR, "string"),
    ],
)
async def test_wire_format_other(
    provider: PrometheusProvider, promql: str, outcome: QueryOutcome, fragment: str
) -> None:
    result = await provider.query(promql)
    assert result.outcome is outcome
    assert fragment in result.detail


async def test_error_ratio_tracks_the_app(
    prometheus: PrometheusServer, demo_app: DemoAppFactory, provider: PrometheusProvider
) -> None:
    app = await demo_app(service="ratio", error_ratio=0.25, seed=7)
    async with load(app, rps=80) as running:
        await samples_in_window(prometheus, 'http_requests_total{service="ratio",status="500"}', 5)
        result = await provider.query(error_ratio_query("ratio"))
    stats = running.result()
    assert stats.by_status[500] > 0, stats
    assert result.outcome is QueryOutcome.VALUE, result
    assert result.value == pytest.approx(0.25, abs=0.1)


async def test_p95_latency_tracks_the_app(
    prometheus: PrometheusServer, demo_app: DemoAppFactory, provider: PrometheusProvider
) -> None:
    app = await demo_app(service="slow", latency=0.22)
    async with load(app, rps=40):
        await samples_in_window(
            prometheus, 'http_request_duration_seconds_count{service="slow"}', 4
        )
        result = await provider.query(p95_query("slow"))
    assert result.outcome is QueryOutcome.VALUE, result
    # Every request takes 0.22 s and a bit: all land in the (0.2, 0.25] bucket.
    assert result.value is not None
    assert 0.2 <= result.value <= 0.25


async def test_absent_series_is_no_data(provider: PrometheusProvider) -> None:
    result = await provider.query('sum(rate(http_requests_total{service="nobody"}[5s]))')
    assert result == QueryResult.no_data("empty vector (no series matched)")


async def test_ratio_without_traffic_is_nan_no_data(
    prometheus: PrometheusServer, demo_app: DemoAppFactory, provider: PrometheusProvider
) -> None:
    await demo_app(service="idle")
    await samples_in_window(prometheus, 'http_requests_total{service="idle",status="200"}', 2)
    result = await provider.query(error_ratio_query("idle"))
    assert result.outcome is QueryOutcome.NO_DATA, result
    assert result.detail.startswith("NaN")


async def test_several_series_is_an_error(
    prometheus: PrometheusServer, demo_app: DemoAppFactory, provider: PrometheusProvider
) -> None:
    await demo_app(service="split")
    await prometheus.wait_for('http_requests_total{service="split"}', lambda r: len(r) == 2)
    result = await provider.query('sum by (status) (http_requests_total{service="split"})')
    assert result.outcome is QueryOutcome.ERROR
    assert "2 series" in result.detail
    assert "must return one series" in result.detail


async def test_syntax_error_carries_prometheus_message(
    prometheus: PrometheusServer, provider: PrometheusProvider
) -> None:
    promql = "sum(rate(http_requests_total[5s])"
    raw = await asyncio.to_thread(prometheus.query, promql)
    assert raw["errorType"] == "bad_data"
    result = await provider.query(promql)
    assert result == QueryResult.error(f"bad_data: {raw['error']}")


async def test_file_sd_targets_are_added_and_removed_at_runtime(
    prometheus: PrometheusServer, provider: PrometheusProvider
) -> None:
    async with await start_app(service="sd") as app:  # any port: not a pre-registered slot
        prometheus.set_targets([(app.target, {"job": "sd-test", "team": "payments"})])
        try:
            # Prometheus throttles discovery updates: the first scrape comes 1-10 s later.
            await prometheus.wait_for('up{job="sd-test",team="payments"} == 1', timeout=20)
            query = 'sum(http_requests_total{job="sd-test",team="payments",service="sd"})'
            assert await provider.query(query) == QueryResult.value_of(0.0)
        finally:
            prometheus.set_targets([])
        await prometheus.wait_for('absent(up{job="sd-test"})', timeout=20)


async def test_stopped_prometheus_is_an_error_then_recovers(
    prometheus: PrometheusServer, provider: PrometheusProvider
) -> None:
    assert (await provider.query("vector(1)")).value == 1.0  # the session is open
    prometheus.stop()
    try:
        result = await provider.query("vector(1)")
        assert result.outcome is QueryOutcome.ERROR
        assert "connection refused" in result.detail
        assert prometheus.url.removeprefix("http://") in result.detail
    finally:
        await asyncio.to_thread(prometheus.start)
    assert (await provider.query("vector(1)")).value == 1.0


async def test_a_broad_answer_is_refused_by_the_caps(prometheus: PrometheusServer) -> None:
    """Prometheus's own series (hundreds): over the series cap, refused by the byte scan before
    decoding (the scan's "more than" detail proves the compact-JSON shape it counts on); with a
    small byte cap, refused as too large. Then a narrow query on the same provider still works."""
    broad = '{__name__=~".+"}'
    count = await asyncio.to_thread(prometheus.query, f"count({broad})")
    assert int(count["data"]["result"][0]["value"][1]) > 100
    async with PrometheusProvider(prometheus.url, timeout=3.0) as client:
        result = await client.query(broad)
        assert result == QueryResult.error(
            "Prometheus answer has more than 100 series (cap 100); the query must return one "
            "series: aggregate it, e.g. sum(...)")
        assert (await client.query(f"count({broad})")).ok
    async with PrometheusProvider(prometheus.url, timeout=3.0, max_bytes=16 * 1024) as client:
        result = await client.query(broad)
        assert result == QueryResult.error(
            "Prometheus answer larger than 16 KiB (cap); narrow the query")
        assert (await client.query("vector(1)")).value == 1.0


async def test_a_query_at_a_past_instant_reads_what_the_service_did_then(
    prometheus: PrometheusServer, demo_app: DemoAppFactory, provider: PrometheusProvider
) -> None:
    """The ``time`` parameter (relative bounds' baseline): p95 at an instant before a change
    is the old value, while the same query now reads the new one."""
    app = await demo_app(service="then", latency=0.22)
    async with load(app, rps=40):
        await samples_in_window(
            prometheus, 'http_request_duration_seconds_count{service="then"}', 4)
        before = datetime.now(UTC)
        app.set(latency=0.03)
        await prometheus.wait_for(p95_query("then"), lambda r: bool(r) and float(
            r[0]["value"][1]) < 0.05, timeout=20)
        now = await provider.query(p95_query("then"))
        then = await provider.query(p95_query("then"), before)
    assert now.value is not None and now.value < 0.05, now
    assert then.value is not None and 0.2 <= then.value <= 0.25, then
    later = await provider.query("time()", before)
    assert later.value == pytest.approx(before.timestamp(), abs=0.002)  # sent to the ms
