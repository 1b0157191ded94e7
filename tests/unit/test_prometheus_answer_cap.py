"""The Prometheus answer cap (DESIGN §2.1 rule 7): a huge answer is an Error, read boundedly.

A local aiohttp server streams answers of 20 MB (chunked, declared, gzip-compressed, HTTP 500)
and answers with many series; the provider must answer ``Error`` with a clear detail and the
memory it allocates meanwhile (``tracemalloc`` peak, server and client in one process) must
stay far below the body size. A control test reads the same body with a cap above its size and
shows the measurement does see an unbounded read.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from finnexus_operator.adapters import metrics
from finnexus_operator.adapters.prometheus import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_SERIES,
    PrometheusProvider,
    parse_query_response,
    too_large,
    too_many_series,
)
from finnexus_operator.core.measurement import QueryOutcome, QueryResult
from finnexus_operator.settings import Settings, add_run_arguments, settings_from
from tests.helpers import loopback_server

MiB = 1024 * 1024
BODY = 20 * MiB
BOUND = 8 * MiB  # far below BODY: what the provider may allocate while refusing it
CHUNK = b" " * (64 * 1024)  # allocated once, before any measurement
TS = 1700000000.0


def series(n: int, labels: int = 0) -> dict[str, Any]:
    result = [{"metric": {"pod": f"p{i}", **{f"l{j}": "v" * 20 for j in range(labels)}},
               "value": [TS, str(i)]} for i in range(n)]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


@dataclass
class Served:
    """What the server does, keyed by the ``query`` parameter."""

    handlers: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = field(
        default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)  # bytes the server managed to write
    url: str = ""

    def stream(self, name: str, total: int = BODY, **kw: Any) -> None:
        """Answer ``name`` with ``total`` streamed bytes (see :func:`_stream`)."""
        async def handler(request: web.Request) -> web.StreamResponse:
            return await _stream(request, self, total, **kw)
        self.handlers[name] = handler

    def canned(self, name: str, body: bytes, status: int = 200) -> None:
        """Answer ``name`` with ``body`` at once (Content-Length declared)."""
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, body=body, content_type="application/json")
        self.handlers[name] = handler


async def _stream(request: web.Request, served: Served, total: int, *, status: int = 200,
                  declare: bool = False, gzipped: bool = False) -> web.StreamResponse:
    """Write ``total`` bytes (a JSON prefix, then spaces) in 64 KiB chunks, never all at once."""
    name = request.query["query"]
    response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
    head = b'{"status":"success","data":{"resultType":"vector","result":[' + b" "
    compressor = zlib.compressobj(wbits=31) if gzipped else None
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    elif declare:
        response.content_length = total
    else:
        response.enable_chunked_encoding()
    await response.prepare(request)
    served.sent[name] = 0
    try:
        first = True
        while served.sent[name] < total:
            piece = head if first else CHUNK[: total - served.sent[name]]
            first = False
            out = compressor.compress(piece) if compressor else piece
            if out:
                await response.write(out)
            served.sent[name] += len(piece)
        if compressor:
            await response.write(compressor.flush())
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):  # the client stopped reading: expected
        pass
    return response


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    state = Served()

    async def handle(request: web.Request) -> web.StreamResponse:
        return await state.handlers[request.query["query"]](request)

    async with loopback_server({"/api/v1/query": handle}) as port:
        state.url = f"http://127.0.0.1:{port}"
        yield state


async def measured(provider: PrometheusProvider, query: str) -> tuple[QueryResult, int]:
    """The result and the peak of traced allocations while it was computed."""
    await provider.query("warm")  # open the session and connection outside the measurement
    tracemalloc.start()
    try:
        result = await provider.query(query)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.fixture
async def provider(served: Served) -> AsyncIterator[PrometheusProvider]:
    served.canned("warm", json.dumps(series(1)).encode())
    async with PrometheusProvider(served.url, timeout=20) as client:
        yield client


LARGE = "Prometheus answer larger than 1 MiB (cap); narrow the query"


def test_defaults_and_details() -> None:
    assert DEFAULT_MAX_BYTES == 1024 * 1024 and DEFAULT_MAX_SERIES == 100
    provider = PrometheusProvider("http://prom:9090")
    assert (provider.max_bytes, provider.max_series) == (MiB, 100)
    assert too_large(MiB) == LARGE
    assert too_large(64 * 1024) == "Prometheus answer larger than 64 KiB (cap); narrow the query"
    assert too_large(1500, 500) == "HTTP 500 from Prometheus (answer larger than 1500 bytes, " \
        "not read)"
    assert too_many_series(250, 100).startswith("Prometheus answer has 250 series (cap 100)")
    assert "max_bytes" not in repr(provider)
    assert "max_bytes=10, max_series=2" in repr(PrometheusProvider("http://p", max_bytes=10,
                                                                   max_series=2))


@pytest.mark.parametrize("kwargs", [{"max_bytes": 0}, {"max_series": 0}])
def test_caps_must_be_positive(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PrometheusProvider("http://prom:9090", **kwargs)


@pytest.mark.parametrize(("name", "kw"), [
    ("chunked", {}),
    ("declared", {"declare": True}),
    ("gzip", {"gzipped": True}),
])
async def test_a_huge_answer_is_an_error_read_boundedly(
    served: Served, provider: PrometheusProvider, name: str, kw: dict[str, Any]
) -> None:
    served.stream(name, **kw)
    result, peak = await measured(provider, name)
    assert result == QueryResult.error(LARGE)
    assert peak < BOUND, f"{peak / MiB:.1f} MiB allocated for a {BODY // MiB} MiB answer"
    print(f"{name}: {BODY // MiB} MiB answer -> {result.outcome}, traced peak "
          f"{peak / MiB:.2f} MiB, server wrote {served.sent[name] / MiB:.2f} MiB")
    if name != "gzip":  # 20 MiB of spaces gzip to 20 KiB: the server is done before the cap
        assert served.sent[name] < BODY  # the provider hung up rather than drain the rest


async def test_a_huge_error_page_is_an_error_read_boundedly(
    served: Served, provider: PrometheusProvider
) -> None:
    served.stream("500", status=500)
    result, peak = await measured(provider, "500")
    assert result == QueryResult.error(
        "HTTP 500 from Prometheus (answer larger than 1 MiB, not read)")
    assert peak < BOUND


async def test_control_an_unbounded_read_is_visible_to_the_measurement(
    served: Served,
) -> None:
    """The same 20 MB answer with a cap above it: the measurement does see a 20 MB read."""
    served.canned("warm", json.dumps(series(1)).encode())
    served.stream("big")
    async with PrometheusProvider(served.url, timeout=20, max_bytes=64 * MiB) as client:
        result, peak = await measured(client, "big")
    assert result.outcome is QueryOutcome.ERROR  # not a complete JSON document
    assert peak > BODY


async def test_the_provider_still_works_after_refusing(
    served: Served, provider: PrometheusProvider
) -> None:
    served.stream("big")
    served.canned("ok", json.dumps(series(1)).encode())
    assert (await provider.query("big")).outcome is QueryOutcome.ERROR
    assert await provider.query("ok") == QueryResult.value_of(0.0)


async def test_an_answer_at_the_cap_is_read(served: Served) -> None:
    body = json.dumps(series(1)).encode()
    served.canned("q", body)
    served.canned("gz", gzip.compress(body))
    async with PrometheusProvider(served.url, max_bytes=len(body)) as client:
        assert await client.query("q") == QueryResult.value_of(0.0)
    async with PrometheusProvider(served.url, max_bytes=len(body) - 1) as client:
        result = await client.query("q")
    assert result.outcome is QueryOutcome.ERROR
    assert result.detail == (f"Prometheus answer larger than {len(body) - 1} bytes (cap); "
                             "narrow the query")


@pytest.mark.parametrize("compact", [True, False], ids=["compact", "spaced"])
@pytest.mark.parametrize(("n", "outcome", "detail"), [
    (1, QueryOutcome.VALUE, ""),
    (3, QueryOutcome.ERROR, "query returned 3 series; it must return one series"),
    (100, QueryOutcome.ERROR, "query returned 100 series; it must return one series"),
    (101, QueryOutcome.ERROR, "Prometheus answer has {} series (cap 100)"),
    (5000, QueryOutcome.ERROR, "Prometheus answer has {} series (cap 100)"),
])
async def test_series_cap(served: Served, provider: PrometheusProvider, n: int,
                          outcome: QueryOutcome, detail: str, compact: bool) -> None:
    """Compact JSON (as Prometheus writes it) is refused by a byte scan, before decoding;
    other spacing is counted once decoded. Both are an Error naming the cap."""
    separators = (",", ":") if compact else (", ", ": ")
    served.canned("q", json.dumps(series(n), separators=separators).encode())
    result = await provider.query("q")
    assert result.outcome is outcome
    expected = detail.format("more than 100" if compact else n)
    assert result.detail.startswith(expected), result.detail


async def test_many_series_under_the_byte_cap_are_not_decoded(
    served: Served, provider: PrometheusProvider
) -> None:
    """Just under 1 MiB of tiny series (15 000): refused before json.loads."""
    body = json.dumps(series(15_000), separators=(",", ":")).encode()
    assert len(body) < MiB
    served.canned("many", body)
    result, peak = await measured(provider, "many")
    assert result.detail.startswith("Prometheus answer has more than 100 series (cap 100)")
    assert peak < 4 * MiB  # decoding them would allocate about 9 MiB (measured)


def test_parse_counts_series_against_the_cap() -> None:
    """Pretty-printed JSON escapes the byte scan; the decoded vector is still capped."""
    result = parse_query_response(series(150), max_series=100)
    assert result == QueryResult.error(too_many_series(150, 100))
    assert parse_query_response(series(150)).detail.startswith("query returned 150 series")


async def test_a_label_named_metric_is_not_miscounted(
    served: Served, provider: PrometheusProvider
) -> None:
    """The byte scan never over-counts: label names and values do not look like a series."""
    body = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"metric": "x", "y": ',{"metric":'}, "value": [TS, "0.5"]}]}}
    for separators in ((",", ":"), (", ", ": ")):
        served.canned("m", json.dumps(body, separators=separators).encode())
        async with PrometheusProvider(served.url, max_series=1) as client:
            assert await client.query("m") == QueryResult.value_of(0.5)


def _parse(argv: list[str], env: dict[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return settings_from(parser.parse_args(argv), env or {})


def test_settings() -> None:
    assert (_parse([]).prometheus_max_bytes, _parse([]).prometheus_max_series) == (MiB, 100)
    flags = _parse(["--prometheus-max-bytes", "65536", "--prometheus-max-series", "5"])
    assert (flags.prometheus_max_bytes, flags.prometheus_max_series) == (65536, 5)
    env = _parse([], {"FINNEXUS_PROMETHEUS_MAX_BYTES": "2048",
                      "FINNEXUS_PROMETHEUS_MAX_SERIES": "7"})
    assert (env.prometheus_max_bytes, env.prometheus_max_series) == (2048, 7)
    both = _parse(["--prometheus-max-bytes", "4096"], {"FINNEXUS_PROMETHEUS_MAX_BYTES": "2048"})
    assert both.prometheus_max_bytes == 4096  # the flag wins
    for argv in (["--prometheus-max-bytes", "0"], ["--prometheus-max-series", "0"]):
        with pytest.raises(ValueError, match="must be positive"):
            _parse(argv)
    provider = metrics.make_provider(Settings(prometheus_url="http://p:9090",
                                              prometheus_max_bytes=4096,
                                              prometheus_max_series=3))
    assert isinstance(provider, PrometheusProvider)
    assert (provider.max_bytes, provider.max_series) == (4096, 3)
