"""The demo's hands on ``kubectl finnexus``: the plugin run as a user runs it (a subprocess
pointed at the demo's kubeconfig), each command and each line it prints on the timeline."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from finnexus_demo.monitor import Timeline

__all__ = ["ROOT", "Plugin", "Running", "install_shim"]

ROOT = str(Path(__file__).resolve().parent.parent)  # the checkout: finnexus_operator, demo


def _env(kubeconfig: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINNEXUS_")}
    path = env.get("PYTHONPATH")
    env.update(KUBECONFIG=kubeconfig, PYTHONPATH=ROOT + (os.pathsep + path if path else ""),
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               PYTHONUNBUFFERED="1")
    return env


def install_shim(folder: Path) -> Path:
    """A ``kubectl-finnexus`` executable for this checkout in ``folder`` (kubectl finds plugins
    on PATH), whether or not the package's console script is installed."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "kubectl-finnexus"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}${{PYTHONPATH:+:$PYTHONPATH}}" exec '
                    f'"{sys.executable}" -m finnexus_operator.kubectl "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    return shim


class Running:
    """A plugin command in progress; its output goes to the timeline line by line."""

    def __init__(self, process: subprocess.Popen[str], clock: Timeline, name: str) -> None:
        self.process, self.clock, self.name = process, clock, name
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self.clock.say("plugin", line.rstrip("\n"))

    def finish(self, timeout: float) -> int:
        """The exit code (the process is killed past ``timeout``: then -9)."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(timeout=5)
        self.clock.say("plugin", f"(kubectl finnexus {self.name}: exit {code})")
        return code


class Plugin:
    """``kubectl finnexus ARGS -n NAMESPACE`` against the demo's API."""

    def __init__(self, kubeconfig: str, namespace: str, clock: Timeline) -> None:
        self.kubeconfig, self.namespace, self.clock = kubeconfig, namespace, clock

    def start(self, *args: str) -> Running:
        shown = " ".join([*args, "-n", self.namespace])
        self.clock.say("plugin", f"$ kubectl finnexus {shown}")
        process = subprocess.Popen(
            [sys.executable, "-m", "finnexus_operator.kubectl", *args, "-n", self.namespace],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, env=_env(self.kubeconfig), start_new_session=True)
        return Running(process, self.clock, args[0])

    def run(self, *args: str, timeout: float = 60.0) -> int:
        return self.start(*args).finish(timeout)
