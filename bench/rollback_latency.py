"""Benchmark: how fast a breaching candidate loses its traffic (issues 3 and 11).

Real parts: the operator (kopf) in-process against the emulated API, the real Prometheus
(scrape interval 1 s), two demo apps (blue = stable, green = candidate) under loopback load,
the default analysis interval (30 s), rate window 5 s. It runs twice, each time ``--runs``
releases: **with the breach watch** (``breachCheckSeconds: 5``, the default) and **without**
(``breachCheckSeconds`` equal to the interval: no check between rounds). Each run releases a
new revision; once it is being analysed and its error ratio is clean, the candidate starts
failing (20 % errors) at a random phase (0 to one interval) of the analysis timer, and the run
ends when the Ingress backend is back on blue.

Printed per run and summarised per mode:
(a) end-to-end: candidate starts failing -> Ingress patch accepted (median, p90, max), the end
    being the timestamp of the operator's own "traffic routed" log line (color=blue);
(b) operator's share: breaching measurement back from Prometheus -> Ingress patch accepted
    (median, p99), as the operator measures it: the run's one observation of its histogram
    ``finnexus_decision_to_route_seconds`` (delta of _sum and _count in the in-process
    prometheus_client registry);
(c) how (a) splits: scrape delay (failing -> first scrape that saw errors), rate-window
    build-up (-> the query crosses its bound, evaluated by Prometheus every 0.1 s), measurement
    wait (-> the operator's measurement that saw it: a round or a breach check), and (b).

    python -m bench.rollback_latency [--runs 5] [--interval 30] [--check 5]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import random
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import REGISTRY

from finnexus_kit.apiserver import ApiServer
from finnexus_kit.app import start_app
from finnexus_kit.load import generate_load
from finnexus_kit.prometheus import PrometheusServer, missing_reason
from finnexus_operator.logs import configure
from finnexus_operator.settings import Settings
from tests.contract.cluster import Cluster, resource, running_cluster

MAX_RATIO = 0.01
ERROR_RATE = (
    'sum(rate(http_requests_total{service="%s",status=~"5.."}[5s]))'
    ' / sum(rate(http_requests_total{service="%s"}[5s]))'
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def prom_range(prom: PrometheusServer, query: str, start: float, end: float,
               step: float) -> list[tuple[float, float]]:
    params = urllib.parse.urlencode(
        {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step}"})
    with urllib.request.urlopen(f"{prom.url}/api/v1/query_range?{params}", timeout=10) as resp:
        data = json.load(resp)["data"]["result"]
    return [(float(t), float(v)) for t, v in data[0]["values"]] if data else []


def first_error_scrape(prom: PrometheusServer, after: float, until: float) -> float | None:
    """Timestamp of the first scrape after ``after`` whose 5xx counter had grown."""
    query = 'http_requests_total{service="web-green",status="500"}'
    params = urllib.parse.urlencode({"query": f"{query}[{int(until - after) + 10}s]",
                                     "time": f"{until:.3f}"})
    with urllib.request.urlopen(f"{prom.url}/api/v1/query?{params}", timeout=10) as resp:
        result = json.load(resp)["data"]["result"]
    if not result:
        return None
    samples = [(float(t), float(v)) for v, t in ((s[1], s[0]) for s in result[0]["values"])]
    before = [v for t, v in samples if t <= after]
    base = before[-1] if before else 0.0
    for t, v in samples:
        if t > after and v > base:
            return t
    return None


ROUTE_SECONDS = "finnexus_decision_to_route_seconds"  # the operator's own histogram
LOUD = ("warning", "error", "critical", "exception")


@dataclasses.dataclass(frozen=True)
class Routed:
    """One "traffic routed" line of the operator's log."""

    color: str
    routed_at: float  # the line's timestamp: right after the router write was accepted


class RouteLog:
    """A structlog processor keeping the operator's "traffic routed" lines (it runs in this
    process); quieter lines than warnings are dropped after that, as at --log-level warning."""

    def __init__(self) -> None:
        self.lines: list[Routed] = []

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("event") == "traffic routed":
            stamp = datetime.fromisoformat(str(event["timestamp"])).timestamp()
            self.lines.append(Routed(str(event["color"]), stamp))
        if event.get("level") not in LOUD:
            raise structlog.DropEvent
        return event

    def install(self) -> None:
        """Log at info (the operator's "traffic routed" is an info line) through this."""
        configure("console", "info")
        logging.getLogger().setLevel(logging.WARNING)  # kopf's own lines: warnings only
        processors = list(structlog.get_config()["processors"])
        structlog.configure(processors=[*processors[:-1], self, processors[-1]])


def route_histogram() -> tuple[float, float]:
    """(count, sum) of the operator's decision-to-route histogram, from this process's
    prometheus_client registry (the operator registers its metrics there)."""
    count = REGISTRY.get_sample_value(f"{ROUTE_SECONDS}_count")
    total = REGISTRY.get_sample_value(f"{ROUTE_SECONDS}_sum")
    return count or 0.0, total or 0.0


async def one_run(cluster: Cluster, prom: PrometheusServer, apps: dict[str, Any], run: int,
                  routes: RouteLog, interval: float) -> dict[str, float] | None:
    apps["green"].set(error_ratio=0.0)
    # Wait until the candidate's window is clean (earlier runs' errors aged out) ...
    await prom.wait_for(ERROR_RATE % ("web-green", "web-green"),
                        lambda r: bool(r) and float(r[0]["value"][1]) < MAX_RATIO, timeout=30)
    await asyncio.to_thread(cluster.set_image, f"app:bench{run}")
    await asyncio.to_thread(cluster.wait_phase, "Analyzing", "web", 30.0, activeColor="green")
    await asyncio.sleep(random.uniform(0.0, interval))  # a random phase of the analysis timer
    if cluster.status().get("phase") != "Analyzing":  # ... or the run is not a clean one
        return None
    seen = len(routes.lines)
    count_before, sum_before = route_histogram()
    failing_at = time.time()
    apps["green"].set(error_ratio=0.2)
    await asyncio.to_thread(cluster.wait_phase, "RolledBack", "web", interval + 30.0)
    routed = [line for line in routes.lines[seen:] if line.color == "blue"]
    count_after, sum_after = route_histogram()
    if len(routed) != 1 or count_after - count_before != 1:
        return None  # the rollback is this run's one traffic switch, or the run is not clean
    routed_at = routed[0].routed_at
    operator = sum_after - sum_before  # the histogram's one observation of this run
    decided_at = routed_at - operator
    await asyncio.sleep(1.5)  # let Prometheus have the samples up to the rollback
    scraped = first_error_scrape(prom, failing_at, routed_at)
    curve = prom_range(prom, ERROR_RATE % ("web-green", "web-green"), failing_at,
                       routed_at, 0.1)
    crossed = next((t for t, v in curve if v > MAX_RATIO), None)
    by_check = "breach check" in str(cluster.status().get("message", ""))
    return {
        "end_to_end": routed_at - failing_at,
        "operator": operator,
        "scrape_delay": (scraped - failing_at) if scraped else float("nan"),
        "build_up": (crossed - scraped) if crossed and scraped else float("nan"),
        "measurement_wait": (decided_at - crossed) if crossed else float("nan"),
        "by_check": float(by_check),
    }


def analysis(interval: int, check: int) -> dict[str, Any]:
    return {
        "intervalSeconds": interval, "breachCheckSeconds": check, "checks": 1000,
        "failureLimit": 0, "noDataLimit": 5, "errorLimit": 5,
        "metrics": [{"name": "error-rate", "query": ERROR_RATE % ("{{service}}", "{{service}}"),
                     "max": MAX_RATIO}],
    }


def summary(label: str, results: list[dict[str, float]]) -> list[str]:
    e2e = [r["end_to_end"] for r in results]
    op = [r["operator"] for r in results]

    def med(key: str) -> float:
        vals = [r[key] for r in results if r[key] == r[key]]
        return statistics.median(vals) if vals else float("nan")

    checks = int(sum(r["by_check"] for r in results))
    return [
        f"{label}: {len(results)} runs, {checks} rolled back by a breach check",
        f"  (a) end-to-end, failing -> Ingress back on stable: median "
        f"{statistics.median(e2e):.3f} s, p90 {pct(e2e, 0.9):.3f} s, max {max(e2e):.3f} s",
        f"  (b) operator's share, breaching result -> Ingress patch accepted: median "
        f"{statistics.median(op) * 1000:.1f} ms, p99 {pct(op, 0.99) * 1000:.1f} ms",
        f"  (c) median split of (a): scrape delay {med('scrape_delay'):.3f} s, rate-window "
        f"build-up {med('build_up'):.3f} s, measurement wait {med('measurement_wait'):.3f} s, "
        f"operator {statistics.median(op):.3f} s",
    ]


async def main_async(runs: int, interval: int, check: int) -> int:
    reason = missing_reason()
    if reason:
        print(f"rollback_latency: {reason}", file=sys.stderr)
        return 2
    modes = [(f"with the breach watch (breachCheckSeconds {check})", check),
             (f"without it (breachCheckSeconds {interval} = intervalSeconds)", interval)]
    work = Path(tempfile.mkdtemp(prefix="fnd-bench-"))
    prom = PrometheusServer(work / "prom", slots=2, scrape_interval="1s")
    prom.start(timeout=30)
    apps = {"blue": await start_app("127.0.0.1", prom.take_slot(), service="web-blue"),
            "green": await start_app("127.0.0.1", prom.take_slot(), service="web-green")}
    stop = asyncio.Event()
    load = asyncio.create_task(generate_load([apps["blue"].url, apps["green"].url], 200.0,
                                             stop=stop))
    api = ApiServer().start()
    kubeconfig = api.write_kubeconfig(work / "kubeconfig")
    settings = Settings(prometheus_url=prom.url, metrics_port=0, health_port=0,
                        log_level="warning", log_format="console")
    body = resource(image="app:bench0", analysis=analysis(interval, check))
    body["spec"]["healthCheck"]["successThreshold"] = 1

    def endpoint(dep: dict[str, Any]) -> int:
        return int(apps[dep["spec"]["template"]["metadata"]["labels"]["finnexus.ai/color"]].port)

    results: dict[str, list[dict[str, float]]] = {label: [] for label, _ in modes}
    routes = RouteLog()
    routes.install()
    cm = running_cluster(api, kubeconfig, settings=settings, endpoint=endpoint)
    cluster = await asyncio.to_thread(cm.__enter__)
    started = time.monotonic()
    try:
        await asyncio.to_thread(cluster.create, body)
        await asyncio.to_thread(cluster.wait_phase, "Stable", "web", 30.0)
        run = 0
        for label, period in modes:
            await asyncio.to_thread(cluster.patch_spec, "web",
                                    analysis=analysis(interval, period))
            print(f"\n{label}, intervalSeconds {interval}")
            print("run  end-to-end  operator  scrape  build-up  measurement-wait  by   (seconds)")
            for _ in range(runs):
                run += 1
                r = await one_run(cluster, prom, apps, run, routes, float(interval))
                if r is None:
                    print(f"{run:3d}  no rollback timing recorded")
                    continue
                results[label].append(r)
                print(f"{run:3d}  {r['end_to_end']:10.3f}  {r['operator']:8.4f}  "
                      f"{r['scrape_delay']:6.3f}  {r['build_up']:8.3f}  "
                      f"{r['measurement_wait']:16.3f}  {'check' if r['by_check'] else 'round'}")
    finally:
        stop.set()
        await load
        await asyncio.to_thread(cm.__exit__, None, None, None)
        for app in apps.values():
            await app.close()
        api.stop()
        prom.stop()
    if not all(results.values()):
        return 1
    print(f"\nPrometheus scrape 1 s, analysis interval {interval} s, rate window 5 s, "
          f"{time.monotonic() - started:.0f} s in all")
    for label, _ in modes:
        print("\n".join(summary(label, results[label])))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="releases per mode")
    parser.add_argument("--interval", type=int, default=30, help="analysis intervalSeconds")
    parser.add_argument("--check", type=int, default=5, help="breachCheckSeconds (watch on)")
    args = parser.parse_args()
    return asyncio.run(main_async(args.runs, args.interval, args.check))


if __name__ == "__main__":
    raise SystemExit(main())
