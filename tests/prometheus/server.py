"""A real Prometheus server (Debian's ``/usr/bin/prometheus``) on loopback, for tests and bench.

``PrometheusServer(workdir)`` writes a config with ``scrape_interval``/``evaluation_interval``
1s, a self-scrape job and a ``file_sd_configs`` job (JSON file, ``refresh_interval`` 1s) so
:meth:`PrometheusServer.set_targets` adds and removes targets at runtime. :meth:`start` waits
for scraped data (``up`` samples: the first scrape lands about 5 s after start, long after
``/-/ready``), :meth:`stop` / :meth:`start` simulate an unreachable Prometheus.

Prometheus throttles service-discovery updates (about 5 s, twice: discovery, then the scrape
manager), so a target given to :meth:`set_targets` is first scraped 1-10 s later. To make
short-lived test apps scrape at once, pass ``slots=N``: N free ports are reserved and listed
as targets from the start (job ``slot``); :meth:`take_slot` hands one out to bind an app on.
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
    "PrometheusServer",
    "find_binary",
    "free_port",
    "missing_reason",
]

PROMETHEUS_BIN = os.environ.get("FINNEXUS_PROMETHEUS_BIN", "/usr/bin/prometheus")
MISSING = "prometheus not installed: run scripts/ensure-prometheus.sh (needs root + apt-get)"

Series = list[dict[str, Any]]
Predicate = Callable[[Series], bool]


def find_binary(binary: str = PROMETHEUS_BIN) -> str | None:
    """``binary`` if it is an executable file, else ``prometheus`` on PATH, else None."""
    if Path(binary).is_file() and os.access(binary, os.X_OK):
        return binary
    return shutil.which("prometheus")


def missing_reason(binary: str = PROMETHEUS_BIN) -> str | None:
    """Why a real Prometheus cannot run here (the skip reason), or None when it can."""
    return None if find_binary(binary) else MISSING


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        *,
        binary: str = PROMETHEUS_BIN,
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
        self.slots = [free_port() for _ in range(slots)]
        self._free_slots = list(self.slots)
        self.targets_file = self.workdir / "targets.json"
        self.config_file = self.workdir / "prometheus.yml"
        self.log_file = self.workdir / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._targets: list[tuple[str, dict[str, str]]] = []
        self.set_targets([])
        self._write_config()

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:9090``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._process is not None and self._process.poll() is None

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

    def set_targets(self, targets: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        """Replace the file-SD targets: ``[("127.0.0.1:port", {"job": "x", ...labels})]``."""
        self._targets = [(address, dict(labels)) for address, labels in targets]
        groups = [{"targets": [address], "labels": labels} for address, labels in self._targets]
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups, indent=2))
        tmp.replace(self.targets_file)  # atomic: Prometheus never reads half a file

    def add_target(self, address: str, labels: Mapping[str, str] | None = None) -> None:
        """Add one file-SD target to the current ones."""
        self.set_targets([*self._targets, (address, dict(labels or {}))])

    def take_slot(self) -> int:
        """A pre-registered port (scraped every interval from the start) for an app to bind."""
        if not self._free_slots:
            raise RuntimeError(f"all {len(self.slots)} pre-registered scrape slots are in use")
        return self._free_slots.pop(0)

    def release_slot(self, port: int) -> None:
        """Give a slot back (its old series go stale within a scrape)."""
        if port in self.slots and port not in self._free_slots:
            self._free_slots.append(port)

    def start(self, *, wait: bool = True, timeout: float = 30.0) -> None:
        """Start the process (keeping earlier data); with ``wait``, until ``up`` has samples."""
        if self.running:
            return
        log = self.log_file.open("ab")
        try:
            self._process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_file}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        _LIVE.add(self)
        if wait:
            started = time.time()
            try:
                self.wait_for_sync(
                    'timestamp(up{job="prometheus"})',  # when the newest sample was scraped
                    lambda result: bool(result) and float(result[0]["value"][1]) >= started,
                    timeout=timeout,
                )
            except BaseException:
                self.stop()
                raise

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL); its port refuses connections afterwards."""
        process, self._process = self._process, None
        _LIVE.discard(self)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    close = stop

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log, for failure messages."""
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def reload(self) -> None:
        """Re-read the config (``POST /-/reload``, enabled by ``--web.enable-lifecycle``)."""
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    def query(self, promql: str) -> dict[str, Any]:
        """The decoded ``/api/v1/query`` answer (``status``, ``data``...), even for HTTP 4xx."""
        params = urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/query?{params}", timeout=5) as resp:
                body: dict[str, Any] = json.load(resp)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        return body

    def _attempt(self, promql: str) -> Series | None:
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
            last = self._attempt(promql)
            if last is not None and predicate(last):
                return last
            time.sleep(0.2)
        raise self._deadline_error(promql, timeout, last)

    async def wait_for(
        self, promql: str, predicate: Predicate = _non_empty, timeout: float = 20.0
    ) -> Series:
        """Like :meth:`wait_for_sync` without blocking the event loop (in-process apps)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last: Series | None = None
        while loop.time() < deadline:
            last = await asyncio.to_thread(self._attempt, promql)
            if last is not None and predicate(last):
                return last
            await asyncio.sleep(0.2)
        raise self._deadline_error(promql, timeout, last)

    async def value(self, promql: str) -> float | None:
        """The single value of ``promql`` (None when empty), without blocking the loop."""
        result = await asyncio.to_thread(self._attempt, promql)
        if not result:
            return None
        return float(result[0]["value"][1])

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
