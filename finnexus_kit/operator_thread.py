"""Run the real operator (kopf + our handlers) in a background thread with its own loop.

Used by the contract tests and the demo. kopf cancels the tasks of the loop it runs in, so it
gets a loop of its own; stopping sets kopf's stop flag and joins the thread.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import kopf

from finnexus_operator.adapters.kube import load_api_client
from finnexus_operator.controller.handlers import register
from finnexus_operator.controller.runtime import Runtime
from finnexus_operator.settings import Settings

__all__ = ["OperatorThread"]


class OperatorThread:
    """``with OperatorThread(settings, server_url, kubeconfig) as op: ...``"""

    def __init__(self, settings: Settings, server: str, kubeconfig: str) -> None:
        self.settings = settings
        self.server = server
        self.kubeconfig = kubeconfig
        self.runtime = Runtime(settings, load_api_client(kubeconfig))
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.failure: BaseException | None = None

    def start(self) -> OperatorThread:
        self._thread = threading.Thread(target=self._run, name="finnexus-operator", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError(f"the operator did not start: {self.failure!r}")
        return self

    def _run(self) -> None:
        registry = kopf.OperatorRegistry()
        server = self.server

        @kopf.on.login(registry=registry)
        def login(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=server, insecure=True, scheme="Bearer",
                                       token="emulator-token", default_namespace="default")

        register(registry, self.runtime)
        try:
            asyncio.run(kopf.operator(
                registry=registry, standalone=True, clusterwide=not self.settings.namespaces,
                namespaces=self.settings.namespaces, stop_flag=self._stop,
                ready_flag=self._ready))
        except BaseException as exc:
            self.failure = exc
            self._ready.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> OperatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
