"""The async API client against a loopback HTTP server: headers, auth (a rotating token
file), errors translated, watch lines, and the client-side token bucket."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from aiohttp import web

from finnexus_operator import errors
from finnexus_operator.adapters import kubeauth
from finnexus_operator.adapters.kube import USER_AGENT, ClientConfig, KubeClient, RateLimiter
from tests.helpers import loopback_server


def test_the_token_bucket_allows_a_burst_then_qps() -> None:
    now = [0.0]
    bucket = RateLimiter(qps=10, burst=3, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)  # waiters queue up behind each other
    now[0] = 1.0  # a second later: refilled by 10, capped at the burst
    assert bucket.reserve() == 0.0
    assert RateLimiter(qps=0, burst=1).reserve() == 0.0  # 0: unlimited


async def test_requests_carry_the_user_agent_and_the_rotating_token(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch
                                                                    ) -> None:
    seen: list[tuple[str, str | None]] = []

    async def get(request: web.Request) -> web.Response:
        seen.append((request.headers["User-Agent"], request.headers.get("Authorization")))
        return web.json_response({"kind": "Pod", "metadata": {"name": "a"}})

    token = tmp_path / "token"
    token.write_text("one\n")
    monkeypatch.setattr(kubeauth, "TOKEN_CHECK_SECONDS", 0.0)
    async with loopback_server({"/api/v1/namespaces/ns/pods/a": get}) as port:
        kube = KubeClient(ClientConfig(f"http://127.0.0.1:{port}", token_file=str(token)))
        assert (await kube.get("/api/v1/namespaces/ns/pods/a")) == {
            "kind": "Pod", "metadata": {"name": "a"}}
        token.write_text("two\n")  # the kubelet rotated the bound token
        os.utime(token, (1, 1))
        await kube.get("/api/v1/namespaces/ns/pods/a")
        await kube.close()
    assert seen == [(USER_AGENT, "Bearer one"), (USER_AGENT, "Bearer two")]


async def test_errors_are_translated_and_a_missing_object_is_none() -> None:
    async def busy(request: web.Request) -> web.Response:
        return web.json_response({"kind": "Status", "code": 429, "reason": "TooManyRequests",
                                  "message": "slow down"}, status=429,
                                 headers={"Retry-After": "2"})

    async with loopback_server({"/busy": busy}) as port:
        kube = KubeClient(ClientConfig(f"http://127.0.0.1:{port}"))
        with pytest.raises(errors.ApiUnavailable) as caught:
            await kube.get("/busy")
        assert caught.value.retry_after == 2.0 and caught.value.status == 429
        assert await kube.get("/absent") is None
        await kube.close()
    kube = KubeClient(ClientConfig(f"http://127.0.0.1:{port}"))  # nobody listens any more
    with pytest.raises(errors.ApiUnavailable):
        await kube.get("/busy")
    await kube.close()


async def test_watch_streams_events_and_lists_return_their_version() -> None:
    async def pods(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") == "1":
            assert request.query["resourceVersion"] == "5"
            assert request.query["labelSelector"] == "finnexus.ai/color"
            response = web.StreamResponse()
            await response.prepare(request)
            for rv in ("6", "7"):
                await response.write(json.dumps({"type": "ADDED", "object": {
                    "metadata": {"name": f"p{rv}", "resourceVersion": rv}}}).encode() + b"\n")
            await response.write_eof()
            return response
        return web.json_response({"items": [{"metadata": {"name": "p5"}}],
                                  "metadata": {"resourceVersion": "5"}})

    async with loopback_server({"/api/v1/pods": pods}) as port:
        kube = KubeClient(ClientConfig(f"http://127.0.0.1:{port}"))
        items, rv = await kube.list_page("/api/v1/pods", "finnexus.ai/color")
        assert rv == "5" and [i["metadata"]["name"] for i in items] == ["p5"]
        events = [e async for e in kube.watch("/api/v1/pods", resource_version=rv,
                                              label_selector="finnexus.ai/color")]
        assert [e["object"]["metadata"]["resourceVersion"] for e in events] == ["6", "7"]
        await kube.close()


async def test_every_write_answer_reaches_the_hook_before_the_caller() -> None:
    answers: list[dict[str, object]] = []
    bodies: list[tuple[str, str | None, object]] = []

    async def patch(request: web.Request) -> web.Response:
        bodies.append((request.method, request.headers.get("Content-Type"),
                       await request.json()))
        return web.json_response({"kind": "Service", "metadata": {"name": "s",
                                                                  "resourceVersion": "9"}})

    app = web.Application()
    app.router.add_route("*", "/s", patch)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    kube = KubeClient(ClientConfig(f"http://127.0.0.1:{port}"), on_write=answers.append)
    try:
        written = await kube.patch("/s", [{"op": "add", "path": "/x", "value": 1}], "json")
        await kube.create("/s", {"metadata": {"name": "s"}})
    finally:
        await kube.close()
        await runner.cleanup()
    assert answers == [written, written]
    assert bodies == [("PATCH", "application/json-patch+json", [
        {"op": "add", "path": "/x", "value": 1}]),
        ("POST", "application/json", {"metadata": {"name": "s"}})]
