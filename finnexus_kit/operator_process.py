"""Run the real operator as a child process (``finnexus_operator.cli.main(["run", ...])``), to
kill it with SIGKILL at an exact point and start it again -- a crash, as in a cluster.

Starting a Python process that imports kopf, the ``kubernetes`` client and pydantic takes
about 0.7 s here; a crash test restarts the operator many times, so the next process is
started ahead (``warm=True``): a *standby* that has loaded the interpreter and every module
and waits on its stdin. :meth:`OperatorProcess.start` releases it (it then runs exactly what
``python -m finnexus_operator run ...`` runs) and starts the next standby. Each process's output
goes to ``log`` (appended), marked with its number.

``python -m finnexus_kit.operator_process ARGS...`` is the standby itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = ["OperatorProcess"]

_ROOT = str(Path(__file__).resolve().parent.parent)  # the checkout: finnexus_operator, kit


def _env(kubeconfig: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINNEXUS_")}
    path = env.get("PYTHONPATH")
    env.update(KUBECONFIG=kubeconfig, NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost", PYTHONUNBUFFERED="1",
               PYTHONPATH=_ROOT if not path else f"{_ROOT}{os.pathsep}{path}")
    return env


class OperatorProcess:
    """The operator as a child process: ``start()``, ``kill()`` (SIGKILL), ``start()`` again."""

    def __init__(self, kubeconfig: str, log: Path, *, prometheus_url: str | None = None,
                 extra_args: Sequence[str] = (), warm: bool | int = True) -> None:
        # warm: True keeps a standby ready after every start; a number N prepares standbys
        # for the first N restarts only (each standby costs a Python start); False: none
        self.kubeconfig, self.log = kubeconfig, log
        self.spares = -1 if warm is True else int(warm)
        self.args = ["run", "--kubeconfig", kubeconfig, "--all-namespaces",
                     "--metrics-port", "0", "--health-port", "0", "--log-format", "json",
                     *(["--prometheus-url", prometheus_url] if prometheus_url else []),
                     *extra_args]
        self._lock = threading.Lock()
        self._live: subprocess.Popen[bytes] | None = None
        self._standby: subprocess.Popen[bytes] | None = None
        self.starts = 0  # processes released so far
        self.kills = 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "finnexus_kit.operator_process", *self.args],
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env=_env(self.kubeconfig))

    @property
    def pid(self) -> int | None:
        live = self._live
        return live.pid if live is not None else None

    @property
    def running(self) -> bool:
        live = self._live
        return live is not None and live.poll() is None

    def start(self) -> OperatorProcess:
        """Release the standby (or start a process) as the operator; prepare the next one."""
        with self._lock:
            if self.running:
                raise RuntimeError("the operator process is already running")
            process = self._standby or self._spawn()
            self._standby = None
            self.starts += 1
            assert process.stdin is not None
            process.stdin.write(f"go {self.starts}\n".encode())
            process.stdin.flush()
            self._live = process
            if self.spares != 0:
                self._standby = self._spawn()
                self.spares -= self.spares > 0
        return self

    def kill(self) -> None:
        """SIGKILL the operator and reap it: when this returns it does nothing any more.
        Safe from any thread (the emulator's, in a hook)."""
        live = self._live
        if live is None or live.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(live.pid, signal.SIGKILL)
        live.wait(10)
        self.kills += 1

    def stop(self) -> None:
        """SIGTERM the operator (kopf stops cleanly), SIGKILL after 5 s; drop the standby."""
        with self._lock:
            for process in (self._live, self._standby):
                if process is None or process.poll() is not None:
                    continue
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
                if process.stdin is not None:
                    with contextlib.suppress(OSError):
                        process.stdin.close()
            self._live = self._standby = None

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _standby(argv: Sequence[str]) -> int:
    """Load everything, wait for the word on stdin, then be ``finnexus-operator ARGS``."""
    import kopf  # noqa: F401  (the expensive imports, done while waiting)

    import finnexus_operator.controller.handlers
    import finnexus_operator.controller.runtime  # noqa: F401
    from finnexus_operator import cli

    word = sys.stdin.readline()
    if not word.strip():
        return 0  # stopped before it was needed
    print(f"--- operator process {word.split()[-1]} (pid {os.getpid()}) ---", file=sys.stderr,
          flush=True)
    return cli.main(list(argv))


if __name__ == "__main__":
    raise SystemExit(_standby(sys.argv[1:]))
