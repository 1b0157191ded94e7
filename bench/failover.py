"""Benchmark: how long a SIGKILLed leader leaves its resources unattended (issue 9 item 6).

Real parts: two operator processes (``--leader-election``, the default Lease settings 15 s /
10 s / 2 s unless given) against the emulated API, the pod simulator and a health server. Each
run: a rollout is in progress (Verifying) under the leader; after a random 0-2 s (the phase of
its renewals) the leader is SIGKILLed; measured from the kill, on this process's clock:

* **takeover**: the standby holds the Lease (polled every 20 ms);
* **first write**: the standby's first write other than the Lease (its first pass acting);
* **rollout done**: the resource is Stable on the new revision.

The killed process is started again as the next run's standby. Goal: takeover under the
lease duration (15 s).

    python -m bench.failover [--runs 5] [--lease 15 --renew 10 --retry 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_kit.operator_process import OperatorProcess
from finnexus_operator.adapters.kube import USER_AGENT
from tests.contract.cluster import resource, running_cluster, template
from tests.contract.test_rollouts import revision
from tests.helpers import wait_until

LEASE = path_for("coordination.k8s.io/v1", "leases", "default", "finnexus-operator")


def _holder(api: ApiServer) -> str:
    return str(((api.get(LEASE) or {}).get("spec") or {}).get("holderIdentity") or "")


def _first_write(api: ApiServer, identity: str, after: float) -> float | None:
    times = [t for t, (method, path, _) in api.requests.timed(f"{USER_AGENT} ({identity})")
             if method != "GET" and "/leases" not in path and t >= after]
    return min(times) if times else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.failover")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lease", type=float, default=15.0)
    parser.add_argument("--renew", type=float, default=10.0)
    parser.add_argument("--retry", type=float, default=2.0)
    opts = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="finnexus-failover-"))
    rows: list[tuple[float, float, float]] = []
    with ApiServer() as api:
        kubeconfig = api.write_kubeconfig(workdir / "kubeconfig")
        procs = {i: OperatorProcess(kubeconfig, workdir / f"operator-{i}.log", extra_args=[
            "--leader-election", "--instance-id", i, "--lease-namespace", "default",
            "--lease-duration", str(opts.lease), "--lease-renew-deadline", str(opts.renew),
            "--lease-retry-period", str(opts.retry)]) for i in ("a", "b")}
        with running_cluster(api, kubeconfig, process=procs["a"], pod_interval=0.1) as cluster:
            procs["b"].start()
            try:
                wait_until(lambda: _holder(api), timeout=opts.lease + 10, message="a leader")
                cluster.create(resource(progressDeadlineSeconds=600))
                cluster.wait_phase("Stable", timeout=60)
                for run in range(1, opts.runs + 1):
                    leader = _holder(api)
                    standby = "b" if leader == "a" else "a"
                    image = f"app:good{run}"
                    cluster.set_image(image)
                    cluster.wait_phase("Verifying", timeout=60)
                    time.sleep(random.uniform(0, opts.retry))  # the renewals' phase
                    killed = time.monotonic()
                    procs[leader].kill()
                    wait_until(lambda s=standby: _holder(api) == s, timeout=opts.lease * 3,
                               interval=0.02, message=f"{standby} takes over")
                    took = time.monotonic() - killed
                    first = wait_until(lambda s=standby, k=killed: _first_write(api, s, k),
                                       timeout=30, interval=0.02, message="first write")
                    assert isinstance(first, float)
                    cluster.wait_phase("Stable", timeout=120,
                                       stableRevision=revision(template(image)))
                    done = time.monotonic() - killed
                    rows.append((took, first - killed, done))
                    print(f"run {run}: leader {leader} killed; {standby}: takeover {took:.2f} s, "
                          f"first write {first - killed:.2f} s, rollout done {done:.2f} s",
                          flush=True)
                    procs[leader].start()  # the next run's standby
            finally:
                for proc in procs.values():
                    proc.stop()
    takes = [r[0] for r in rows]
    print(f"\nLease {opts.lease:g} s / renew deadline {opts.renew:g} s / retry {opts.retry:g} s, "
          f"{len(rows)} runs: takeover after SIGKILL median {statistics.median(takes):.2f} s, "
          f"min {min(takes):.2f} s, max {max(takes):.2f} s; first write of the new leader "
          f"median {statistics.median(r[1] for r in rows):.2f} s; rollout done median "
          f"{statistics.median(r[2] for r in rows):.2f} s after the kill")
    return 0


if __name__ == "__main__":
    sys.exit(main())
