"""Run the real operator as a process of its own (``finnexus_operator.cli.main(["run", ...])``),
to kill it with SIGKILL at an exact point and start it again -- a crash, as in a cluster.

Starting a Python process that imports kopf, the ``kubernetes`` client and pydantic costs
about 0.7 s of CPU here, and a crash test starts the operator dozens of times on two cores. So
the processes come from a *zygote*: one Python process (per test process) that has imported
every module and forks a child per start. The child makes itself a session leader, sends its
output to the given log, takes the given environment and runs exactly what ``python -m
finnexus_operator run ARGS`` runs; the zygote reaps it when it dies. A fork costs a few
milliseconds, so a restart is as quick as kopf's own start (about 0.3 s to the first pass).

``python -m finnexus_kit.operator_process`` is the zygote: it reads one JSON line per child on
stdin (``{"args": [...], "log": PATH, "env": {...}}``) and answers each with the child's pid.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
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


class _Zygote:
    """The forking parent of every operator process of this test process."""

    _lock = threading.Lock()
    _instance: _Zygote | None = None

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "finnexus_kit.operator_process"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None,
            start_new_session=True, env=_env(os.environ.get("KUBECONFIG", "")))
        self._io = threading.Lock()

    @classmethod
    def get(cls) -> _Zygote:
        with cls._lock:
            if cls._instance is None or cls._instance.process.poll() is not None:
                cls._instance = cls()
                atexit.register(cls._instance.close)
            return cls._instance

    def spawn(self, args: Sequence[str], log: Path, env: dict[str, str]) -> int:
        line = json.dumps({"args": list(args), "log": str(log), "env": env}) + "\n"
        with self._io:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write(line.encode())
            self.process.stdin.flush()
            answer = self.process.stdout.readline()
        if not answer.strip():
            raise RuntimeError("the operator zygote died")
        return int(answer)

    def close(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie runs no code any more)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rsplit(")", 1)[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


class OperatorProcess:
    """The operator as a process of its own: ``start()``, ``kill()`` (SIGKILL), ``start()``
    again, ``stop()`` (SIGTERM: kopf stops cleanly)."""

    def __init__(self, kubeconfig: str, log: Path, *, prometheus_url: str | None = None,
                 extra_args: Sequence[str] = ()) -> None:
        self.kubeconfig, self.log = kubeconfig, log
        self.args = ["run", "--kubeconfig", kubeconfig, "--all-namespaces",
                     "--metrics-port", "0", "--health-port", "0", "--log-format", "json",
                     *(["--prometheus-url", prometheus_url] if prometheus_url else []),
                     *extra_args]
        self._lock = threading.Lock()
        self.pid: int | None = None
        self.starts = 0  # processes started so far
        self.kills = 0

    @property
    def running(self) -> bool:
        pid = self.pid
        return pid is not None and _alive(pid)

    def start(self) -> OperatorProcess:
        with self._lock:
            if self.running:
                raise RuntimeError("the operator process is already running")
            self.starts += 1
            with self.log.open("ab") as out:
                out.write(f"--- operator process {self.starts} ---\n".encode())
            self.pid = _Zygote.get().spawn(self.args, self.log, _env(self.kubeconfig))
        return self

    def kill(self) -> None:
        """SIGKILL the operator: when this returns it does nothing any more. Safe from any
        thread (the emulator's, in a hook)."""
        pid = self.pid
        if pid is None or not _alive(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self._wait_gone(pid, 10)
        self.kills += 1

    def stop(self) -> None:
        """SIGTERM the operator (kopf stops cleanly), SIGKILL after 5 s."""
        with self._lock:
            pid, self.pid = self.pid, None
        if pid is None or not _alive(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not self._wait_gone(pid, 5):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 5)

    @staticmethod
    def _wait_gone(pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _zygote() -> int:
    """Load everything once, then fork one operator per line read from stdin."""
    import kopf  # noqa: F401  (the expensive imports, shared by every child)

    import finnexus_operator.controller.handlers
    import finnexus_operator.controller.runtime  # noqa: F401
    from finnexus_operator import cli

    def reap(signum: int, frame: object) -> None:
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass

    signal.signal(signal.SIGCHLD, reap)
    for line in sys.stdin:
        order = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the operator
            code = 1
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                out = os.open(order["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(out, 1)
                os.dup2(out, 2)
                os.environ.clear()
                os.environ.update(order["env"])
                sys.argv = ["finnexus-operator", *order["args"]]
                code = cli.main(list(order["args"]))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(_zygote())
