"""An async Kubernetes REST client on aiohttp: no threads, rate-limited, errors translated.

Raw paths and dict bodies (no generated models): the operator needs get, list, create, patch,
delete and watch. Every request waits for a token of one client-side token bucket
(:class:`RateLimiter`, ``--api-qps`` / ``--api-burst``) and shares one connection pool
(``connections``); every HTTP error and transport failure is translated into
:mod:`finnexus_operator.errors` (a 429/503 carries the server's Retry-After).

Credentials (:class:`ClientConfig`) come from the in-cluster service account (its token file
is re-read when it changes: bound tokens rotate) or from a kubeconfig (token, client
certificate, CA), read once at start by the ``kubernetes`` package's loader.

``on_write`` is called with the answer of every successful create/patch, synchronously and
before the caller sees it: the informer cache takes it in (and learns the resourceVersion of
our own write) before anything else can happen.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from finnexus_operator import __version__, errors
from finnexus_operator.adapters.kubeauth import (
    ClientConfig,
    load_api_client,
    load_config,
)
from finnexus_operator.adapters.kubeerrors import MAX_RETRY_AFTER, translate

__all__ = ["MAX_RETRY_AFTER", "USER_AGENT", "ClientConfig", "KubeClient", "RateLimiter",
           "api_path", "load_api_client", "load_config"]

PatchKind = Literal["merge", "json"]
USER_AGENT = f"finnexus-operator/{__version__}"
_CONTENT_TYPES = {"merge": "application/merge-patch+json", "json": "application/json-patch+json"}


def api_path(api_version: str, plural: str, namespace: str | None, name: str | None = None,
             subresource: str | None = None) -> str:
    """``/api/v1/namespaces/ns/services/x`` or ``/apis/apps/v1/namespaces/ns/deployments/x``."""
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = base + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path


@dataclass
class RateLimiter:
    """A token bucket: ``burst`` requests at once, then ``qps`` per second (0: unlimited).

    Tokens are reserved without a lock (no await between the check and the take), so waiters
    are served in arrival order and never more than ``qps`` on average."""

    qps: float = 100.0
    burst: int = 200
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _at: float = field(init=False)
    waited: float = field(init=False, default=0.0)  # seconds spent waiting, for the benches

    def __post_init__(self) -> None:
        self._tokens, self._at = float(self.burst), self.clock()

    def reserve(self) -> float:
        """Take one token; the seconds to wait before using it (0: at once)."""
        if self.qps <= 0:
            return 0.0
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.qps)
        self._at = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            self.waited += wait
            await asyncio.sleep(wait)


class KubeClient:
    """Async get/list/create/patch/delete/watch over raw API paths, errors translated."""

    def __init__(self, config: ClientConfig | Any, *, timeout: float = 10.0,
                 qps: float = 100.0, burst: int = 200, connections: int = 64,
                 on_write: Callable[[dict[str, Any]], None] | None = None) -> None:
        if not isinstance(config, ClientConfig):  # a ``kubernetes`` ApiClient (compat path)
            config = ClientConfig.from_kubernetes(config.configuration,
                                                  getattr(config, "user_agent", None))
        self.config = config
        self.limiter = RateLimiter(qps, burst)
        self.on_write = on_write
        self._timeout = timeout
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | bool | None = None

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if self._ssl is None:  # reading CA and key files: once, off the event loop
                self._ssl = await asyncio.to_thread(self.config.ssl_context)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ssl=self._ssl),
                headers={"User-Agent": self.config.user_agent, "Accept": "application/json"},
                trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Content-Type": content_type} if content_type else {}
        auth = await self.config.authorization()
        if auth:
            headers["Authorization"] = auth
        return headers

    async def _call(self, method: str, path: str, *, body: Any = None,
                    query: dict[str, str] | None = None,
                    content_type: str | None = None) -> Any:
        await self.limiter.acquire()
        session = await self._client()
        data = None if body is None else json.dumps(body)
        try:
            async with session.request(
                method, self.config.server + path, params=query or None, data=data,
                headers=await self._headers(content_type if body is not None else None),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                raw = await response.read()
                if not 200 <= response.status < 300:
                    raise translate(response.status, response.reason, raw, method, path,
                                    response.headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise errors.ApiUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}"
                                        ) from exc
        try:
            return json.loads(raw) if raw else {}
        except ValueError as exc:
            raise errors.ApiUnavailable(f"{method} {path}: response is not JSON") from exc

    def _written(self, answer: Any) -> dict[str, Any]:
        result = dict(answer or {})
        if self.on_write is not None and result.get("metadata"):
            self.on_write(result)
        return result

    async def get(self, path: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return dict(await self._call("GET", path))
        except errors.NotFound:
            return None

    async def list_page(self, path: str, label_selector: str | None = None, *,
                        limit: int = 500) -> tuple[list[dict[str, Any]], str | None]:
        """Every item (following ``continue``) and the list's resourceVersion."""
        items: list[dict[str, Any]] = []
        query = {"limit": str(limit)}
        if label_selector:
            query["labelSelector"] = label_selector
        while True:
            result = await self._call("GET", path, query=query) or {}
            items += list(result.get("items") or [])
            meta = result.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                rv = meta.get("resourceVersion")
                return items, str(rv) if rv is not None else None
            query["continue"] = str(token)

    async def list(self, path: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        return (await self.list_page(path, label_selector))[0]

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._written(await self._call("POST", path, body=body,
                                              content_type="application/json"))

    async def delete(self, path: str, *, propagation: str | None = None) -> None:
        """Delete the object (``propagation``: its propagationPolicy, e.g. Background); one
        that is already gone is fine."""
        try:
            await self._call("DELETE", path, query={"propagationPolicy": propagation}
                             if propagation else None)
        except errors.NotFound:
            return

    async def patch(self, path: str, body: Any, kind: PatchKind = "merge") -> dict[str, Any]:
        return self._written(await self._call("PATCH", path, body=body,
                                              content_type=_CONTENT_TYPES[kind]))

    async def watch(self, path: str, *, resource_version: str | None,
                    label_selector: str | None = None, timeout_seconds: int = 300
                    ) -> AsyncIterator[dict[str, Any]]:
        """The watch events (``{"type", "object"}``, bookmarks and ERROR included) from
        ``resource_version`` until the server ends the stream; a broken stream raises
        ApiUnavailable, an HTTP error its translation."""
        await self.limiter.acquire()
        session = await self._client()
        query = {"watch": "1", "allowWatchBookmarks": "true",
                 "timeoutSeconds": str(timeout_seconds)}
        if resource_version:
            query["resourceVersion"] = resource_version
        if label_selector:
            query["labelSelector"] = label_selector
        try:
            async with session.get(
                self.config.server + path, params=query, headers=await self._headers(None),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._timeout,
                                              sock_read=timeout_seconds + 30),
            ) as response:
                if not 200 <= response.status < 300:
                    raise translate(response.status, response.reason, await response.read(),
                                    "GET", path, response.headers)
                async for line in response.content:
                    if line.strip():
                        yield json.loads(line)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise errors.ApiUnavailable(f"watch {path}: {type(exc).__name__}: {exc}") from exc
