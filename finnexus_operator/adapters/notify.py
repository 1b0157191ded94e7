"""Notification receivers: the operator's configuration file, and one HTTP POST to a receiver.

The configuration is the operator's (``--notifications-config FILE``), never the resource's:
a resource author cannot make the operator call a URL. The file is YAML::

    receivers:
      - name: on-call                 # what the logs name (never the URL)
        type: slack                   # webhook | slack (the registry BODIES)
        urlFile: /etc/finnexus/notify/on-call-url   # a mounted Secret holding the URL
        events: [RolledBack, Failed]  # default: RolledBack, Failed, Promoted, Invalid

The URL is read from ``urlFile`` at start (checked) and again before every POST (a rotated
Secret is picked up). It is a secret -- Slack's and most webhooks' URLs carry their token --
so no log line and no error message holds it: only the receiver's name. Any problem in the
file is a :class:`~finnexus_operator.errors.ConfigError` with a message naming it, so the
operator exits 2 at start rather than dropping notifications later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from finnexus_operator import errors
from finnexus_operator.core import notices

__all__ = ["BODIES", "Receiver", "WebhookPoster", "load_config", "subscribed"]

# receiver type -> how its body is built (an unknown type is a config error, never a fallback)
BODIES: Mapping[str, Callable[[notices.Outcome], dict[str, Any]]] = {
    "webhook": notices.webhook_body,
    "slack": notices.slack_body,
}
_KEYS = {"name", "type", "urlFile", "events"}


@dataclass(frozen=True)
class Receiver:
    """One configured receiver."""

    name: str
    type: str
    url_file: str
    events: frozenset[str]

    def url(self) -> str:
        """The URL from ``urlFile`` (ConfigError naming the file, never the content)."""
        try:
            url = Path(self.url_file).read_text().strip()
        except OSError as exc:
            raise errors.ConfigError(f"notification receiver {self.name!r}: urlFile "
                                     f"{self.url_file} cannot be read ({exc.strerror})"
                                     ) from None
        if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
            raise errors.ConfigError(f"notification receiver {self.name!r}: urlFile "
                                     f"{self.url_file} does not hold one http(s) URL")
        return url

    def body(self, outcome: notices.Outcome) -> dict[str, Any]:
        return BODIES[self.type](outcome)


def load_config(path: str) -> tuple[Receiver, ...]:
    """Parse and check the notifications file (ConfigError with a clear message)."""
    where = f"--notifications-config {path}"
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise errors.ConfigError(f"{where}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise errors.ConfigError(f"{where}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict) or set(raw) != {"receivers"} or not isinstance(
        raw["receivers"], list
    ):
        raise errors.ConfigError(f"{where}: expected a mapping with one key, `receivers`: "
                                 "a list of {name, type, urlFile, events}")
    receivers = tuple(_receiver(where, i, item) for i, item in enumerate(raw["receivers"]))
    names = [r.name for r in receivers]
    if len(set(names)) != len(names):
        raise errors.ConfigError(f"{where}: receiver names must be unique: {names}")
    return receivers


def _receiver(where: str, index: int, item: Any) -> Receiver:
    at = f"{where}: receivers[{index}]"
    if not isinstance(item, dict):
        raise errors.ConfigError(f"{at}: expected a mapping {{name, type, urlFile, events}}")
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise errors.ConfigError(f"{at}: unknown keys {unknown}; known: {sorted(_KEYS)}")
    name, kind, url_file = item.get("name"), item.get("type"), item.get("urlFile")
    if not isinstance(name, str) or not name:
        raise errors.ConfigError(f"{at}: `name` is required (a string)")
    at = f"{where}: receiver {name!r}"
    if kind not in BODIES:
        raise errors.ConfigError(f"{at}: unknown type {kind!r}; known: {', '.join(BODIES)}")
    if not isinstance(url_file, str) or not url_file:
        raise errors.ConfigError(f"{at}: `urlFile` is required (the path of a mounted "
                                 "Secret holding the URL)")
    events = item.get("events", list(notices.EVENTS))
    if not isinstance(events, list) or not events or not set(events) <= set(notices.EVENTS):
        raise errors.ConfigError(f"{at}: `events` must be a non-empty list of "
                                 f"{', '.join(notices.EVENTS)}; got {events!r}")
    receiver = Receiver(name, str(kind), url_file, frozenset(events))
    receiver.url()  # checked now: a missing Secret fails the start, not the first rollback
    return receiver


class WebhookPoster:
    """POSTs JSON bodies: one attempt per call, bounded by ``timeout`` seconds."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def post(self, receiver: Receiver, body: Mapping[str, Any]) -> None:
        """One POST; NotificationFailed (naming the receiver, never its URL) if not taken."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            url = receiver.url()
        except errors.ConfigError as exc:
            raise errors.NotificationFailed(str(exc)) from None
        try:
            async with self._session.post(url, json=body, allow_redirects=False) as answer:
                if not 200 <= answer.status < 300:
                    raise errors.NotificationFailed(
                        f"receiver {receiver.name!r} answered HTTP {answer.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            # aiohttp's messages hold the host and path: only the kind of failure is kept
            raise errors.NotificationFailed(
                f"receiver {receiver.name!r} unreachable ({type(exc).__name__})") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def subscribed(receivers: Sequence[Receiver], event: str) -> list[Receiver]:
    """The receivers that asked for ``event``."""
    return [r for r in receivers if event in r.events]
