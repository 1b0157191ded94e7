"""Fixtures of the contract tests: the real operator against the emulated API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from finnexus_kit.apiserver import ApiServer
from tests.contract.cluster import Cluster, running_cluster


@pytest.fixture()
def cluster(apiserver: ApiServer, kubeconfig: str) -> Iterator[Cluster]:
    with running_cluster(apiserver, kubeconfig) as rig:
        yield rig
