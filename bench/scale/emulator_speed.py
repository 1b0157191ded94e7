"""Where the emulated API spends its time: ``python -m bench.scale.emulator_speed``.

Creates ``--objects`` ConfigMap-like objects (Services, in one namespace, plus as many in a
second namespace), then times ``--gets`` GETs of random names and ``--lists`` LISTs with a label
selector matching one object, and the request rate of plain GETs after ``--requests`` requests.
Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import time
from collections.abc import Sequence

from finnexus_kit.apiserver import ApiServer, path_for

__all__ = ["main"]


class _Client:
    """One keep-alive HTTP connection (so the figure is the server's, not TCP setup)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def call(self, method: str, path: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        payload = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:200]!r}")
        return json.loads(payload)


def _service(i: int) -> dict[str, object]:
    return {"metadata": {"name": f"svc-{i}", "labels": {"app": f"a{i}", "tier": "web"}},
            "spec": {"selector": {"app": f"a{i}"}, "ports": [{"port": 80}]}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--gets", type=int, default=2000)
    parser.add_argument("--lists", type=int, default=200)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args(argv)
    with ApiServer(("default", "other")) as api:
        client = _Client(api.url)
        start = time.perf_counter()
        for ns in ("default", "other"):
            for i in range(args.objects):
                client.call("POST", path_for("v1", "services", ns), _service(i))
        created = time.perf_counter() - start
        print(f"create {2 * args.objects} objects: {created:.2f} s "
              f"({2 * args.objects / created:.0f}/s)")
        rng = random.Random(1)
        start = time.perf_counter()
        for _ in range(args.gets):
            i = rng.randrange(args.objects)
            client.call("GET", path_for("v1", "services", "default", f"svc-{i}"))
        took = time.perf_counter() - start
        print(f"{args.gets} GETs among {args.objects}: {took:.2f} s ({args.gets / took:.0f}/s)")
        start = time.perf_counter()
        for _ in range(args.lists):
            i = rng.randrange(args.objects)
            client.call("GET", path_for("v1", "services", "default") + f"?labelSelector=app%3Da{i}")
        took = time.perf_counter() - start
        print(f"{args.lists} LISTs (selector, 1 of {args.objects}): {took:.2f} s "
              f"({args.lists / took:.0f}/s)")
        start = time.perf_counter()
        for _ in range(args.lists):
            client.call("GET", path_for("v1", "services", "default"))
        took = time.perf_counter() - start
        print(f"{args.lists} LISTs (all {args.objects}): {took:.2f} s ({args.lists / took:.0f}/s)")
        done = 2 * args.objects + args.gets + 2 * args.lists
        while done < args.requests:
            client.call("GET", path_for("v1", "services", "default", "svc-1"))
            done += 1
        start = time.perf_counter()
        for _ in range(500):
            client.call("GET", path_for("v1", "services", "default", "svc-1"))
        took = time.perf_counter() - start
        print(f"GET rate after {done} requests: {500 / took:.0f}/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
