"""HealthProber.run executes the core's HealthProbe against pods served by a local HTTP app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from finnexus_operator import constants
from finnexus_operator.adapters.health import HealthProber, pod_matches
from finnexus_operator.core.observed import HealthRound
from finnexus_operator.core.probes import HealthProbe
from tests.helpers import loopback_server


def pod(name: str = "web-green-1", *, app: str = "web", color: str = "green",
        revision: str | None = "r2", ip: str = "127.0.0.1", port: int = 0,
        ready: bool = True) -> dict[str, Any]:
    labels = {constants.LABEL_NAME: app, constants.LABEL_COLOR: color}
    if revision is not None:
        labels[constants.LABEL_REVISION] = revision
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "app", "ports": [
            {"name": "http", "containerPort": port}]}]},
        "status": {"phase": "Running", "podIP": ip, "conditions": [
            {"type": "Ready", "status": "True" if ready else "False"}]},
    }


@pytest.mark.parametrize("labels, matches", [
    ({"app": "web", "color": "green", "revision": "r2"}, True),
    ({"app": "api", "color": "green", "revision": "r2"}, False),  # another resource's pod
    ({"app": "web", "color": "blue", "revision": "r2"}, False),
    ({"app": "web", "color": "green", "revision": "r1"}, False),  # an older revision
    ({"app": "web", "color": "green", "revision": None}, False),
])
def test_pod_matches_name_color_and_revision(labels: dict[str, Any], matches: bool) -> None:
    assert pod_matches(pod(**labels), "web", "green", "r2") is matches


def test_pod_matches_a_missing_revision_only_without_the_label() -> None:
    assert pod_matches(pod(revision=None), "web", "green", None)
    assert not pod_matches(pod(revision="r2"), "web", "green", None)
    assert not pod_matches({}, "web", "green", None)


@pytest.fixture
async def app_port() -> AsyncIterator[int]:
    """A local app: ``/ok`` answers 200, ``/sick`` 503, ``/hang`` never in time."""

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def sick(_: web.Request) -> web.Response:
        return web.Response(status=503, text="no")

    async def hang(_: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response(text="late")

    async with loopback_server({"/ok": ok, "/sick": sick, "/hang": hang}) as port:
        yield port


@pytest.fixture
async def prober() -> AsyncIterator[HealthProber]:
    prober = HealthProber()
    try:
        yield prober
    finally:
        await prober.close()


def probe(path: str = "/ok", *, port: int | str = "http", expected: int = 2,
          timeout: float = 2.0) -> HealthProbe:
    return HealthProbe(name="web", color="green", revision="r2", port=port, path=path,
                       timeout=timeout, expected=expected)


async def test_every_ready_candidate_pod_answering_2xx_passes(
    prober: HealthProber, app_port: int
) -> None:
    pods = [pod("web-green-1", port=app_port), pod("web-green-2", port=app_port),
            pod("web-blue-1", color="blue", ip="192.0.2.1"),  # the stable colour: not probed
            pod("web-green-0", revision="r1", ip="192.0.2.2")]  # an older revision: not probed
    assert await prober.run(probe(), pods) == HealthRound(True, 2)
    # a numeric port is used as is
    assert await prober.run(probe(port=app_port, expected=1), pods[:1]) == HealthRound(True, 1)


async def test_fewer_ready_candidate_pods_than_expected_fails_without_probing(
    prober: HealthProber
) -> None:
    pods = [pod(ip="192.0.2.1"), pod("web-green-2", ip="192.0.2.2", ready=False)]
    assert await prober.run(probe(expected=2), pods) == HealthRound(
        False, 1, "1/2 candidate pods Ready")


@pytest.mark.parametrize("path, port, ip, detail", [
    ("/sick", "http", "127.0.0.1", "1/1 pods failed: pod web-green-1 127.0.0.1:{port}/sick: "
     "HTTP 503"),
    ("/hang", "http", "127.0.0.1", "1/1 pods failed: pod web-green-1 127.0.0.1:{port}/hang: "
     "timeout after 0.2s"),
    ("/ok", "metrics", "127.0.0.1", "1/1 pods failed: pod web-green-1: declares no container "
     "port 'metrics'"),
    ("/ok", "http", "web.example", "1/1 pods failed: pod web-green-1: podIP 'web.example' is "
     "not an IP address"),
])
async def test_a_failing_pod_fails_the_round_with_its_reason(
    prober: HealthProber, app_port: int, path: str, port: str, ip: str, detail: str
) -> None:
    pods = [pod(ip=ip, port=app_port)]
    got = await prober.run(probe(path, port=port, expected=1, timeout=0.2), pods)
    assert got == HealthRound(False, 1, detail.format(port=app_port))



async def test_probes_of_every_resource_share_one_bound() -> None:
    in_flight = peak = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return web.Response(text="ok")

    async with loopback_server({"/health": slow}) as port:
        prober = HealthProber(max_concurrent=3)
        rounds = [prober.run(HealthProbe(name=f"r{i}", color="green", revision="r2", port="http",
                                         path="/health", timeout=2.0, expected=4),
                             [pod(f"r{i}-{j}", app=f"r{i}", port=port) for j in range(4)])
                  for i in range(5)]  # 5 resources x 4 pods probing at once
        results = await asyncio.gather(*rounds)
        await prober.close()
    assert all(r.ok for r in results), results
    assert peak == 3 == prober.peak  # never more than the bound, and the bound is used
