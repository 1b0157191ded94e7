"""The metric seam: measure() executes a core Measurement; the provider is chosen by a setting."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

import pytest

from finnexus_operator import errors
from finnexus_operator.adapters.metrics import (
    NO_PROVIDER,
    PROVIDERS,
    MetricProvider,
    make_provider,
    measure,
)
from finnexus_operator.adapters.prometheus import PrometheusProvider, query_params
from finnexus_operator.core.measurement import QueryResult
from finnexus_operator.core.observed import MetricSample
from finnexus_operator.core.probes import Measurement, MetricQuery
from finnexus_operator.settings import Settings, add_run_arguments, settings_from


class FakeProvider:
    """Answers from a table; every query waits until all ``together`` queries have started."""

    def __init__(self, answers: dict[str, QueryResult], together: int = 1) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self._together = together
        self._all_started = asyncio.Event()

    async def query(self, promql: str) -> QueryResult:
        self.asked.append(promql)
        if len(self.asked) >= self._together:
            self._all_started.set()
        await self._all_started.wait()  # deadlocks (and times out) if queries run one by one
        return self.answers[promql]

    async def close(self) -> None:
        pass


ROUND = Measurement((MetricQuery("errors", 'sum(rate(e{color="green"}[1m]))'),
                     MetricQuery("latency", "histogram_quantile(0.99, x)"),
                     MetricQuery("errors-again", 'sum(rate(e{color="green"}[1m]))')))


async def test_measure_runs_every_query_concurrently_in_request_order() -> None:
    provider = FakeProvider({'sum(rate(e{color="green"}[1m]))': QueryResult.value_of(0.01),
                             "histogram_quantile(0.99, x)": QueryResult.no_data("empty")},
                            together=3)
    samples = await asyncio.wait_for(measure(provider, ROUND), timeout=2)
    assert samples == [
        MetricSample("errors", QueryResult.value_of(0.01), 'sum(rate(e{color="green"}[1m]))'),
        MetricSample("latency", QueryResult.no_data("empty"), "histogram_quantile(0.99, x)"),
        MetricSample("errors-again", QueryResult.value_of(0.01),
                     'sum(rate(e{color="green"}[1m]))'),
    ]
    assert len(provider.asked) == 3  # one query per metric, even for a repeated PromQL


async def test_measure_without_a_provider_gives_every_metric_an_error() -> None:
    samples = await measure(None, ROUND)
    assert NO_PROVIDER == ("no Prometheus configured: start the operator with --prometheus-url "
                           "(FINNEXUS_PROMETHEUS_URL)")
    assert samples == [MetricSample(q.name, QueryResult.error(NO_PROVIDER), q.promql)
                       for q in ROUND.queries]


async def test_an_empty_measurement_measures_nothing() -> None:
    provider = FakeProvider({})
    assert await measure(provider, Measurement(())) == []
    assert await measure(None, Measurement(())) == []
    assert provider.asked == []


def test_the_registry_holds_prometheus() -> None:
    assert set(PROVIDERS) == {"prometheus"}


def test_make_provider_builds_prometheus_from_the_settings() -> None:
    provider = make_provider(Settings(
        prometheus_url="https://user:pw@prom.example:9443/p/", prometheus_token="t",
        prometheus_insecure_skip_verify=True, prometheus_timeout=3.0))
    assert isinstance(provider, PrometheusProvider) and isinstance(provider, MetricProvider)
    assert repr(provider) == ("PrometheusProvider(url='https://prom.example:9443/p', "
                              "auth=token, verify_tls=False, timeout=3.0)")


def test_a_token_file_wins_over_a_token() -> None:
    provider = make_provider(Settings(prometheus_url="http://prom:9090", prometheus_token="t",
                                      prometheus_token_file="/var/run/token",
                                      prometheus_ca_file="/ca.pem"))
    assert repr(provider) == ("PrometheusProvider(url='http://prom:9090', auth=token-file, "
                              "verify_tls=True, timeout=5.0)")


def test_prometheus_without_a_url_is_no_provider() -> None:
    assert make_provider(Settings()) is None
    assert make_provider(Settings(prometheus_url="")) is None


def test_an_unknown_provider_is_a_config_error() -> None:
    with pytest.raises(errors.ConfigError) as info:
        make_provider(Settings(metrics_provider="datadog", prometheus_url="http://x"))
    assert str(info.value) == "unknown --metrics-provider 'datadog'; known: prometheus"


def parse(argv: list[str], env: dict[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, metric_providers=PROVIDERS)
    return settings_from(parser.parse_args(argv), env or {}, metric_providers=PROVIDERS)


def test_the_provider_setting_comes_from_flag_then_environment_then_default() -> None:
    assert parse([]).metrics_provider == "prometheus"
    assert parse([], {"FINNEXUS_METRICS_PROVIDER": ""}).metrics_provider == "prometheus"
    assert parse([], {"FINNEXUS_METRICS_PROVIDER": "prometheus"}).metrics_provider == "prometheus"
    with pytest.raises(ValueError, match="'env'"):  # the flag is not given: the env var counts
        parse([], {"FINNEXUS_METRICS_PROVIDER": "env"})
    with pytest.raises(ValueError, match="'flag'"):  # the flag wins over a valid env var
        parse(["--metrics-provider", "flag"], {"FINNEXUS_METRICS_PROVIDER": "prometheus"})
    assert parse(["--metrics-provider", "prometheus"],
                 {"FINNEXUS_METRICS_PROVIDER": "x"}).metrics_provider == "prometheus"


def test_an_unknown_provider_setting_is_rejected_naming_the_known_ones() -> None:
    with pytest.raises(ValueError) as info:
        parse(["--metrics-provider", "x"])
    assert str(info.value) == "unknown --metrics-provider 'x'; known: prometheus"


async def test_a_baseline_query_is_evaluated_at_its_time_and_marked() -> None:
    """Relative bounds: measure() hands the provider the baseline's evaluation time (the
    switch), and the sample says it is a baseline; a round query is evaluated now."""
    switched = datetime(2026, 1, 1, 12, 0, 0, 250000, tzinfo=UTC)
    asked: list[tuple[str, datetime | None]] = []

    class AtProvider:
        async def query(self, promql: str, at: datetime | None = None) -> QueryResult:
            asked.append((promql, at))
            return QueryResult.value_of(0.2 if at else 0.3)

        async def close(self) -> None:
            pass

    measurement = Measurement((MetricQuery("lat", 'l{service="web-green"}'),
                               MetricQuery("lat", 'l{service="web-blue"}', at=switched,
                                           baseline=True)))
    samples = await measure(AtProvider(), measurement)
    assert asked == [('l{service="web-green"}', None), ('l{service="web-blue"}', switched)]
    assert [(s.name, s.result.value, s.baseline) for s in samples] == [
        ("lat", 0.3, False), ("lat", 0.2, True)]
    assert query_params("q", switched) == {"query": "q", "time": "1767268800.250"}
    assert query_params("q") == {"query": "q"}
