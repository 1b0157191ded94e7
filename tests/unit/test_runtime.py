"""Runtime.start: registries are checked before anything is built; the provider is the setting's."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from finnexus_operator import errors
from finnexus_operator.adapters import routers
from finnexus_operator.adapters.kube import ClientConfig
from finnexus_operator.adapters.prometheus import PrometheusProvider
from finnexus_operator.controller.runtime import Runtime
from finnexus_operator.settings import Settings

API_CLIENT = ClientConfig("http://127.0.0.1:9")  # start() builds clients, sends nothing


async def test_a_router_kind_without_a_registration_fails_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(routers.ROUTERS, "ingress")
    runtime = Runtime(Settings(metrics_port=0), API_CLIENT)
    with pytest.raises(errors.ConfigError, match="unknown traffic router 'ingress'"):
        await runtime.start()
    assert runtime.reconciler is None and runtime.queue is None


async def test_an_unknown_metric_provider_fails_the_start() -> None:
    runtime = Runtime(Settings(metrics_provider="datadog", metrics_port=0), API_CLIENT)
    with pytest.raises(errors.ConfigError, match="unknown --metrics-provider 'datadog'"):
        await runtime.start()
    assert runtime.reconciler is None


async def test_without_an_endpoint_there_is_no_provider_and_a_warning() -> None:
    runtime = Runtime(Settings(metrics_port=0), API_CLIENT)
    with capture_logs() as logs:
        await runtime.start()
    try:
        assert runtime.provider is None and runtime.reconciler is not None
        assert runtime.reconciler.provider is None
        assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
            "no --prometheus-url: resources with spec.analysis will see query errors and be "
            "rolled back, never promoted"]
        started = next(e for e in logs if e["event"] == "operator started")
        assert started["metrics_provider"] == "prometheus" and started["prometheus"] is None
    finally:
        await runtime.stop()


async def test_the_configured_provider_is_built_and_logged_without_credentials() -> None:
    settings = Settings(metrics_port=0, prometheus_url="http://op:s3cret@prom:9090/")
    runtime = Runtime(settings, API_CLIENT)
    with capture_logs() as logs:
        await runtime.start()
    try:
        assert isinstance(runtime.provider, PrometheusProvider)
        assert runtime.reconciler is not None and runtime.reconciler.provider is runtime.provider
        started = next(e for e in logs if e["event"] == "operator started")
        assert started["metrics_provider"] == "prometheus"
        assert started["prometheus"] == "http://prom:9090"
        assert "s3cret" not in repr(logs)
    finally:
        await runtime.stop()
