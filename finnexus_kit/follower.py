"""The life cycle the kit's simulators share (the pod simulator, the Job simulator): subscribed
to the emulated API's change feed in the API's loop, a worker thread that acts on what changed,
stopped and unsubscribed on the way out."""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Self

from finnexus_kit.apiserver import ApiServer
from finnexus_kit.kubeapi.store import WatchEvent

__all__ = ["StoreFollower"]


class StoreFollower:
    """Subclasses give ``_take`` (the stored objects, at subscription), ``_on_change`` (each
    commit, in the API's loop) and ``_loop`` (the worker thread: runs until ``_stop``)."""

    thread_name = "store-follower"

    def __init__(self, api: ApiServer) -> None:
        self.api = api
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscribed = False

    # -- what a simulator gives --
    def _take(self, store: Any) -> None:
        raise NotImplementedError

    def _on_change(self, event: WatchEvent) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        raise NotImplementedError

    def _closed(self) -> None:
        """After the thread stopped and the feed was left (e.g. close a client)."""

    # -- life cycle --
    def start(self) -> Self:
        self._subscribe()
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._subscribed:
            with contextlib.suppress(RuntimeError, TimeoutError):
                self.api.in_loop(lambda: self._store().listeners.remove(self._on_change))
            self._subscribed = False
        self._closed()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _store(self) -> Any:
        emulator = self.api.emulator
        if emulator is None:
            raise RuntimeError("the API server is not running")
        return emulator.store

    def _subscribe(self) -> None:
        """Take the stored objects and every later change, in one step in the API's loop."""
        if self._subscribed:
            return

        def subscribe() -> None:
            store = self._store()
            self._take(store)
            store.listeners.append(self._on_change)
        self.api.in_loop(subscribe)
        self._subscribed = True
