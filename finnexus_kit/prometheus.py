"""A real Prometheus server (Debian's ``prometheus``) on loopback, for the demo, tests and bench.

`PrometheusServer(workdir)` writes a config with a 1 s scrape interval, a self-scrape job and
a ``file_sd_configs`` job (JSON file, refresh 1 s) so `set_targets` / `add_target` change the
targets at run time, and runs the binary in its own process group. `start` waits for scraped
data by default (the first ``up`` sample lands about 5 s after start, long after
``/-/ready``); `stop` then `start` simulate an unreachable Prometheus and keep the stored data.

Prometheus throttles service-discovery updates (about 5 s, twice: discovery, then the scrape
manager), so a target that first appears in the file is scraped 1-10 s later. Short-lived apps
cannot wait that long, so ``slots=N`` (or `reserve`) pre-registers N free ports as targets
(job ``slot``) before the start: they are scraped (as down) from the first second, and an app
that binds one (`take_slot`, or `take_port` which falls back to a new file target) is scraped
within a scrape interval.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "MISSING",
    "PROMETHEUS_BIN",
    "Predicate",
    "PrometheusServer",
    "Series",
    "find_binary",
    "find_prometheus",
    "free_port",
    "missing_reason",
    "stop_process",
]

PROMETHEUS_BIN = "/usr/bin/prometheus"
MISSING = "prometheus not installed: run scripts/ensure-prometheus.sh (needs root + apt-get)"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Series = list[dict[str, Any]]
Predicate = Callable[[Series], bool]


def find_binary(binary: str | None = None) -> str | None:
    """``binary`` (else ``$FINNEXUS_PROMETHEUS_BIN``, else ``/usr/bin/prometheus``) if it is an
    executable file, else ``prometheus`` on PATH, else None."""
    default = (os.environ.get("FINNEXUS_PROMETHEUS_BIN"), PROMETHEUS_BIN)
    for candidate in (binary,) if binary else default:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("prometheus")


find_prometheus = find_binary  # the demo's name for it


def missing_reason(binary: str | None = None) -> str | None:
    """Why a real Prometheus cannot run here (the skip reason), or None when it can."""
    return None if find_binary(binary) else MISSING


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM the process group of ``process`` (started with a new session), then SIGKILL."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _non_empty(result: Series) -> bool:
    return bool(result)


_LIVE: set[PrometheusServer] = set()


@atexit.register
def _stop_leftovers() -> None:  # a crashed or interrupted run leaves no server behind
    for server in list(_LIVE):
        server.stop(timeout=5)


class PrometheusServer:
    """One Prometheus process on ``127.0.0.1:<port>`` with its own storage under ``workdir``."""

    def __init__(
        self,
        workdir: Path | str,
        binary: str | None = None,
        *,
        port: int | None = None,
        scrape_interval: str = "1s",
        slots: int = 0,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        found = find_binary(binary)
        if found is None:
            raise FileNotFoundError(MISSING)
        self.binary = found
        self.port = port or free_port()
        self.scrape_interval = scrape_interval
        self.targets_file = self.workdir / "targets.json"
        self.config_file = self.workdir / "prometheus.yml"
        self.log_file = self.workdir / "prometheus.log"
        self.slots: list[int] = []
        self._free_slots: list[int] = []
        self._lock = threading.Lock()
        self._targets: list[tuple[str, dict[str, str]]] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self.set_targets([])
        self.reserve(slots)

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:9090``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._process is not None and self._process.poll() is None

    # -- configuration and targets ------------------------------------------------------------

    def _write_config(self) -> None:
        scrape = self.scrape_interval
        jobs: list[dict[str, Any]] = [
            {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{self.port}"]}]},
            {
                "job_name": "file",
                "file_sd_configs": [{"files": [str(self.targets_file)], "refresh_interval": "1s"}],
            },
        ]
        if self.slots:
            slot_targets = [f"127.0.0.1:{p}" for p in self.slots]
            jobs.append({"job_name": "slot", "static_configs": [{"targets": slot_targets}]})
        config = {
            "global": {
                "scrape_interval": scrape,
                "scrape_timeout": scrape,
                "evaluation_interval": scrape,
            },
            "scrape_configs": jobs,
        }
        # JSON is valid YAML: no YAML library needed.
        self.config_file.write_text(json.dumps(config, indent=2))

    def reserve(self, count: int) -> None:
        """Pre-register ``count`` more slot ports (call before `start`: the config is rewritten,
        not reloaded)."""
        with self._lock:
            ports = [free_port() for _ in range(count)]
            self.slots += ports
            self._free_slots += ports
        self._write_config()

    def set_targets(self, targets: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        """Replace the file-SD targets: ``[("127.0.0.1:port", {"job": "x", ...labels})]``."""
        with self._lock:
            self._targets = [(address, dict(labels)) for address, labels in targets]
            self._write_targets()

    def add_target(self, address: str, labels: Mapping[str, str] | None = None) -> None:
        """Add one file-SD target to the current ones."""
        with self._lock:
            self._targets.append((address, dict(labels or {})))
            self._write_targets()

    def _write_targets(self) -> None:  # under the lock
        groups = [{"targets": [address], "labels": labels} for address, labels in self._targets]
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups, indent=2))
        tmp.replace(self.targets_file)  # atomic: Prometheus never reads half a file

    def take_slot(self) -> int:
        """A pre-registered port (scraped every interval from the start) for an app to bind."""
        with self._lock:
            if not self._free_slots:
                raise RuntimeError(f"all {len(self.slots)} pre-registered scrape slots are in use")
            return self._free_slots.pop(0)

    def release_slot(self, port: int) -> None:
        """Give a slot back (its old series go stale within a scrape)."""
        with self._lock:
            if port in self.slots and port not in self._free_slots:
                self._free_slots.append(port)

    def take_port(self) -> int:
        """A port that Prometheus scrapes: a free slot, else a new file target (scraped later)."""
        try:
            return self.take_slot()
        except RuntimeError:
            port = free_port()
            self.add_target(f"127.0.0.1:{port}")
            return port

    # -- process ------------------------------------------------------------------------------

    def start(self, *, wait: bool = True, timeout: float = 30.0) -> None:
        """Start the process (keeping earlier data); with ``wait``, until `wait_ready`."""
        if self.running:
            return
        self._started = time.time()  # any sample scraped from now on is the new process's
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_file}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _LIVE.add(self)
        if wait:
            try:
                self.wait_ready(timeout)
            except BaseException:
                self.stop()
                raise

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until Prometheus has scraped itself since `start` (about 5 s after it)."""
        if not self.running:
            raise RuntimeError(f"prometheus is not running:\n{self.log_tail()}")
        started = self._started
        self.wait_for_sync(
            'timestamp(up{job="prometheus"})',  # when the newest sample was scraped
            lambda result: bool(result) and float(result[0]["value"][1]) >= started,
            timeout=timeout,
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL); its port refuses connections afterwards."""
        process, self._process = self._process, None
        _LIVE.discard(self)
        if process is not None:
            stop_process(process, timeout)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log, for failure messages."""
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- queries ------------------------------------------------------------------------------

    def query(self, promql: str) -> dict[str, Any]:
        """The decoded ``/api/v1/query`` answer (``status``, ``data``...), even for HTTP 4xx."""
        params = urllib.parse.urlencode({"query": promql})
        try:
            with _NO_PROXY.open(f"{self.url}/api/v1/query?{params}", timeout=5) as response:
                body: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        return body

    def query_vector(self, promql: str) -> Series | None:
        """The result list of an instant query, or None when Prometheus did not answer."""
        try:
            body = self.query(promql)
        except (OSError, ValueError):
            return None
        data = body.get("data") if body.get("status") == "success" else None
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, list):
            return [{"value": result}] if result is not None else None
        return result

    def _deadline_error(self, promql: str, timeout: float, last: Series | None) -> TimeoutError:
        state = "running" if self.running else "NOT running"
        return TimeoutError(
            f"{promql!r} did not satisfy the predicate within {timeout:g}s (last result: {last}); "
            f"prometheus {state}; log tail:\n{self.log_tail()}"
        )

    def wait_for_sync(
        self, promql: str, predicate: Predicate = _non_empty, timeout: float = 20.0
    ) -> Series:
        """Poll ``promql`` until ``predicate(result list)`` holds (blocking; not in a loop)."""
        deadline = time.monotonic() + timeout
        last: Series | None = None
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"prometheus exited early:\n{self.log_tail()}")
            last = self.query_vector(promql)
            if last is not None and predicate(last):
                return last
            time.sleep(0.2)
        raise self._deadline_error(promql, timeout, last)

    async def wait_for(
        self, promql: str, predicate: Predicate = _non_empty, timeout: float = 20.0
    ) -> Series:
        """Like `wait_for_sync` without blocking the event loop (in-process apps)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last: Series | None = None
        while loop.time() < deadline:
            last = await asyncio.to_thread(self.query_vector, promql)
            if last is not None and predicate(last):
                return last
            await asyncio.sleep(0.2)
        raise self._deadline_error(promql, timeout, last)

    async def value(self, promql: str) -> float | None:
        """The single value of ``promql`` (None when empty), without blocking the loop."""
        result = await asyncio.to_thread(self.query_vector, promql)
        if not result:
            return None
        return float(result[0]["value"][1])
