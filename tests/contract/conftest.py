"""Fixtures of the contract tests: the real operator against the emulated API.

Every test of the modules in ``MONITORED`` (and any test marked ``invariants``) runs under the
invariant monitor (``tests/contract/invariants.py``): it fails on any breach of DESIGN §2.1
rule 1 and friends, and prints ``invariant samples: N, breaches: 0``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from finnexus_kit.apiserver import ApiServer
from finnexus_kit.prometheus import PrometheusServer, missing_reason
from tests.contract.cluster import Cluster, running_cluster
from tests.contract.invariants import InvariantMonitor

MONITORED = ("test_rollouts", "test_drift", "test_ownership", "test_hooks")


@pytest.fixture()
def cluster(apiserver: ApiServer, kubeconfig: str) -> Iterator[Cluster]:
    with running_cluster(apiserver, kubeconfig) as rig:
        yield rig


@pytest.fixture(autouse=True)
def invariants(request: pytest.FixtureRequest) -> Iterator[InvariantMonitor | None]:
    """The invariant monitor around a monitored test (autouse: set up before ``cluster``,
    so it sees the operator's first write, and torn down after it)."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    if module not in MONITORED and request.node.get_closest_marker("invariants") is None:
        yield None
        return
    api: ApiServer = request.getfixturevalue("apiserver")
    monitor = InvariantMonitor(api).start()
    try:
        yield monitor
    finally:
        monitor.stop()
        print(f"\n{request.node.name}: {monitor.summary()}")
        for breach in monitor.breaches:
            print(f"  {breach}\n    {breach.snapshot}")
    assert not monitor.errors, monitor.errors
    assert monitor.breaches == [], "\n".join(str(b) for b in monitor.breaches)


@pytest.fixture(scope="session")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus answering queries (``vector(0)`` needs no scraped data, so no waiting
    for the first scrape): the metric backend of the crash and fault proofs."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus-contract"))
    server.start(wait=False)
    try:
        server.wait_for_sync("vector(1)", timeout=30)
        yield server.url
    finally:
        server.stop()
