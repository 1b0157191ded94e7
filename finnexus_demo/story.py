"""``python -m finnexus_demo``: the whole product on one machine, with no cluster.

What runs (every piece a real process or server on 127.0.0.1, all stopped at the end):

- an emulated Kubernetes API (`ApiServer`, a thread) and a pod simulator standing in for
  kubelet and the Deployment controller (`PodSimulator`, a thread);
- the operator itself, ``python -m finnexus_operator run``, as a subprocess pointed at the
  emulated API's kubeconfig and at the demo's Prometheus;
- one demo app process per revision and colour (`AppFleet`), behaving as its "image" says;
- Debian's Prometheus, scraping every app each second (`PrometheusServer`);
- production traffic that follows the Ingress (`Traffic`).

The story: v1 is deployed and becomes stable; v2 answers 5 % errors and is rolled back by the
Prometheus analysis; v3 is good and promoted after its bake, the old colour scaled to zero after
the delay; v4's ``/health`` fails and it is rejected before any traffic moves. The timeline
(phases, routing, Events, Deployments, apps, traffic) is printed as it happens, then a summary
per revision from ``status.history``. Exit 0 only when every expected outcome was observed.

This module starts and stops the processes and runs the story; the rest lives in
`releases` (settings and the four releases), `monitor` (the printed timeline: watching the
API) and `checks` (applying each release, the expected outcomes and the summary).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from finnexus_demo import playground
from finnexus_demo.checks import Story
from finnexus_demo.monitor import (
    DemoFailure,
    Monitor,
    RouteWatch,
    Timeline,
    ingress_color,
    service_color,
)
from finnexus_demo.plugin import Plugin
from finnexus_demo.releases import (
    NAME,
    NAMESPACE,
    RELEASES,
    DemoSettings,
    Release,
    settings_lines,
)
from finnexus_demo.traffic import Traffic
from finnexus_kit.apiserver import ApiServer
from finnexus_kit.apps import AppFleet
from finnexus_kit.kubelet import PodSimulator
from finnexus_kit.prometheus import PrometheusServer, find_prometheus, stop_process

__all__ = ["DemoSettings", "Release", "main"]

INSTALL_HINT = """\
python -m finnexus_demo: Prometheus is not installed, and the demo needs a real one.
  Debian/Ubuntu:  sudo apt-get install --no-install-recommends prometheus
  or run `make demo` as root (scripts/ensure-prometheus.sh installs it),
  or point FINNEXUS_PROMETHEUS_BIN at a prometheus binary."""


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINNEXUS_")}
    env.update(
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def _start_operator(kubeconfig: str, prometheus_url: str, log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "finnexus_operator",
        "run",
        "--kubeconfig",
        kubeconfig,
        "--all-namespaces",
        "--prometheus-url",
        prometheus_url,
        "--metrics-port",
        "0",
        "--health-port",
        "0",
        "--log-format",
        "console",
    ]
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=_child_env(KUBECONFIG=kubeconfig),
        )


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _signals_as_interrupts() -> Iterator[None]:
    """SIGTERM/SIGHUP clean up like Ctrl-C does (the finally blocks run); SIGINT too, even when
    the demo was started with SIGINT ignored (a background job of a script)."""
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the story; 0 when every expected outcome happened, 1 if not, 2 without Prometheus."""
    parser = argparse.ArgumentParser(
        prog="python -m finnexus_demo",
        description="The whole product on this machine, no cluster (`make demo`).")
    parser.add_argument("--fast", action="store_true", help="shorter intervals (CI smoke run)")
    parser.add_argument("--keep", action="store_true",
                        help="the playground: after the story keep everything running, print "
                        "export KUBECONFIG=... and things to try; Ctrl-C stops it all")
    args = parser.parse_args(argv)
    binary = find_prometheus()
    if binary is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    settings = DemoSettings.for_mode(bool(args.fast))
    clock = Timeline()
    workdir = Path(tempfile.mkdtemp(prefix="finnexus-demo-"))
    ok = False
    try:
        with _signals_as_interrupts():
            ok = _run(settings, clock, binary, workdir, bool(args.keep))
    except KeyboardInterrupt:
        clock.plain("\nInterrupted: every process was stopped.")
        return 130
    finally:
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            clock.plain(f"Logs (operator, Prometheus, apps) kept in {workdir}")
    clock.plain(
        f"\nDemo finished in {clock.now():.1f}s: "
        + ("every expected outcome happened." if ok else "FAILED (see above).")
    )
    return 0 if ok else 1


def _run(s: DemoSettings, clock: Timeline, binary: str, workdir: Path, keep: bool) -> bool:
    for line in settings_lines(s):
        clock.plain(line)
    clock.plain()
    labels = {release.revision: release.label for release in RELEASES}
    with contextlib.ExitStack() as stack:
        prometheus = PrometheusServer(
            workdir / "prometheus", binary, scrape_interval=s.scrape_interval
        )
        prometheus.reserve(len(RELEASES) + 2)
        prometheus.start(wait=False)
        stack.callback(prometheus.stop)
        clock.say("demo", f"Prometheus {prometheus.url} started (pid {prometheus.pid})")

        api = stack.enter_context(ApiServer(namespaces=playground.NAMESPACES))
        kubeconfig = playground.write_kubeconfig(api, workdir / "kubeconfig")
        clock.say(
            "demo", f"emulated Kubernetes API at {api.url} (kubectl --kubeconfig {kubeconfig})"
        )

        fleet = AppFleet(workdir / "apps", prometheus.take_port, clock.note)
        stack.callback(fleet.stop_all)
        stack.enter_context(PodSimulator(api, NAMESPACE, endpoint=fleet.endpoint))

        operator_log = workdir / "operator.log"
        operator = _start_operator(kubeconfig, prometheus.url, operator_log)
        stack.callback(stop_process, operator, 10.0)
        clock.say(
            "demo",
            f"operator started (pid {operator.pid}): python -m finnexus_operator "
            f"run --kubeconfig ... --prometheus-url {prometheus.url}; log {operator_log}",
        )

        ingress_watch = RouteWatch(
            api, "networking.k8s.io/v1", "ingresses", ingress_color, clock
        ).start()
        service_watch = RouteWatch(api, "v1", "services", service_color, clock).start()
        monitor = Monitor(api, clock, fleet, operator, operator_log, labels)
        traffic = Traffic(
            api, NAMESPACE, NAME, rps=s.rps, note=clock.note, describe=monitor.describe
        )
        stack.enter_context(_stopping(traffic.start()))

        plugin = Plugin(kubeconfig, NAMESPACE, clock)
        story = Story(s, api, monitor, traffic, ingress_watch, service_watch, prometheus, clock,
                      plugin)
        failure: str | None = None
        try:
            story.run()
        except DemoFailure as exc:
            failure = str(exc)
            clock.say("FAILED", failure)
        story.summary()
        ok = story.report(failure)
        if keep:
            clock.plain(f"\nDemo finished in {clock.now():.1f}s: "
                        + ("every expected outcome happened." if ok else "FAILED (see above)."))
            playground.keep(api, kubeconfig, workdir, clock)
        clock.plain("\nStopping the operator, the apps, Prometheus and the traffic...")
        return ok


@contextlib.contextmanager
def _stopping(traffic: Traffic) -> Iterator[Traffic]:
    try:
        yield traffic
    finally:
        traffic.stop()
