"""Benchmark: what a broad PromQL answer costs the operator's memory (issue 8, defect 6).

A server process on 127.0.0.1 answers ``/api/v1/query`` with a ~35 MB instant vector (about
140 000 series of eight labels each, compact JSON as Prometheus writes it; chunked, optionally
gzip-compressed as Prometheus does when asked), and a one-series answer for warming up. For
each reader a fresh child process opens the session, warms up, then runs the broad query
``--queries`` times and reports the growth of its peak RSS (``VmHWM`` in /proc/self/status)
over the warmed-up baseline, the time per query and the result:

* ``capped``: :class:`PrometheusProvider` as the operator runs it (1 MiB / 100 series caps);
* ``unbounded``: the pre-cap read, reproduced here only (``await response.text()``, then
  ``json.loads`` and :func:`parse_query_response`): what the operator did before the cap.

    python -m bench.prometheus_answer_cap [--mb 35] [--queries 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import multiprocessing
import os
import subprocess
import sys
import time
from typing import Any

import aiohttp
from aiohttp import web

from finnexus_operator.adapters.prometheus import PrometheusProvider, parse_query_response
from finnexus_operator.core.measurement import QueryResult

READERS = ("capped", "unbounded")
ENCODINGS = ("identity", "gzip")


def broad_answer(megabytes: float) -> bytes:
    """A compact-JSON instant vector of about ``megabytes`` MB: an unaggregated counter."""
    head = b'{"status":"success","data":{"resultType":"vector","result":['
    parts: list[bytes] = []
    size, i = len(head), 0
    while size < megabytes * 1_000_000:
        labels = {"__name__": "http_requests_total", "namespace": "trading",
                  "service": f"backend-{i % 50}", "pod": f"backend-7f0e2c4d9a-{i:06d}",
                  "method": ("GET", "POST")[i % 2], "path": f"/api/v1/orders/{i % 997}",
                  "status": str(200 + i % 7), "instance": f"10.0.{i // 250 % 256}.{i % 250}:8080"}
        item = json.dumps({"metric": labels, "value": [1700000000.123, str(i)]},
                          separators=(",", ":")).encode()
        parts.append(item)
        size += len(item) + 1
        i += 1
    return head + b",".join(parts) + b"]}}"


def serve(port_out: Any, megabytes: float) -> None:
    """The server process: answers ``big`` (chunked), ``big.gzip`` (chunked, gzip) and
    anything else with one series."""
    body = broad_answer(megabytes)
    zipped = gzip.compress(body, compresslevel=1)
    small = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1700000000.123, "0.001"]}]}}).encode()

    async def handle(request: web.Request) -> web.StreamResponse:
        query = request.query.get("query", "")
        if not query.startswith("big"):
            return web.Response(body=small, content_type="application/json")
        use_gzip = query == "big.gzip"
        payload = zipped if use_gzip else body
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if use_gzip:
            response.headers["Content-Encoding"] = "gzip"
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for start in range(0, len(payload), 32 * 1024):
                await response.write(payload[start:start + 32 * 1024])
            await response.write_eof()
        except ConnectionError:  # the reader hung up at its cap
            pass
        return response

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/api/v1/query", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.send((runner.addresses[0][1], len(body), len(zipped)))
        await asyncio.Event().wait()

    asyncio.run(main())


def peak_rss() -> int:
    """This process's peak resident set size in bytes (VmHWM)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


class Unbounded:
    """The pre-cap read path (for comparison only, never in the product)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._session: aiohttp.ClientSession | None = None

    async def query(self, promql: str) -> QueryResult:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.get(self._url + "/api/v1/query",
                                     params={"query": promql}) as response:
            text = await response.text(errors="replace")
            return parse_query_response(json.loads(text))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def child(reader: str, url: str, encoding: str, queries: int) -> dict[str, Any]:
    provider = PrometheusProvider(url, timeout=60) if reader == "capped" else Unbounded(url)
    broad = "big.gzip" if encoding == "gzip" else "big"
    try:
        assert (await provider.query("small")).ok
        baseline = peak_rss()
        seconds: list[float] = []
        result = None
        for _ in range(queries):
            started = time.perf_counter()
            result = await provider.query(broad)
            seconds.append(time.perf_counter() - started)
        assert result is not None
        return {"reader": reader, "encoding": encoding, "growth": peak_rss() - baseline,
                "baseline": baseline, "seconds": max(seconds), "outcome": str(result.outcome),
                "detail": result.detail}
    finally:
        await provider.close()


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=35.0, help="size of the broad answer, MB")
    parser.add_argument("--queries", type=int, default=3, help="broad queries per reader")
    parser.add_argument("--child", nargs=3, metavar=("READER", "URL", "ENCODING"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        reader, url, encoding = args.child
        print(json.dumps(asyncio.run(child(reader, url, encoding, args.queries))))
        return

    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(target=serve, args=(send, args.mb), daemon=True)
    server.start()
    try:
        port, plain, zipped = receive.recv()
        url = f"http://127.0.0.1:{port}"
        print(f"broad answer: {plain / 1e6:.1f} MB of JSON ({zipped / 1e6:.1f} MB gzip), "
              f"served chunked from a separate process on {url}; "
              f"{args.queries} broad queries per reader, each reader a fresh process")
        print(f"{'reader':<10} {'encoding':<9} {'peak RSS growth':>16} {'s/query':>8}  result")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        for encoding in ENCODINGS:
            for reader in READERS:
                out = subprocess.run(
                    [sys.executable, "-m", "bench.prometheus_answer_cap", "--queries",
                     str(args.queries), "--child", reader, url, encoding],
                    check=True, capture_output=True, text=True, env=env).stdout
                row = json.loads(out.strip().splitlines()[-1])
                detail = row["detail"] if len(row["detail"]) < 70 else row["detail"][:67] + "..."
                print(f"{reader:<10} {encoding:<9} {mib(row['growth']):>16} "
                      f"{row['seconds']:>8.3f}  {row['outcome']}: {detail}")
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
