"""``finnexus-operator demo``: the whole product on one machine, with no cluster.

What runs (every piece a real process or server on 127.0.0.1, all stopped at the end):

- an emulated Kubernetes API (`ApiServer`, a thread) and a pod simulator standing in for
  kubelet and the Deployment controller (`PodSimulator`, a thread);
- the operator itself, ``python -m finnexus_operator run``, as a subprocess pointed at the
  emulated API's kubeconfig and at the demo's Prometheus;
- one demo app process per revision and colour (`AppFleet`), behaving as its "image" says;
- Debian's Prometheus, scraping every app each second (`PrometheusProcess`);
- production traffic that follows the Ingress (`Traffic`).

The story: v1 is deployed and becomes stable; v2 answers 5 % errors and is rolled back by the
Prometheus analysis; v3 is good and promoted after its bake, the old colour scaled to zero after
the delay; v4's ``/health`` fails and it is rejected before any traffic moves. The timeline
(phases, routing, Events, Deployments, apps, traffic) is printed as it happens, then a summary
per revision from ``status.history``. Exit 0 only when every expected outcome was observed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from finnexus_operator import constants as c
from finnexus_operator.core.revision import revision_of
from finnexus_operator.demo.apiserver import ApiServer, path_for
from finnexus_operator.demo.apps import AppFleet, behaviour_of
from finnexus_operator.demo.kubelet import PodSimulator
from finnexus_operator.demo.prometheus import PrometheusProcess, find_prometheus, stop_process
from finnexus_operator.demo.traffic import Traffic, ingress_backend

__all__ = ["DemoSettings", "Release", "main"]

Obj = dict[str, Any]
NAME, NAMESPACE = "web", "demo"
INSTALL_HINT = """\
finnexus-operator demo: Prometheus is not installed, and the demo needs a real one.
  Debian/Ubuntu:  sudo apt-get install --no-install-recommends prometheus
  or run `make demo` as root (scripts/ensure-prometheus.sh installs it),
  or point FINNEXUS_PROMETHEUS_BIN at a prometheus binary."""

ERROR_QUERY = (
    'sum(rate(http_requests_total{{service="{{{{service}}}}",status=~"5.."}}[{w}])) '
    '/ sum(rate(http_requests_total{{service="{{{{service}}}}"}}[{w}]))'
)
P95_QUERY = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(http_request_duration_seconds_bucket{{service="{{{{service}}}}"}}[{w}])))'
)


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """Every knob of the demo (printed at startup)."""

    fast: bool
    replicas: int = 2
    scrape_interval: str = "1s"
    rate_window: str = "5s"
    analysis_interval: int = 2
    checks: int = 5
    failure_limit: int = 0
    no_data_limit: int = 3
    max_error_ratio: float = 0.01
    max_p95: float = 0.2
    health_interval: int = 1
    health_timeout: int = 1
    success_threshold: int = 2
    failure_threshold: int = 3
    scale_down_delay: int = 3
    progress_deadline: int = 60
    rps: float = 40.0
    pause: float = 3.0  # seconds of steady traffic between releases, for the viewer
    step_timeout: float = 60.0

    @classmethod
    def for_mode(cls, fast: bool) -> DemoSettings:
        if fast:
            return cls(fast=True, analysis_interval=1, pause=1.0, step_timeout=45.0)
        return cls(fast=False)

    def analysis(self) -> Obj:
        w = self.rate_window
        return {
            "intervalSeconds": self.analysis_interval,
            "checks": self.checks,
            "failureLimit": self.failure_limit,
            "noDataLimit": self.no_data_limit,
            "metrics": [
                {
                    "name": "error-rate",
                    "query": ERROR_QUERY.format(w=w),
                    "max": self.max_error_ratio,
                },
                {"name": "latency-p95", "query": P95_QUERY.format(w=w), "max": self.max_p95},
            ],
        }

    def spec(self, template: Obj) -> Obj:
        return {
            "replicas": self.replicas,
            "template": template,
            "service": {"port": 80, "targetPort": "http"},
            "ingress": {"host": "web.demo.local", "path": "/"},
            "healthCheck": {
                "path": "/health",
                "intervalSeconds": self.health_interval,
                "timeoutSeconds": self.health_timeout,
                "successThreshold": self.success_threshold,
                "failureThreshold": self.failure_threshold,
            },
            "analysis": self.analysis(),
            "promotion": {"auto": True, "scaleDownDelaySeconds": self.scale_down_delay},
            "progressDeadlineSeconds": self.progress_deadline,
        }


@dataclasses.dataclass(frozen=True)
class Release:
    """One revision of the story: its simulated image and what should happen to it."""

    label: str
    env: tuple[tuple[str, str], ...]
    expect: str  # Stable | MetricsRollback | Promoted | HealthReject

    def template(self) -> Obj:
        return {
            "metadata": {"labels": {"app": NAME}},
            "spec": {
                "containers": [
                    {
                        "name": NAME,
                        "image": f"demo/{NAME}:{self.label}",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "env": [{"name": k, "value": v} for k, v in self.env],
                    }
                ]
            },
        }

    @property
    def revision(self) -> str:
        return revision_of(self.template())

    @property
    def expectation(self) -> str:
        return {
            "Stable": "first revision: deployed, health-checked, switched to -> Stable",
            "MetricsRollback": "Prometheus analysis sees the error rate -> RolledBack",
            "Promoted": "passes health checks and the bake -> Promoted, old colour to 0",
            "HealthReject": "/health fails -> rejected before any traffic moves",
        }[self.expect]


RELEASES = (
    Release("v1", (("LATENCY", "0.02"),), "Stable"),
    Release("v2", (("ERROR_RATIO", "0.05"), ("LATENCY", "0.02")), "MetricsRollback"),
    Release("v3", (("LATENCY", "0.02"),), "Promoted"),
    Release("v4", (("HEALTHY", "false"), ("LATENCY", "0.02")), "HealthReject"),
)


class DemoFailure(Exception):
    """The story cannot go on (a timeout, the operator died...)."""


# -- output ------------------------------------------------------------------------------------


class Timeline:
    """Thread-safe printer with timestamps relative to the start."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def say(self, kind: str, text: str) -> None:
        with self._lock:
            print(f"[{self.now():6.1f}s] {kind:<8} {text}", flush=True)

    def note(self, text: str) -> None:
        self.say(*text.split(": ", 1)) if text.startswith("traffic: ") else self.say("demo", text)

    def banner(self, text: str) -> None:
        with self._lock:
            print(f"\n[{self.now():6.1f}s] ===== {text}", flush=True)

    def plain(self, text: str = "") -> None:
        with self._lock:
            print(text, flush=True)


# -- watching the routing objects ----------------------------------------------------------


class RouteWatch:
    """Every change of one object's routing colour, from a watch stream (no polling gaps)."""

    def __init__(
        self,
        api: ApiServer,
        api_version: str,
        plural: str,
        color_of: Callable[[Obj], str | None],
        clock: Timeline,
    ) -> None:
        query = urllib.parse.urlencode(
            {"watch": "true", "timeoutSeconds": "3600", "fieldSelector": f"metadata.name={NAME}"}
        )
        self.url = f"{api.url}{path_for(api_version, plural, NAMESPACE)}?{query}"
        self.color_of, self.clock = color_of, clock
        self.changes: list[tuple[float, str | None]] = []  # (time, colour) per watch event
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{plural}", daemon=True)

    def start(self) -> RouteWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(self.url) as stream:
                for line in stream:
                    event = json.loads(line)
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        self.changes.append((self.clock.now(), self.color_of(event["object"])))
        except Exception as exc:  # the API stopped (end of the demo) or broke
            self.error = repr(exc)

    def colors_since(self, since: float) -> set[str | None]:
        """The colours seen from ``since`` on, including the one in force at ``since``."""
        before = [color for t, color in self.changes if t < since]
        seen = {color for t, color in self.changes if t >= since}
        return seen | set(before[-1:])


def _ingress_color(ingress: Obj | None) -> str | None:
    backend = ingress_backend(ingress)
    prefix = f"{NAME}-"
    return backend[len(prefix) :] if backend and backend.startswith(prefix) else backend


def _service_color(service: Obj | None) -> str | None:
    return (((service or {}).get("spec") or {}).get("selector") or {}).get(c.LABEL_COLOR)


# -- the monitor: the printed timeline ------------------------------------------------------


class Monitor:
    """Polls the API every ~200 ms and prints what changed; also keeps the apps tidy."""

    def __init__(
        self,
        api: ApiServer,
        clock: Timeline,
        fleet: AppFleet,
        operator: subprocess.Popen[bytes],
        operator_log: Path,
        labels: dict[str, str],
    ) -> None:
        self.api, self.clock, self.fleet = api, clock, fleet
        self.operator, self.operator_log = operator, operator_log
        self.labels = labels  # revision -> "v2"
        self._phase: tuple[str | None, str | None] = (None, None)
        self._routes: tuple[str | None, str | None] = (None, None)
        self._events: set[str] = set()
        self._deployments: dict[str, tuple[int, str | None]] = {}
        self.cr: Obj = {}
        self.replicas: dict[str, int] = {}  # colour -> spec.replicas, as last seen
        self.thin_traffic: list[str] = []  # moments production traffic had too few replicas

    def describe(self, revision: str) -> str:
        label = self.labels.get(revision)
        return f"{label} ({revision})" if label else revision

    @property
    def status(self) -> Obj:
        return self.cr.get("status") or {}

    def tick(self) -> Obj:
        if self.operator.poll() is not None:
            raise DemoFailure(
                f"the operator exited with code {self.operator.returncode}; "
                f"last lines of {self.operator_log}:\n{_tail(self.operator_log)}"
            )
        ns = NAMESPACE
        self.cr = self.api.get(path_for(c.API_VERSION, c.PLURAL, ns, NAME)) or {}
        status = self.status
        phase = (status.get("phase"), status.get("message"))
        if phase != self._phase and phase[0] is not None:
            self._phase = phase
            self.clock.say("phase", f"{phase[0]}: {phase[1]}")
        ingress = self.api.get(path_for("networking.k8s.io/v1", "ingresses", ns, NAME))
        service = self.api.get(path_for("v1", "services", ns, NAME))
        routes = (_ingress_color(ingress), _service_color(service))
        if routes != self._routes and any(routes):
            self._routes = routes
            self.clock.say(
                "routing",
                f"Ingress {NAME} -> Service {NAME}-{routes[0]}; "
                f"active Service {NAME} selects {routes[1]}",
            )
        for event in self.api.list(path_for("v1", "events", ns)):
            key = event["metadata"]["name"]
            if key not in self._events:
                self._events.add(key)
                message = str(event.get("message", ""))
                if phase[0] and message == f"{phase[0]}: {phase[1]}":
                    message = "(the phase change above)"
                self.clock.say(
                    "event", f"{event.get('type', '')} {event.get('reason', '')}: {message}"
                )
        listed_at = time.monotonic()
        deployments = self.api.list(path_for("apps/v1", "deployments", ns))
        for dep in deployments:
            name = dep["metadata"]["name"]
            labels = ((dep["spec"].get("template") or {}).get("metadata") or {}).get("labels")
            revision = (labels or {}).get(c.LABEL_REVISION)
            replicas = int(dep["spec"].get("replicas") or 0)
            self.replicas[name.rsplit("-", 1)[-1]] = replicas
            if self._deployments.get(name) != (replicas, revision):
                self._deployments[name] = (replicas, revision)
                self.clock.say(
                    "deploy",
                    f"Deployment {name}: {replicas} replicas of {self.describe(revision or '?')}",
                )
        self.fleet.reap(deployments, listed_at)
        want = int((self.cr.get("spec") or {}).get("replicas") or 0)
        live = routes[0]
        if status.get("stableRevision") and live and self.replicas.get(live, 0) < want:
            self.thin_traffic.append(
                f"{self.clock.now():.1f}s: the Ingress points at {live}, "
                f"whose Deployment has {self.replicas.get(live, 0)}/{want} "
                "replicas"
            )
        return self.cr

    def wait(self, what: str, predicate: Callable[[Obj], bool], timeout: float) -> Obj:
        deadline = time.monotonic() + timeout
        while True:
            cr = self.tick()
            if predicate(cr):
                return cr
            if time.monotonic() > deadline:
                raise DemoFailure(
                    f"timed out after {timeout:g}s waiting for {what}; "
                    f"status: {json.dumps(self.status.get('phase'))} "
                    f"{self.status.get('message')!r}"
                )
            time.sleep(0.2)

    def idle(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.tick()
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _history(cr: Obj, revision: str) -> Obj | None:
    entries = [
        h for h in (cr.get("status") or {}).get("history") or [] if h.get("revision") == revision
    ]
    return entries[-1] if entries else None


def _settled(revision: str) -> Callable[[Obj], bool]:
    def check(cr: Obj) -> bool:
        status = cr.get("status") or {}
        return (
            _history(cr, revision) is not None
            and not status.get("candidateColor")
            and status.get("phase") in ("Stable", "RolledBack", "Failed")
        )

    return check


# -- the story --------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    """One expected outcome and whether it was observed."""

    release: str
    what: str
    ok: bool = False
    detail: str = ""


class Story:
    """The four releases, the checks and the summary."""

    def __init__(
        self,
        settings: DemoSettings,
        api: ApiServer,
        monitor: Monitor,
        traffic: Traffic,
        ingress: RouteWatch,
        service: RouteWatch,
        prometheus: PrometheusProcess,
        clock: Timeline,
    ) -> None:
        self.s, self.api, self.m, self.traffic = settings, api, monitor, traffic
        self.ingress, self.service = ingress, service
        self.prometheus, self.clock = prometheus, clock
        self.outcomes: list[Outcome] = []
        self.cr_path = path_for(c.API_VERSION, c.PLURAL, NAMESPACE, NAME)

    def expect(self, label: str, what: str, ok: bool, detail: str = "") -> bool:
        self.outcomes.append(Outcome(label, what, ok, detail))
        mark = "ok " if ok else "MISSING"
        self.clock.say("check", f"[{mark}] {label}: {what}" + (f" ({detail})" if detail else ""))
        return ok

    def apply(self, release: Release) -> None:
        self.clock.banner(
            f"{release.label}: image demo/{NAME}:{release.label}, "
            f"{behaviour_of(release.template()).describe()}; revision "
            f"{release.revision}; expected: {release.expectation}"
        )
        if self.api.get(self.cr_path) is None:
            body = {
                "apiVersion": c.API_VERSION,
                "kind": c.KIND,
                "metadata": {"name": NAME, "namespace": NAMESPACE},
                "spec": self.s.spec(release.template()),
            }
            self.api.create(path_for(c.API_VERSION, c.PLURAL, NAMESPACE), body)
            self.clock.say(
                "apply", f"created FinNexusDeployment {NAMESPACE}/{NAME} with {release.label}"
            )
        else:
            self.api.patch(self.cr_path, {"spec": {"template": release.template()}})
            self.clock.say("apply", f"spec.template changed to {release.label}")

    def quiet(self, color: str) -> None:
        """Wait until the colour's previous app has no samples in the rate window any more, so
        a new revision on that colour is measured on its own requests only."""
        query = f'sum(increase(http_requests_total{{service="{NAME}-{color}"}}[6s]))'
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            result = self.prometheus.query_vector(query)
            if result is not None and (not result or float(result[0]["value"][1]) == 0):
                return
            self.m.idle(0.5)

    def run(self) -> None:
        v1, v2, v3, v4 = RELEASES
        timeout = self.s.step_timeout

        # v1: the first revision has nothing to roll back to: deployed, checked, switched.
        self.apply(v1)
        cr = self.m.wait(
            f"{v1.label} to become Stable",
            lambda cr: (
                (cr.get("status") or {}).get("phase") == "Stable"
                and (cr.get("status") or {}).get("stableRevision") == v1.revision
            ),
            timeout,
        )
        blue = cr["status"]["activeColor"]
        self.m.idle(0.5)
        self.expect(
            v1.label,
            "Stable, traffic on it",
            self.ingress.colors_since(0) == {blue},
            f"Ingress -> {blue}",
        )
        self.m.idle(self.s.pause)

        # v2: 5 % errors -> the analysis fails -> rolled back automatically.
        self.prometheus.wait_ready()
        self.clock.say("demo", "Prometheus is scraping (its first samples are in)")
        self.quiet(_other(blue))
        self.apply(v2)
        cr = self.m.wait(f"{v2.label} to be decided", _settled(v2.revision), timeout)
        entry = _history(cr, v2.revision) or {}
        status = cr["status"]
        rolled_back = (
            entry.get("result") == "RolledBack"
            and status.get("phase") == "RolledBack"
            and "error-rate" in entry.get("reason", "")
            and "error-rate" in status.get("message", "")
        )
        counts = self.traffic.counts().get(v2.revision)
        seen = f"{counts.errors} errors in {counts.total} requests" if counts else "no requests"
        self.expect(
            v2.label,
            "RolledBack automatically, the reason names error-rate",
            rolled_back,
            f"{entry.get('result')}: {entry.get('reason')}; it served {seen}",
        )
        self.m.idle(0.5)
        self.expect(
            v2.label,
            "traffic back on the stable colour",
            _ingress_color(self._ingress()) == blue and self.m.replicas.get(_other(blue)) == 0,
            f"Ingress -> {_ingress_color(self._ingress())}",
        )
        self.m.idle(self.s.pause)

        # v3: good -> promoted after the bake; the old colour goes to 0 after the delay.
        self.quiet(_other(blue))
        self.apply(v3)
        cr = self.m.wait(f"{v3.label} to be decided", _settled(v3.revision), timeout)
        entry = _history(cr, v3.revision) or {}
        green = entry.get("color") or _other(blue)
        old_replicas = self.m.replicas.get(blue, 0)
        self.expect(
            v3.label,
            "Promoted after its bake",
            entry.get("result") == "Promoted"
            and cr["status"].get("activeColor") == green
            and _ingress_color(self._ingress()) == green,
            f"{entry.get('result')}: {entry.get('reason')}",
        )
        self.m.wait(
            f"{blue} to be scaled to 0",
            lambda _: self.m.replicas.get(blue) == 0,
            self.s.scale_down_delay + 15,
        )
        finished = _parse(entry.get("finishedAt"))
        delay = time.time() - finished if finished else -1.0
        self.expect(
            v3.label,
            f"old colour {blue} scaled to 0 after the delay",
            old_replicas > 0 and delay >= self.s.scale_down_delay - 0.05,
            f"{delay:.1f}s after the promotion, scaleDownDelaySeconds {self.s.scale_down_delay}",
        )
        self.m.idle(self.s.pause)

        # v4: /health fails -> rejected before the switch; the Ingress never moves.
        self.quiet(blue)
        since = self.clock.now()
        self.apply(v4)
        cr = self.m.wait(f"{v4.label} to be decided", _settled(v4.revision), timeout)
        entry = _history(cr, v4.revision) or {}
        self.expect(
            v4.label,
            "rejected by its health checks",
            entry.get("result") == "RolledBack"
            and "health" in entry.get("reason", "")
            and cr["status"].get("rejectedRevision") == v4.revision,
            f"{entry.get('result')}: {entry.get('reason')}",
        )
        self.m.wait(
            f"{v4.label}'s colour to be scaled to 0",
            lambda _: self.m.replicas.get(blue) == 0,
            timeout,
        )
        self.m.idle(0.5)
        ingress_seen = self.ingress.colors_since(since)
        service_seen = self.service.colors_since(since)
        served = self.traffic.counts().get(v4.revision)
        self.expect(
            v4.label,
            "traffic never moved to it",
            ingress_seen == {green} and service_seen == {green} and not served,
            f"Ingress watch saw {sorted(map(str, ingress_seen))}, active Service "
            f"{sorted(map(str, service_seen))}, requests served by {v4.label}: "
            f"{served.total if served else 0}",
        )
        thin = self.m.thin_traffic
        self.expect(
            "all",
            f"production traffic always on a colour with all {self.s.replicas} replicas",
            not thin,
            f"{len(thin)} times, first at {thin[0]}" if thin else "",
        )

    def _ingress(self) -> Obj | None:
        return self.api.get(path_for("networking.k8s.io/v1", "ingresses", NAMESPACE, NAME))

    def summary(self) -> None:
        history = self.m.status.get("history") or []
        rows = [("release", "revision", "colour", "result", "reason")]
        rows += [
            (
                self.m.labels.get(h.get("revision", ""), "?"),
                h.get("revision", ""),
                h.get("color", ""),
                h.get("result", ""),
                h.get("reason", ""),
            )
            for h in history
        ]
        widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
        self.clock.plain("\nSummary (status.history):")
        for row in rows:
            cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
            self.clock.plain("  " + "  ".join([*cells, str(row[4])]))
        counts = self.traffic.counts()
        self.clock.plain("\nRequests served through the Ingress, per release:")
        for release in RELEASES:
            n = counts.get(release.revision)
            text = (
                f"{n.total} requests, {n.errors} answered 5xx, {n.failed} unanswered"
                if n
                else "none"
            )
            self.clock.plain(f"  {release.label}: {text}")


def _other(color: str) -> str:
    return c.GREEN if color == c.BLUE else c.BLUE


def _parse(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC).timestamp()
    except ValueError:
        return None


# -- processes and the main entry point -----------------------------------------------------


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


def _print_settings(s: DemoSettings, clock: Timeline) -> None:
    a = s.analysis()
    lines = [
        f"FinNexus demo{' (--fast)' if s.fast else ''}: emulated Kubernetes API, pod "
        "simulator, the operator (subprocess), app processes, a real Prometheus, traffic.",
        "Settings:",
        f"  FinNexusDeployment {NAMESPACE}/{NAME}: replicas {s.replicas}, Ingress host "
        f"web.demo.local; colours blue/green",
        f"  Prometheus: scrape interval {s.scrape_interval}, rate window [{s.rate_window}]",
        f"  analysis: intervalSeconds {a['intervalSeconds']}, checks {a['checks']}, "
        f"failureLimit {a['failureLimit']}, noDataLimit {a['noDataLimit']}",
    ]
    for metric in a["metrics"]:
        lines.append(f"    {metric['name']} <= {metric['max']:g}: {metric['query']}")
    lines += [
        f"    (error-rate max {s.max_error_ratio:g} = 1 %: loose for production, where 0.1 % is "
        "usual, but at",
        f"     {s.rps:g} req/s a [{s.rate_window}] window holds ~{s.rps * 5:.0f} requests, so "
        "0.1 % would be under one error;",
        "     1 % keeps the good release (0 %) clearly inside and the bad one (5 %) clearly "
        "outside)",
        f"  healthCheck: GET /health every {s.health_interval}s (timeout {s.health_timeout}s), "
        f"successThreshold {s.success_threshold}, failureThreshold {s.failure_threshold}",
        f"  promotion: auto, scaleDownDelaySeconds {s.scale_down_delay}; "
        f"progressDeadlineSeconds {s.progress_deadline}",
        f"  traffic: {s.rps:g} req/s through the Ingress (re-resolved every 200 ms); "
        f"pause between releases {s.pause:g}s",
        "Releases (image tag = version; container env = behaviour):",
    ]
    for release in RELEASES:
        env = " ".join(f"{k}={v}" for k, v in release.env)
        lines.append(f"  {release.label}  {env:<32} -> {release.expectation}")
    for line in lines:
        clock.plain(line)
    clock.plain()


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


def main(args: argparse.Namespace) -> int:
    """Run the story; 0 when every expected outcome happened, 1 if not, 2 without Prometheus."""
    binary = find_prometheus()
    if binary is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    settings = DemoSettings.for_mode(bool(getattr(args, "fast", False)))
    clock = Timeline()
    workdir = Path(tempfile.mkdtemp(prefix="finnexus-demo-"))
    ok = False
    try:
        with _signals_as_interrupts():
            ok = _run(settings, clock, binary, workdir)
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


def _run(s: DemoSettings, clock: Timeline, binary: str, workdir: Path) -> bool:
    _print_settings(s, clock)
    labels = {release.revision: release.label for release in RELEASES}
    with contextlib.ExitStack() as stack:
        prometheus = PrometheusProcess(
            workdir / "prometheus", binary, scrape_interval=s.scrape_interval
        )
        prometheus.reserve(len(RELEASES) + 2)
        prometheus.start()
        stack.callback(prometheus.stop)
        clock.say("demo", f"Prometheus {prometheus.url} started (pid {prometheus.pid})")

        api = stack.enter_context(ApiServer(namespaces=(NAMESPACE,)))
        kubeconfig = api.write_kubeconfig(workdir / "kubeconfig")
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
            api, "networking.k8s.io/v1", "ingresses", _ingress_color, clock
        ).start()
        service_watch = RouteWatch(api, "v1", "services", _service_color, clock).start()
        monitor = Monitor(api, clock, fleet, operator, operator_log, labels)
        traffic = Traffic(
            api, NAMESPACE, NAME, rps=s.rps, note=clock.note, describe=monitor.describe
        )
        stack.enter_context(_stopping(traffic.start()))

        story = Story(s, api, monitor, traffic, ingress_watch, service_watch, prometheus, clock)
        failure: str | None = None
        try:
            story.run()
        except DemoFailure as exc:
            failure = str(exc)
            clock.say("FAILED", failure)
        story.summary()
        missing = [o for o in story.outcomes if not o.ok]
        clock.plain("\nExpected outcomes:")
        for o in story.outcomes:
            clock.plain(
                f"  [{'ok' if o.ok else 'MISSING'}] {o.release}: {o.what}"
                + (f" -- {o.detail}" if o.detail else "")
            )
        if failure:
            clock.plain(f"  [MISSING] the story stopped early: {failure}")
        expected = 8
        if not failure and len(story.outcomes) != expected:
            clock.plain(f"  [MISSING] {expected - len(story.outcomes)} checks did not run")
        clock.plain("\nStopping the operator, the apps, Prometheus and the traffic...")
        return not missing and not failure and len(story.outcomes) == expected


@contextlib.contextmanager
def _stopping(traffic: Traffic) -> Iterator[Traffic]:
    try:
        yield traffic
    finally:
        traffic.stop()
