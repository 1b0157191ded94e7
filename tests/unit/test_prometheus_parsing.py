"""PrometheusProvider against a canned local HTTP server: every answer shape becomes a result."""

from __future__ import annotations

import asyncio
import json
import math
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp.connector
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from finnexus_operator.adapters.prometheus import PrometheusProvider, display_url
from finnexus_operator.core.measurement import QueryOutcome, QueryResult
from tests.helpers import loopback_server

TS = 1700000000.123


def vector(*values: str) -> dict[str, Any]:
    result = [{"metric": {"status": str(200 + i)}, "value": [TS, v]} for i, v in enumerate(values)]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def success(result_type: str, result: Any) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": result_type, "result": result}}


def error_doc(kind: str, message: str) -> dict[str, Any]:
    return {"status": "error", "errorType": kind, "error": message}


@dataclass
class Canned:
    """Answers keyed by the ``query`` parameter; records what it was sent."""

    answers: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    delay: float = 0.0
    seen: list[web.Request] = field(default_factory=list)
    peers: list[Any] = field(default_factory=list)
    url: str = ""

    def json(self, query: str, body: Any, status: int = 200) -> None:
        self.answers[query] = (status, json.dumps(body), "application/json")

    def text(self, query: str, body: str, status: int = 200, ctype: str = "text/plain") -> None:
        self.answers[query] = (status, body, ctype)


@pytest.fixture
async def canned() -> AsyncIterator[Canned]:
    state = Canned()

    async def handle(request: web.Request) -> web.Response:
        state.seen.append(request)
        transport = request.transport
        state.peers.append(transport.get_extra_info("peername") if transport else None)
        if state.delay:
            await asyncio.sleep(state.delay)
        status, body, ctype = state.answers.get(
            request.query.get("query", ""), (404, "no such canned query", "text/plain")
        )
        return web.Response(status=status, text=body, content_type=ctype)

    async with loopback_server({"/api/v1/query": handle,
                                "/prefix/prom/api/v1/query": handle}) as port:
        state.url = f"http://127.0.0.1:{port}"
        yield state


@pytest.fixture
async def provider(canned: Canned) -> AsyncIterator[PrometheusProvider]:
    async with PrometheusProvider(canned.url + "/", timeout=2.0) as client:
        yield client


SEVERAL = "query returned 3 series; it must return one series: aggregate it, e.g. sum(...)"
NAN = QueryResult.no_data("NaN (e.g. 0/0: no traffic)")
PARSE = 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis'
SLOW = "query timed out in expression evaluation"
MATRIX = success("matrix", [{"metric": {}, "values": [[TS, "1"]]}])
V, E = QueryResult.value_of, QueryResult.error

CASES: list[tuple[str, int, Any, QueryResult | str]] = [
    # (name, HTTP status, JSON body, expected result or the ERROR detail's expected start)
    ("empty vector", 200, vector(), QueryResult.no_data("empty vector (no series matched)")),
    ("nan", 200, vector("NaN"), NAN),
    ("+inf", 200, vector("+Inf"), V(math.inf)),
    ("-inf", 200, vector("-Inf"), V(-math.inf)),
    ("one series", 200, vector("0.0123"), V(0.0123)),
    ("scientific", 200, vector("1e-05"), V(1e-05)),
    ("scalar", 200, success("scalar", [TS, "0.5"]), V(0.5)),
    ("scalar nan", 200, success("scalar", [TS, "NaN"]), NAN),
    ("matrix", 200, MATRIX, "query returned a range vector"),
    ("string", 200, success("string", [TS, "hi"]), "query returned a string"),
    ("several series", 200, vector("1", "2", "3"), SEVERAL),
    ("unparsable value", 200, vector("abc"), "unparsable sample value 'abc'"),
    ("bad sample", 200, success("vector", [{"metric": {}, "value": "x"}]), "malformed sample"),
    ("no data key", 200, {"status": "success"}, "malformed answer from Prometheus: no data"),
    ("unknown type", 200, success("weird", []), "unknown resultType 'weird'"),
    ("status error on 200", 200, error_doc("execution", "boom"), E("execution: boom")),
    ("400 bad_data", 400, error_doc("bad_data", PARSE), E(f"bad_data: {PARSE}")),
    ("422 execution", 422, error_doc("execution", "no match"), E("execution: no match")),
    ("503 json", 503, error_doc("timeout", SLOW), E(f"HTTP 503 from Prometheus: timeout: {SLOW}")),
]


@pytest.mark.parametrize(("name", "status", "body", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_answer_shapes(
    canned: Canned,
    provider: PrometheusProvider,
    name: str,
    status: int,
    body: Any,
    expected: QueryResult | str,
) -> None:
    canned.json(name, body, status)
    result = await provider.query(name)
    if isinstance(expected, QueryResult):
        assert result == expected
    else:
        assert result.outcome is QueryOutcome.ERROR, result
        assert result.detail.startswith(expected), result.detail
        assert result.value is None


HTML = "text/html"
FROM = "from Prometheus:"
TEXT_CASES = [
    (
        "503 text",
        503,
        "Service Unavailable\n",
        "text/plain",
        f"HTTP 503 {FROM} Service Unavailable",
    ),
    (
        "502 html",
        502,
        "<html>bad   gateway</html>",
        HTML,
        f"HTTP 502 {FROM} <html>bad gateway</html>",
    ),
    ("401", 401, "Unauthorized", "text/plain", f"HTTP 401 {FROM} Unauthorized"),
    (
        "200 html",
        200,
        "<p>login</p>",
        HTML,
        "non-JSON answer from Prometheus (HTTP 200, text/html): <p>login</p>",
    ),
]


@pytest.mark.parametrize(("name", "status", "body", "ctype", "detail"), TEXT_CASES)
async def test_non_json_answers(
    canned: Canned,
    provider: PrometheusProvider,
    name: str,
    status: int,
    body: str,
    ctype: str,
    detail: str,
) -> None:
    canned.text(name, body, status, ctype)
    assert await provider.query(name) == QueryResult.error(detail)


async def test_long_error_bodies_are_cut(canned: Canned, provider: PrometheusProvider) -> None:
    canned.text("long", "x" * 5000, 500)
    result = await provider.query("long")
    assert result.outcome is QueryOutcome.ERROR
    assert len(result.detail) < 300
    assert result.detail.endswith("...")


async def test_several_series_names_some_of_them(
    canned: Canned, provider: PrometheusProvider
) -> None:
    canned.json("q", vector("1", "2", "3", "4"))
    result = await provider.query("q")
    assert "4 series" in result.detail
    assert '{status="200"}, {status="201"}, {status="202"}, ...' in result.detail


async def test_query_is_sent_as_instant_query_parameter(
    canned: Canned, provider: PrometheusProvider
) -> None:
    promql = 'sum(rate(http_requests_total{service="a b",status=~"5.."}[1m]))'
    canned.json(promql, vector("1"))
    assert (await provider.query(promql)).value == 1.0
    request = canned.seen[-1]
    assert request.path == "/api/v1/query"
    assert request.query["query"] == promql
    assert "Authorization" not in request.headers


async def test_url_with_path_prefix(canned: Canned) -> None:
    canned.json("q", vector("2"))
    async with PrometheusProvider(canned.url + "/prefix/prom/") as client:
        assert client.url == canned.url + "/prefix/prom"
        assert await client.query("q") == QueryResult.value_of(2.0)
    assert canned.seen[-1].path == "/prefix/prom/api/v1/query"


async def test_bearer_token(canned: Canned) -> None:
    canned.json("q", vector("1"))
    async with PrometheusProvider(canned.url, token="s3cret-token") as client:
        assert "s3cret" not in repr(client)
        assert (await client.query("q")).ok
    assert canned.seen[-1].headers["Authorization"] == "Bearer s3cret-token"


async def test_token_file_is_reread_each_query(canned: Canned, tmp_path: Path) -> None:
    canned.json("q", vector("1"))
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    async with PrometheusProvider(canned.url, token_file=str(token_file)) as client:
        assert "first" not in repr(client)
        assert (await client.query("q")).ok
        token_file.write_text("rotated")
        assert (await client.query("q")).ok
        token_file.unlink()
        missing = await client.query("q")
    assert [r.headers["Authorization"] for r in canned.seen] == ["Bearer first", "Bearer rotated"]
    assert missing.outcome is QueryOutcome.ERROR
    assert missing.detail.startswith(f"cannot read token file {token_file}")


async def test_userinfo_is_used_but_never_shown(canned: Canned) -> None:
    canned.json("q", vector("1"))
    host = canned.url.removeprefix("http://")
    async with PrometheusProvider(f"http://alice:pa55@{host}/") as client:
        assert client.url == canned.url
        assert "pa55" not in repr(client)
        assert (await client.query("q")).ok
    assert canned.seen[-1].headers["Authorization"].startswith("Basic ")


async def test_one_session_is_reused(canned: Canned, provider: PrometheusProvider) -> None:
    canned.json("q", vector("1"))
    for _ in range(3):
        assert (await provider.query("q")).ok
    assert len(set(canned.peers)) == 1  # one keep-alive connection
    await provider.close()
    assert (await provider.query("q")).ok  # usable again after close


async def test_timeout(canned: Canned) -> None:
    canned.json("slow", vector("1"))
    canned.delay = 1.0
    async with PrometheusProvider(canned.url, timeout=0.2) as client:
        result = await client.query("slow")
    assert result == QueryResult.error("timeout after 0.2s")


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with PrometheusProvider(f"http://127.0.0.1:{port}") as client:
        result = await client.query("up")
    assert result == QueryResult.error(
        f"cannot connect to Prometheus at 127.0.0.1:{port}: connection refused"
    )


class NoDns(AbstractResolver):
    """A resolver that knows no names: DNS failure without touching the network."""

    def __init__(self, **_: Any) -> None:
        pass

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[ResolveResult]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


async def test_dns_failure_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiohttp.connector, "DefaultResolver", NoDns)
    async with PrometheusProvider("http://prometheus.monitoring:9090") as client:
        result = await client.query("up")
    assert result == QueryResult.error(
        "DNS lookup failed for Prometheus host prometheus.monitoring: Name or service not known"
    )


@pytest.mark.parametrize(
    ("url", "kwargs"),
    [
        ("ftp://x", {}),
        ("localhost:9090", {}),
        ("http://x", {"timeout": 0}),
        ("http://x", {"token": "a", "token_file": "/f"}),
    ],
)
def test_bad_configuration_raises(url: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PrometheusProvider(url, **kwargs)


def test_tls_settings_are_kept_and_repr_is_safe() -> None:
    provider = PrometheusProvider("https://prom.example:9443/x/", verify_tls=False, timeout=3)
    assert provider.url == "https://prom.example:9443/x"
    assert repr(provider) == (
        "PrometheusProvider(url='https://prom.example:9443/x', auth=none, "
        "verify_tls=False, timeout=3)"
    )


@pytest.mark.parametrize(("url", "shown"), [
    ("http://127.0.0.1:9090", "http://127.0.0.1:9090"),
    (" http://prom:9090/ ", "http://prom:9090"),
    ("https://user:secret@prom.example/x/y/?q=1#f", "https://prom.example/x/y"),
])
def test_display_url_is_the_provider_url_without_credentials(url: str, shown: str) -> None:
    assert display_url(url) == shown == PrometheusProvider(url).url


def test_query_result_invariants() -> None:
    assert QueryResult.value_of(float("nan")).outcome is QueryOutcome.NO_DATA
    assert str(QueryResult.value_of(0.25)) == "0.25"
    assert str(QueryResult.no_data("empty vector")) == "NoData: empty vector"
    with pytest.raises(ValueError):
        QueryResult(QueryOutcome.ERROR, 1.0, "x")
    with pytest.raises(ValueError):
        QueryResult(QueryOutcome.VALUE)
