"""Watch streams: subscribe first, then replay, then stream the store's changes as they happen."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Mapping

from aiohttp import web

from finnexus_kit.kubeapi.resources import Obj, ResourceType, StatusError
from finnexus_kit.kubeapi.selectors import Selector
from finnexus_kit.kubeapi.store import ObjectTable, Route, WatchEvent

__all__ = ["Watches"]


_CUT = b"(cut)"  # queued to a watcher: cut its connection


@dataclasses.dataclass(eq=False)
class _Watcher:
    rtype: ResourceType
    selector: Selector
    agent: str = ""
    cut: bool = False
    queue: asyncio.Queue[bytes | None] = dataclasses.field(default_factory=asyncio.Queue)

    def offer(self, event: WatchEvent) -> None:
        seen = event.seen_by(self.selector)
        if seen is not None:
            self.queue.put_nowait(event.line(seen))


def _line(type_: str, obj: Obj) -> bytes:
    return json.dumps({"type": type_, "object": obj}).encode() + b"\n"


class Watches:
    """The open watch streams on one store; every change the store commits reaches the
    streams of its resource type (each event's JSON is made once for all of them)."""

    def __init__(self, store: ObjectTable) -> None:
        self._store = store
        self._by_type: dict[ResourceType, set[_Watcher]] = {}
        self._closing = False
        store.listeners.append(self._offer)

    @property
    def _watchers(self) -> set[_Watcher]:
        return {w for watchers in self._by_type.values() for w in watchers}

    def _offer(self, event: WatchEvent) -> None:
        for watcher in self._by_type.get(event.rtype, ()):
            watcher.offer(event)

    def _add(self, watcher: _Watcher) -> None:
        self._by_type.setdefault(watcher.rtype, set()).add(watcher)

    def _discard(self, watcher: _Watcher) -> None:
        self._by_type.get(watcher.rtype, set()).discard(watcher)

    def _replay(self, route: Route, selector: Selector, query: Mapping[str, str]) -> list[bytes]:
        store = self._store
        since = query.get("resourceVersion", "")
        if since in ("", "0") or query.get("sendInitialEvents") == "true":
            rtype = route.rtype
            lines = [b'{"type":"ADDED","object":%s}\n' % store.encoded(rtype, ns, name)
                     for ns, name in store.select(route, query)
                     if route.name is None or name == route.name]
            if query.get("sendInitialEvents") == "true":
                lines.append(_line("BOOKMARK", {
                    "kind": route.rtype.kind, "apiVersion": route.rtype.api_version,
                    "metadata": {"resourceVersion": str(store.rv),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}}))
            return lines
        if not since.isdigit():
            raise StatusError(400, "BadRequest", f"invalid resourceVersion: {since!r}")
        if int(since) < store.expired_rv:
            expired = StatusError(410, "Expired", f"too old resource version: {since}")
            return [_line("ERROR", expired.body())]
        newer: list[WatchEvent] = []
        for event in reversed(store.history):  # newest first: read only what is newer
            if event.rv <= int(since):
                break
            newer.append(event)
        return [event.line(seen) for event in reversed(newer) if event.rtype == route.rtype
                if (seen := event.seen_by(selector)) is not None]

    async def serve(self, raw: web.BaseRequest, route: Route, query: Mapping[str, str], *,
                    cut: float | None = None) -> web.StreamResponse:
        """Answer one ``?watch=true`` request with a stream of JSON lines; with ``cut``, the
        connection is cut after that many seconds (a dropped stream: no clean end)."""
        selector = Selector.parse(route.namespace, route.name, query)
        watcher = _Watcher(route.rtype, selector, raw.headers.get("User-Agent", ""))
        self._add(watcher)  # subscribe first, then replay: no await in between
        try:
            replay = self._replay(route, selector, query)
        except StatusError:
            self._discard(watcher)
            raise
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        timeout = float(query["timeoutSeconds"]) if "timeoutSeconds" in query else None
        if cut is not None:
            timeout = cut if timeout is None else min(cut, timeout)
        try:
            await response.prepare(raw)
            async with asyncio.timeout(timeout):
                for line in replay:
                    await response.write(line)
                while not self._closing and (change := await watcher.queue.get()) is not None:
                    if change is _CUT:
                        raise TimeoutError
                    await response.write(change)
            await response.write_eof()
        except TimeoutError:
            if (cut is not None or watcher.cut) and raw.transport is not None:
                raw.transport.abort()  # dropped mid-stream: the client sees no end
        except ConnectionError:
            pass  # the client went away
        finally:
            self._discard(watcher)
        return response

    def drop(self, agent_prefix: str = "") -> int:
        """Cut every open stream of a client whose User-Agent starts with ``agent_prefix``."""
        cut = 0
        for watcher in self._watchers:
            if watcher.agent.startswith(agent_prefix) and not watcher.cut:
                watcher.cut = True
                watcher.queue.put_nowait(_CUT)
                cut += 1
        return cut

    def close(self) -> None:
        """End every open watch stream (before the server stops)."""
        self._closing = True
        for watcher in self._watchers:
            watcher.queue.put_nowait(None)
