"""The demo's printed timeline: what the operator does, seen from the API as it happens.

`Timeline` prints timestamped lines (relative to the start) from any thread. `RouteWatch`
follows one routing object (the Ingress or the active Service) through a watch stream and
records every colour it pointed at, so a check can prove traffic never moved. `Monitor` polls
the API every ~200 ms, prints phase, routing, Event and Deployment changes, reaps app processes
of scaled-down Deployments, notes moments production traffic was on too few replicas, and
raises `DemoFailure` when the operator process dies or a wait times out.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from finnexus_demo.releases import NAME, NAMESPACE, Obj
from finnexus_demo.traffic import ingress_backend
from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_kit.apps import AppFleet
from finnexus_operator import constants

__all__ = [
    "DemoFailure",
    "Monitor",
    "RouteWatch",
    "Timeline",
    "ingress_color",
    "service_color",
]


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


def ingress_color(ingress: Obj | None) -> str | None:
    """The colour the Ingress sends traffic to (its backend Service's suffix)."""
    backend = ingress_backend(ingress)
    prefix = f"{NAME}-"
    return backend[len(prefix) :] if backend and backend.startswith(prefix) else backend


def service_color(service: Obj | None) -> str | None:
    """The colour the active Service selects."""
    return (((service or {}).get("spec") or {}).get("selector") or {}).get(constants.LABEL_COLOR)


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
        self.cr = self.api.get(path_for(constants.API_VERSION, constants.PLURAL, ns, NAME)) or {}
        status = self.status
        phase = (status.get("phase"), status.get("message"))
        if phase != self._phase and phase[0] is not None:
            self._phase = phase
            self.clock.say("phase", f"{phase[0]}: {phase[1]}")
        ingress = self.api.get(path_for("networking.k8s.io/v1", "ingresses", ns, NAME))
        service = self.api.get(path_for("v1", "services", ns, NAME))
        routes = (ingress_color(ingress), service_color(service))
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
            revision = (labels or {}).get(constants.LABEL_REVISION)
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
