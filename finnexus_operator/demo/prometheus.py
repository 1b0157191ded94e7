"""A real Prometheus server (Debian's ``prometheus``) on loopback, managed for the demo.

`PrometheusProcess(workdir)` writes a config with a 1 s scrape interval, a self-scrape job and
a ``file_sd_configs`` job (JSON file, refresh 1 s) listing the demo's app processes, starts the
binary in its own process group and stops it (SIGTERM, then SIGKILL) on `stop`.

Prometheus throttles service-discovery updates (about 5 s in discovery, then again in the
scrape manager), so a target that first appears in the file is scraped 1-10 s later. The demo
cannot wait that long before analysing a release, so `reserve(n)` puts ``n`` free ports into
the file before the start: they are scraped (as down) from the first second, and an app that
binds one is scraped within a scrape interval. `add_target` still appends targets at run time.
"""

from __future__ import annotations

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
from pathlib import Path
from typing import Any

__all__ = ["PROMETHEUS_BIN", "PrometheusProcess", "find_prometheus", "free_port"]

PROMETHEUS_BIN = "/usr/bin/prometheus"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def find_prometheus() -> str | None:
    """``$FINNEXUS_PROMETHEUS_BIN``, ``/usr/bin/prometheus`` or ``prometheus`` on PATH."""
    for candidate in (os.environ.get("FINNEXUS_PROMETHEUS_BIN"), PROMETHEUS_BIN):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("prometheus")


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


class PrometheusProcess:
    """One Prometheus on ``127.0.0.1:<port>`` with its storage and config under ``workdir``."""

    def __init__(self, workdir: Path, binary: str, *, scrape_interval: str = "1s") -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.binary = binary
        self.port = free_port()
        self.scrape_interval = scrape_interval
        self.targets_file = workdir / "targets.json"
        self.config_file = workdir / "prometheus.yml"
        self.log_file = workdir / "prometheus.log"
        self._lock = threading.Lock()
        self._targets: list[str] = []
        self._reserved: list[int] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._write_targets()
        self._write_config()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def reserve(self, count: int) -> None:
        """Put ``count`` free ports into the targets file (call before `start`)."""
        with self._lock:
            ports = [free_port() for _ in range(count)]
            self._reserved += ports
            self._targets += [f"127.0.0.1:{p}" for p in ports]
        self._write_targets()

    def take_port(self) -> int:
        """A port that Prometheus scrapes: a reserved one, else a new target (scraped later)."""
        with self._lock:
            if self._reserved:
                return self._reserved.pop(0)
        port = free_port()
        self.add_target(f"127.0.0.1:{port}")
        return port

    def add_target(self, address: str) -> None:
        with self._lock:
            if address not in self._targets:
                self._targets.append(address)
        self._write_targets()

    def _write_targets(self) -> None:
        with self._lock:
            groups = [{"targets": list(self._targets), "labels": {"job": "demo-apps"}}]
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups, indent=2))
        tmp.replace(self.targets_file)  # atomic: Prometheus never reads half a file

    def _write_config(self) -> None:
        interval = self.scrape_interval
        config = {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "scrape_configs": [
                {
                    "job_name": "prometheus",
                    "static_configs": [{"targets": [f"127.0.0.1:{self.port}"]}],
                },
                {
                    "job_name": "demo-apps",
                    "file_sd_configs": [
                        {"files": [str(self.targets_file)], "refresh_interval": "1s"}
                    ],
                },
            ],
        }
        self.config_file.write_text(json.dumps(config, indent=2))  # JSON is YAML

    def start(self) -> None:
        """Start the process (returns at once; `wait_ready` waits for the first scrape)."""
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
        self._started = time.time()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until Prometheus has scraped itself once (the first scrape comes after ~5 s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"prometheus exited early:\n{self.log_tail()}")
            result = self.query_vector('timestamp(up{job="prometheus"})')
            if result and float(result[0]["value"][1]) >= self._started - 1:
                return
            time.sleep(0.2)
        raise TimeoutError(f"prometheus scraped nothing within {timeout:g}s:\n{self.log_tail()}")

    def query_vector(self, promql: str) -> list[dict[str, Any]] | None:
        """The result list of an instant query, or None when Prometheus did not answer."""
        params = urllib.parse.urlencode({"query": promql})
        try:
            with _NO_PROXY.open(f"{self.url}/api/v1/query?{params}", timeout=5) as response:
                body = json.load(response)
        except (OSError, ValueError):
            return None
        result = (body.get("data") or {}).get("result") if body.get("status") == "success" else None
        return result if isinstance(result, list) else None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process)

    def log_tail(self, lines: int = 15) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
