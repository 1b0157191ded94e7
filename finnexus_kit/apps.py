"""The demo's app processes: one ``finnexus_kit.app`` process per revision and colour.

The simulated "image" of a revision decides how its app behaves: the first container's image tag
is the version, and its env ``ERROR_RATIO`` (share of requests answered 500), ``LATENCY``
(seconds per request) and ``HEALTHY`` (``false``: ``/health`` answers 503) set the behaviour.

`AppFleet.endpoint` is the `PodSimulator` callback: for a Deployment it starts (once) the app of
the Deployment's revision with ``--service <name>-<color>`` on a port Prometheus scrapes, and
returns that port once the process accepts connections (it waits for that, up to
`STARTUP_TIMEOUT`, so the simulator's pods point at a listening port from the start).
`AppFleet.reap` stops the app of a revision that no Deployment runs any more (scaled to 0 or
replaced), so an old revision's series go stale in Prometheus.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from finnexus_kit.prometheus import stop_process
from finnexus_operator import constants

__all__ = ["AppFleet", "AppProcess", "Behaviour", "behaviour_of"]

Note = Callable[[str], None]
STARTUP_TIMEOUT = 15.0  # seconds for an app process to listen
GRACE_SECONDS = 1.0  # an unwanted app lives this long (requests in flight finish), like a pod


@dataclasses.dataclass(frozen=True)
class Behaviour:
    """What a revision's "image" does."""

    version: str
    error_ratio: float = 0.0
    latency: float = 0.0
    healthy: bool = True

    def describe(self) -> str:
        parts = [
            f"{self.error_ratio:.0%} errors" if self.error_ratio else "no errors",
            f"{self.latency * 1000:.0f} ms latency",
        ]
        if not self.healthy:
            parts.append("/health answers 503")
        return ", ".join(parts)


def behaviour_of(template: Mapping[str, Any]) -> Behaviour:
    """The behaviour a pod template asks for (its first container's image tag and env)."""
    containers = (template.get("spec") or {}).get("containers") or [{}]
    container = containers[0] or {}
    image = str(container.get("image") or "demo/web:latest")
    version = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else "latest"
    env = {str(e.get("name")): str(e.get("value", "")) for e in container.get("env") or []}
    return Behaviour(
        version=version,
        error_ratio=float(env.get("ERROR_RATIO") or 0.0),
        latency=float(env.get("LATENCY") or 0.0),
        healthy=(env.get("HEALTHY") or "true").strip().lower() not in ("false", "0", "no"),
    )


@dataclasses.dataclass
class AppProcess:
    """One running app process."""

    revision: str
    color: str
    service: str
    port: int
    behaviour: Behaviour
    process: subprocess.Popen[bytes]
    started: float
    ready: bool = False
    exited_noted: bool = False
    unwanted_since: float | None = None  # when no Deployment wanted it any more


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class AppFleet:
    """Starts, tracks and stops app processes; thread-safe (the simulator calls `endpoint`)."""

    def __init__(
        self, workdir: Path, take_port: Callable[[], int], note: Note, seed: int = 7
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._take_port = take_port
        self._note = note
        self._seed = seed
        self._lock = threading.Lock()
        self._apps: dict[tuple[str, str], AppProcess] = {}
        self.history: list[AppProcess] = []  # every app ever started
        self._closed = False

    def apps(self) -> list[AppProcess]:
        with self._lock:
            return list(self._apps.values())

    def endpoint(self, deployment: dict[str, Any]) -> int | None:
        """`PodSimulator` callback: the port of the Deployment's app, once it is listening."""
        template = (deployment.get("spec") or {}).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        revision, color = labels.get(constants.LABEL_REVISION), labels.get(constants.LABEL_COLOR)
        if not revision or not color:
            return None
        with self._lock:
            if self._closed:
                return None
            app = self._apps.get((revision, color))
            if app is None:
                name = (labels.get(constants.LABEL_NAME)
                        or deployment["metadata"]["name"].rsplit("-", 1)[0])
                app = self._start(revision, color, f"{name}-{color}", behaviour_of(template))
        if app.process.poll() is not None:
            if not app.exited_noted:
                app.exited_noted = True
                self._note(
                    f"app {app.service} {app.behaviour.version} exited with code "
                    f"{app.process.returncode} (log: {self._log_path(app)})"
                )
            return None
        if not app.ready:
            # Wait here for the process to listen: the simulator creates the pods only after
            # this returns, so pods never point at a port nothing answers on.
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while not _accepts(app.port) and app.process.poll() is None:
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.05)
            app.ready = app.process.poll() is None
            if app.ready:
                self._note(
                    f"app {app.service} {app.behaviour.version} (revision {revision}) "
                    f"listening on 127.0.0.1:{app.port}: {app.behaviour.describe()}"
                )
        return app.port if app.ready else None

    def _log_path(self, app: AppProcess) -> Path:
        return self.workdir / f"{app.service}-{app.behaviour.version}-{app.revision}.log"

    def _start(self, revision: str, color: str, service: str, behaviour: Behaviour) -> AppProcess:
        port = self._take_port()
        command = [
            sys.executable,
            "-m",
            "finnexus_kit.app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--service",
            service,
            "--version",
            behaviour.version,
            "--error-ratio",
            str(behaviour.error_ratio),
            "--latency",
            str(behaviour.latency),
            "--seed",
            str(self._seed + len(self.history)),
        ] + ([] if behaviour.healthy else ["--unhealthy"])
        log_path = self.workdir / f"{service}-{behaviour.version}-{revision}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        app = AppProcess(revision, color, service, port, behaviour, process, time.monotonic())
        self._apps[(revision, color)] = app
        self.history.append(app)
        return app

    def reap(self, deployments: Iterable[dict[str, Any]], listed_at: float) -> None:
        """Stop apps whose revision no Deployment has run for `GRACE_SECONDS` (``deployments``
        listed at ``listed_at``, a `time.monotonic` value: apps started later are left alone)."""
        wanted: set[tuple[str, str]] = set()
        for dep in deployments:
            template = (dep.get("spec") or {}).get("template") or {}
            labels = (template.get("metadata") or {}).get("labels") or {}
            if int((dep.get("spec") or {}).get("replicas") or 0) > 0:
                wanted.add((labels.get(constants.LABEL_REVISION, ""),
                            labels.get(constants.LABEL_COLOR, "")))
        with self._lock:
            for key, app in self._apps.items():
                if key in wanted or app.started >= listed_at:
                    app.unwanted_since = None
                elif app.unwanted_since is None:
                    app.unwanted_since = listed_at
            doomed = [
                app
                for app in self._apps.values()
                if app.unwanted_since is not None
                and listed_at - app.unwanted_since >= GRACE_SECONDS
            ]
            for app in doomed:
                del self._apps[(app.revision, app.color)]
        for app in doomed:
            stop_process(app.process, timeout=3.0)
            self._note(
                f"app {app.service} {app.behaviour.version} (revision {app.revision}) "
                "stopped: no pods of its revision left"
            )

    def stop_all(self) -> None:
        with self._lock:
            self._closed = True
            apps, self._apps = list(self._apps.values()), {}
        for app in apps:
            stop_process(app.process, timeout=3.0)
        for app in self.history:  # anything that slipped through
            stop_process(app.process, timeout=1.0)
