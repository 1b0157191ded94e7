"""The metric-backend boundary: the :class:`MetricProvider` Protocol and its registry.

The operator asks a provider for one instant query at a time and always gets a
:class:`~finnexus_operator.core.measurement.QueryResult` back; providers translate their
library's failures into ``Error`` results instead of raising. Prometheus is the only backend
today; a new one is a class with the same two methods plus an entry in :data:`PROVIDERS`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from finnexus_operator.adapters.prometheus import PrometheusProvider
from finnexus_operator.core.measurement import QueryResult

__all__ = ["PROVIDERS", "MetricProvider", "make_provider"]


@runtime_checkable
class MetricProvider(Protocol):
    """Something that answers an instant query with one :class:`QueryResult`."""

    async def query(self, promql: str) -> QueryResult:
        """Run one instant query; never raises for query or transport problems."""
        ...

    async def close(self) -> None:
        """Release connections; the provider may be used again afterwards."""
        ...


PROVIDERS: dict[str, type[MetricProvider]] = {
    "prometheus": PrometheusProvider,
}


def make_provider(kind: str, **options: Any) -> MetricProvider:
    """Build the provider registered under ``kind`` with its keyword ``options``."""
    try:
        cls = PROVIDERS[kind]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise ValueError(f"unknown metric provider {kind!r}; known: {known}") from None
    return cls(**options)
