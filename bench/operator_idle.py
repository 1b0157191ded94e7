"""Benchmark: the operator's memory and CPU at idle -- where the chart's resource requests
come from (values.yaml ``resources.requests``).

Real parts: the operator as its own process (``finnexus-operator run``, forked from the test
kit's zygote) against the emulated API, the pod simulator playing kubelet, loopback health
servers. It releases N resources (each to Stable), then leaves them idle and samples the
operator process from /proc: resident memory (VmRSS, and VmHWM, the peak) and CPU time
(utime + stime). Printed, not asserted:

    python -m bench.operator_idle [--resources 10] [--idle 60]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from finnexus_kit.apiserver import ApiServer
from finnexus_kit.operator_process import OperatorProcess
from tests.contract.cluster import resource, running_cluster

TICK = os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=10)
    parser.add_argument("--idle", type=float, default=60.0, help="idle seconds sampled")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, ApiServer() as api:
        kubeconfig = api.write_kubeconfig(Path(tmp) / "kubeconfig")
        process = OperatorProcess(kubeconfig, Path(tmp) / "operator.log")
        with running_cluster(api, kubeconfig, process=process) as cluster:
            pid = process.pid
            assert pid is not None
            time.sleep(3)  # started, nothing to do yet
            started_rss, started_cpu, t0 = rss_mib(pid), cpu_seconds(pid), time.monotonic()
            names = [f"idle{i}" for i in range(args.resources)]
            for name in names:
                cluster.create(resource(name))
            for name in names:
                cluster.wait_phase("Stable", name, timeout=120)
            released_cpu, t1 = cpu_seconds(pid), time.monotonic()
            time.sleep(5)  # the scale-down delays and the last Events pass
            idle_cpu0, idle_t0 = cpu_seconds(pid), time.monotonic()
            samples: list[float] = []
            while time.monotonic() - idle_t0 < args.idle:
                samples.append(rss_mib(pid))
                time.sleep(1)
            idle_cpu = cpu_seconds(pid) - idle_cpu0
            idle_seconds = time.monotonic() - idle_t0
            peak = rss_mib(pid, "VmHWM")
    print(f"operator idle benchmark: {args.resources} resources, {idle_seconds:.0f} s idle")
    print(f"{'figure':44} value")
    print(f"{'RSS after start, no resources':44} {started_rss:.1f} MiB")
    median = sorted(samples)[len(samples) // 2]
    print(f"{'RSS idle with the resources (median)':44} {median:.1f} MiB")
    print(f"{'RSS peak (VmHWM, whole run)':44} {peak:.1f} MiB")
    print(f"{'CPU while releasing them':44} "
          f"{1000 * (released_cpu - started_cpu) / (t1 - t0):.0f} m")
    print(f"{'CPU idle':44} {1000 * idle_cpu / idle_seconds:.1f} m")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
