"""The operator under test as a child process: ``python -m finnexus_operator run`` against the
world's kubeconfig, its CPU time and peak RSS from ``/proc``, its ``/metrics`` port.

The child dies with the bench (``PR_SET_PDEATHSIG``) and is in a session of its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

__all__ = ["OperatorUnderTest", "cpu_seconds", "free_port"]

_ROOT = str(Path(__file__).resolve().parents[2])
_TICK = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """user + sys CPU seconds of process ``pid`` so far (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class OperatorUnderTest:
    """One operator process (``start`` again after ``stop`` for a new one)."""

    def __init__(self, kubeconfig: str, log: Path, extra_args: Sequence[str] = ()) -> None:
        self.kubeconfig, self.log = kubeconfig, log
        self.extra_args = tuple(extra_args)  # e.g. --api-qps 0 --workers 16
        self.process: subprocess.Popen[bytes] | None = None
        self.metrics_port = 0
        self.started = 0.0

    def start(self) -> OperatorUnderTest:
        self.metrics_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FINNEXUS_")}
        path = env.get("PYTHONPATH")
        env.update(KUBECONFIG=self.kubeconfig, NO_PROXY="127.0.0.1,localhost",
                   no_proxy="127.0.0.1,localhost",
                   PYTHONPATH=_ROOT if not path else f"{_ROOT}{os.pathsep}{path}")
        args = [sys.executable, "-m", "finnexus_operator", "run", "--kubeconfig",
                self.kubeconfig, "--all-namespaces", "--metrics-port", str(self.metrics_port),
                "--health-port", "0", "--log-format", "json", *self.extra_args]
        with self.log.open("ab") as out:
            self.started = time.monotonic()
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env,
                                            start_new_session=True,
                                            preexec_fn=_die_with_parent)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu_seconds(self) -> float:
        """user + sys CPU seconds so far (``/proc/<pid>/stat``)."""
        return cpu_seconds(self.pid)

    def peak_rss_kb(self) -> int:
        """VmHWM (peak resident set) in KiB."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def metric(self, name: str) -> float | None:
        """The sum of a metric's samples on /metrics (None: the port does not answer yet)."""
        try:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(f"http://127.0.0.1:{self.metrics_port}/metrics",
                             timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return None
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        """SIGTERM (kopf stops cleanly), SIGKILL after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
