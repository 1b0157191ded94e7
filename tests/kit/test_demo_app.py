"""The demo app (health toggle, error injection, metrics, /control) and the load generator."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from finnexus_kit.app import AppHandle, AppSettings, start_app
from finnexus_kit.load import check_loopback_url, generate_load


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def app() -> AsyncIterator[AppHandle]:
    async with await start_app(service="unit", version="v7", seed=1) as handle:
        yield handle


async def get(client: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with client.get(url) as response:
        return response.status, await response.text()


async def post(client: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with client.post(url, json=body) as response:
        return response.status, await response.json()


def metric_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_binds_loopback_on_a_free_port(app: AppHandle) -> None:
    assert app.host == "127.0.0.1"
    assert app.port > 0
    assert app.url == f"http://127.0.0.1:{app.port}"


async def test_health_toggle(app: AppHandle, client: aiohttp.ClientSession) -> None:
    assert await get(client, app.url + "/health") == (200, "ok")
    app.set(healthy=False)
    assert (await get(client, app.url + "/health"))[0] == 503
    assert (await post(client, app.url + "/control", {"healthy": True}))[0] == 200
    assert await get(client, app.url + "/health") == (200, "ok")


async def test_version_and_any_path(app: AppHandle, client: aiohttp.ClientSession) -> None:
    assert await get(client, app.url + "/version") == (200, "v7")
    assert await get(client, app.url + "/") == (200, "unit v7\n")
    assert await get(client, app.url + "/api/orders/42") == (200, "unit v7\n")


async def test_error_ratio_is_respected(app: AppHandle, client: aiohttp.ClientSession) -> None:
    app.set(error_ratio=0.3)
    statuses = [(await get(client, app.url + "/"))[0] for _ in range(400)]
    assert set(statuses) == {200, 500}
    assert statuses.count(500) / len(statuses) == pytest.approx(0.3, abs=0.08)
    app.set(error_ratio=0.0)
    assert {(await get(client, app.url + "/x"))[0] for _ in range(50)} == {200}
    app.set(error_ratio=1.0)
    assert {(await get(client, app.url + "/x"))[0] for _ in range(20)} == {500}


async def test_latency_and_jitter(app: AppHandle, client: aiohttp.ClientSession) -> None:
    app.set(latency=0.1)
    started = time.perf_counter()
    await get(client, app.url + "/")
    assert 0.1 <= time.perf_counter() - started < 0.5
    app.set(latency=0.1, jitter=True)
    durations = []
    for _ in range(8):
        started = time.perf_counter()
        await get(client, app.url + "/")
        durations.append(time.perf_counter() - started)
    assert min(durations) >= 0.08
    assert len({round(d, 3) for d in durations}) > 1


async def test_metrics_names_and_labels(app: AppHandle, client: aiohttp.ClientSession) -> None:
    async with client.get(app.url + "/metrics") as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        before = metric_samples(await response.text())
    ok = frozenset({("service", "unit"), ("status", "200")})
    failed = frozenset({("service", "unit"), ("status", "500")})
    # Both status series exist before any request, so an error ratio is 0, not empty.
    assert before[("http_requests_total", ok)] == 0
    assert before[("http_requests_total", failed)] == 0

    app.set(error_ratio=1.0)
    await get(client, app.url + "/")
    app.set(error_ratio=0.0)
    for _ in range(3):
        await get(client, app.url + "/")
    await get(client, app.url + "/health")  # not counted
    after = metric_samples((await get(client, app.url + "/metrics"))[1])
    assert after[("http_requests_total", ok)] == 3
    assert after[("http_requests_total", failed)] == 1
    service = frozenset({("service", "unit")})
    assert after[("http_request_duration_seconds_count", service)] == 4
    buckets = {
        dict(labels)["le"]
        for name, labels in after
        if name == "http_request_duration_seconds_bucket"
    }
    assert {"0.005", "0.05", "0.1", "0.2", "0.3", "0.5", "1.0", "2.0", "+Inf"} <= buckets


async def test_control_get_and_post(app: AppHandle, client: aiohttp.ClientSession) -> None:
    async with client.get(app.url + "/control") as response:
        assert await response.json() == {
            "service": "unit",
            "version": "v7",
            "error_ratio": 0.0,
            "latency": 0.0,
            "healthy": True,
            "jitter": False,
        }
    status, body = await post(client, app.url + "/control", {"error_ratio": 0.05, "latency": 0.3})
    assert status == 200
    assert (body["error_ratio"], body["latency"], body["healthy"]) == (0.05, 0.3, True)
    assert (app.settings.error_ratio, app.settings.latency) == (0.05, 0.3)


@pytest.mark.parametrize(
    "body",
    [
        {"error_ratio": 2},
        {"error_ratio": "0.1"},
        {"latency": -1},
        {"healthy": "no"},
        {"version": "v2"},
        [1, 2],
    ],
)
async def test_control_rejects_bad_input(
    app: AppHandle, client: aiohttp.ClientSession, body: Any
) -> None:
    status, answer = await post(client, app.url + "/control", body)
    assert status == 400
    assert answer["error"]
    assert app.settings.error_ratio == 0.0  # nothing half-applied


async def test_control_rejects_non_json(app: AppHandle, client: aiohttp.ClientSession) -> None:
    async with client.post(app.url + "/control", data=b"{nope") as response:
        assert response.status == 400


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="error_ratio"):
        AppSettings(error_ratio=1.5)
    settings = AppSettings(error_ratio=1, latency=0)
    assert settings.error_ratio == 1.0


async def test_load_generator_paces_and_stops_by_itself(app: AppHandle) -> None:
    started = time.monotonic()
    stats = await generate_load([app.url + "/"], rps=100, duration=0.5)
    assert time.monotonic() - started < 2.0
    assert 40 <= stats.sent <= 51
    assert stats.by_status[200] == stats.sent
    assert stats.failed == 0


async def test_load_generator_stop_event(app: AppHandle) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(generate_load([app.url + "/a", app.url + "/b"], rps=50, stop=stop))
    await asyncio.sleep(0.3)
    stop.set()
    stats = await asyncio.wait_for(task, 2.0)
    assert 5 <= stats.sent <= 20
    assert stats.answered == stats.sent


async def test_load_generator_counts_failures() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stats = await generate_load([f"http://127.0.0.1:{port}/"], rps=20, duration=0.2)
    assert stats.sent >= 1
    assert stats.failed == stats.sent


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://192.168.1.10:8080/",
        "http://8.8.8.8/",
        "http://example.com/",
        "http://localhost:8080/",
        "ftp://127.0.0.1/",
        "127.0.0.1:8080",
    ],
)
async def test_load_generator_refuses_non_loopback(url: str) -> None:
    with pytest.raises(ValueError):
        await generate_load(["http://127.0.0.1:1/", url], rps=10, duration=0.1)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/", "http://127.9.8.7/x", "http://[::1]:80/"]
)
def test_loopback_urls_are_accepted(url: str) -> None:
    assert check_loopback_url(url) == url


async def test_load_generator_needs_sane_arguments() -> None:
    with pytest.raises(ValueError):
        await generate_load([], rps=10, duration=1)
    with pytest.raises(ValueError):
        await generate_load(["http://127.0.0.1:1/"], rps=0, duration=1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_command_line(client: aiohttp.ClientSession) -> None:
    port = _free_port()
    argv = ["-m", "finnexus_kit.app", "--port", str(port), "--service", "cli"]
    argv += ["--version", "v9", "--unhealthy", "--error-ratio", "0"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                assert await get(client, url + "/version") == (200, "v9")
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the demo app did not start")
        assert (await get(client, url + "/health"))[0] == 503
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) is not None


def test_command_line_rejects_bad_ratio() -> None:
    argv = [sys.executable, "-m", "finnexus_kit.app", "--port", "1"]
    argv += ["--service", "x", "--error-ratio", "3"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert "error_ratio" in done.stderr
