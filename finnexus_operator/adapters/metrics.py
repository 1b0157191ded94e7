"""The metric-backend boundary: the :class:`MetricProvider` Protocol, its registry, measure().

The core hands the adapters a :class:`~finnexus_operator.core.probes.Measurement` (each
metric's name and rendered PromQL); :func:`measure` runs its queries concurrently through the
configured provider and returns one :class:`~finnexus_operator.core.observed.MetricSample` per
metric. A provider answers every query with a
:class:`~finnexus_operator.core.measurement.QueryResult` and translates its library's failures
into ``Error`` results instead of raising.

Adding a backend: a class with the Protocol's two methods (``query(promql, at=None)``: an
instant query, evaluated at the past instant ``at`` when given; ``close``) in its own
module, a factory ``(Settings) -> MetricProvider | None`` that builds it from its own settings
(None when its endpoint is not configured), and an entry in :data:`PROVIDERS` under the name
``--metrics-provider`` / ``FINNEXUS_METRICS_PROVIDER`` selects. Prometheus is the only backend
today. An unknown name is rejected when the settings are read, never replaced by a default.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Protocol, runtime_checkable

from finnexus_operator import errors
from finnexus_operator.adapters.prometheus import PrometheusProvider
from finnexus_operator.core.measurement import QueryResult
from finnexus_operator.core.observed import MetricSample
from finnexus_operator.core.probes import Measurement
from finnexus_operator.settings import Settings

__all__ = ["NO_PROVIDER", "PROVIDERS", "MetricProvider", "ProviderFactory", "make_provider",
           "measure"]

NO_PROVIDER = ("no Prometheus configured: start the operator with --prometheus-url "
               "(FINNEXUS_PROMETHEUS_URL)")


@runtime_checkable
class MetricProvider(Protocol):
    """Something that answers an instant query with one :class:`QueryResult`."""

    async def query(self, promql: str, at: datetime | None = None) -> QueryResult:
        """Run one instant query, evaluated at ``at`` (None: now); never raises for query or
        transport problems."""
        ...

    async def close(self) -> None:
        """Release connections; the provider may be used again afterwards."""
        ...


ProviderFactory = Callable[[Settings], "MetricProvider | None"]
"""Builds a provider from the settings; None when its endpoint is not configured."""


def _prometheus(settings: Settings) -> MetricProvider | None:
    if not settings.prometheus_url:
        return None
    return PrometheusProvider(
        settings.prometheus_url,
        token=None if settings.prometheus_token_file else settings.prometheus_token,
        token_file=settings.prometheus_token_file, ca_file=settings.prometheus_ca_file,
        verify_tls=not settings.prometheus_insecure_skip_verify,
        timeout=settings.prometheus_timeout, max_bytes=settings.prometheus_max_bytes,
        max_series=settings.prometheus_max_series)


PROVIDERS: dict[str, ProviderFactory] = {
    "prometheus": _prometheus,
}


def make_provider(settings: Settings) -> MetricProvider | None:
    """The provider ``settings.metrics_provider`` names; None when it has no endpoint."""
    try:
        factory = PROVIDERS[settings.metrics_provider]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise errors.ConfigError(f"unknown --metrics-provider {settings.metrics_provider!r}; "
                                 f"known: {known}") from None
    return factory(settings)


async def measure(provider: MetricProvider | None, measurement: Measurement
                  ) -> list[MetricSample]:
    """One measurement round: every metric's query, concurrently, in the request's order.

    With no provider every metric gets an ``Error`` result (:data:`NO_PROVIDER`): a gate
    that cannot be measured is never passed.
    """
    queries = measurement.queries
    if provider is None:
        missing = QueryResult.error(NO_PROVIDER)
        results: list[QueryResult] = [missing for _ in queries]
    else:
        results = list(await asyncio.gather(*(
            provider.query(q.promql) if q.at is None else provider.query(q.promql, q.at)
            for q in queries)))
    return [MetricSample(q.name, result, q.promql, baseline=q.baseline)
            for q, result in zip(queries, results, strict=True)]
