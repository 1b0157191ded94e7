"""Request hooks: a test's hand inside the emulated API (fault injection, crash points).

A hook sees every request to a served resource as a :class:`Call` twice: ``before`` it is
served (and may answer instead: a :class:`Fault`, or a :class:`CutStream` for a watch) and
``after`` it was served (the store has committed the change and told the watchers, but the
answer is not sent yet: a hook that kills the client here makes "the write was accepted, the
client never heard" exact). Hooks run in the emulator's event loop, synchronously: they must
be quick and must not call the API themselves.

While a request changes the store, :attr:`Emulator.current` is its Call, so a store listener
knows who made the change it is told about.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

__all__ = ["Answer", "Call", "CutStream", "Fault", "Hook"]


@dataclasses.dataclass
class Call:
    """One request as a hook sees it."""

    method: str
    path: str
    query: Mapping[str, str]
    user_agent: str
    content_type: str
    body: Any  # the decoded JSON body, None without one (or when it is not JSON)
    at: float = dataclasses.field(default_factory=time.monotonic)

    @property
    def watch(self) -> bool:
        return self.method == "GET" and self.query.get("watch") in ("true", "1")

    @property
    def write(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE")

    @property
    def segments(self) -> list[str]:
        return self.path.strip("/").split("/")


@dataclasses.dataclass(frozen=True)
class Fault:
    """Answer with this HTTP error (a ``kind: Status`` body) instead of serving the request;
    with ``commit`` the request is served first (its change is made) and the answer is the
    error all the same -- a timeout after the write, as a client sees it."""

    status: int
    reason: str = "InternalError"
    message: str = "injected fault"
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    commit: bool = False

    def response(self) -> web.Response:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.status}
        return web.Response(status=self.status, text=json.dumps(body),
                            content_type="application/json", headers=dict(self.headers))


@dataclasses.dataclass(frozen=True)
class CutStream:
    """Serve the watch, then cut its connection after ``after`` seconds (no clean end)."""

    after: float


Answer = Fault | CutStream | None


class Hook(Protocol):
    def before(self, call: Call) -> Answer:
        """None: serve the request; a Fault: answer it instead; CutStream: cut the watch."""
        ...

    def after(self, call: Call, status: int) -> None:
        """The request was served with ``status`` (its change committed, the answer unsent)."""
        ...
