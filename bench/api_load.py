"""API load of the operator, from the emulated API's request log (told apart by User-Agent):
requests for one release V1 -> V2 by verb and resource, and idle requests per minute for one
Stable resource. Prints a table; asserts nothing.

    PYTHONPATH=$PWD python bench/api_load.py [--idle-seconds 60]

Setup (the README's "API load" paragraph derives the minimum for it): replicas 1, an Ingress,
no analysis, automatic promotion, health successThreshold 1 (interval 1 s),
scaleDownDelaySeconds 1. The operator runs in this process (the contract tests' rig).
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from finnexus_kit.apiserver import ApiServer
from finnexus_operator.adapters.kube import USER_AGENT
from tests.contract.cluster import Cluster, resource, running_cluster
from tests.helpers import wait_until

AGENTS = ("kopf/", USER_AGENT)
WRITES = {"POST", "PATCH", "PUT", "DELETE"}


def spec() -> dict[str, object]:
    return dict(replicas=1, healthCheck={"intervalSeconds": 1, "timeoutSeconds": 1,
                                         "successThreshold": 1, "failureThreshold": 2},
                promotion={"auto": True, "scaleDownDelaySeconds": 1})


def operator_requests(cluster: Cluster, since: float, until: float | None = None
                      ) -> list[tuple[str, str, dict[str, str]]]:
    found = []
    for agent in AGENTS:
        found += [r for t, r in cluster.api.requests.timed(agent)
                  if t >= since and (until is None or t < until)]
    return found


def verb(method: str, path: str, query: dict[str, str]) -> str:
    if method == "GET":
        if query.get("watch") in ("1", "true"):
            return "WATCH"
        parts = path.strip("/").split("/")
        rest = parts[parts.index("namespaces") + 2:] if "namespaces" in parts else []
        return "GET" if len(rest) >= 2 else "LIST"
    return method


def resource_of(path: str) -> str:
    parts = path.strip("/").split("/")
    if "namespaces" in parts:
        rest = parts[parts.index("namespaces") + 2:]
        return rest[0] + ("/status" if rest[-1] == "status" else "") if rest else "namespaces"
    return parts[-1]


def table(requests: Iterable[tuple[str, str, dict[str, str]]]) -> collections.Counter[str]:
    return collections.Counter(f"{verb(m, p, q)} {resource_of(p)}" for m, p, q in requests)


def settle(cluster: Cluster, seconds: float = 1.5) -> None:
    """Until no operator request arrived for ``seconds`` (trailing passes included)."""
    def quiet() -> bool:
        times = [t for agent in AGENTS for t, _ in cluster.api.requests.timed(agent)]
        return time.monotonic() - max(times, default=0.0) >= seconds
    wait_until(quiet, timeout=30, interval=0.1, message="the operator settled")


def release(cluster: Cluster) -> collections.Counter[str]:
    """V1 -> V2, measured from the template change until the old colour is scaled down."""
    cluster.create(resource(**spec()))
    cluster.wait_phase("Stable", timeout=30)
    settle(cluster)
    start = time.monotonic()
    cluster.set_image("app:good2")
    cluster.wait_phase("Stable", activeColor="green", timeout=30)
    wait_until(lambda: cluster.replicas("web-blue") == 0, timeout=30,
               message="old colour scaled down")
    settle(cluster)
    return table(operator_requests(cluster, start))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ApiServer() as api:
        kubeconfig = api.write_kubeconfig(str(Path(tmp) / "kubeconfig"))
        with running_cluster(api, kubeconfig) as cluster:
            counts = release(cluster)
            idle_start = time.monotonic()
            time.sleep(args.idle_seconds)
            idle = table(operator_requests(cluster, idle_start))
    writes = sum(n for k, n in counts.items() if k.split()[0] in WRITES)
    print("one release V1 -> V2 (replicas 1, Ingress, no analysis, successThreshold 1):")
    for key, n in sorted(counts.items()):
        print(f"  {n:4d}  {key}")
    print(f"  total {sum(counts.values())} requests, {writes} writes "
          f"({sum(n for k, n in counts.items() if 'events' in k)} Event POSTs)")
    per_minute = {k: round(n * 60 / args.idle_seconds, 1) for k, n in idle.items()}
    print(f"idle, one Stable resource, {args.idle_seconds:g}s: "
          f"{sum(idle.values()) * 60 / args.idle_seconds:.1f} requests/min {per_minute}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
