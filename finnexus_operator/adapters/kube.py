"""A small async Kubernetes REST client on top of the ``kubernetes`` package.

Raw paths and dict bodies (no generated models): the operator only needs get, list, create and
patch. Calls run in worker threads (the ``kubernetes`` client is synchronous). Every
``ApiException`` and transport error is translated into :mod:`finnexus_operator.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from typing import Any, Literal

import kubernetes
import urllib3

from finnexus_operator import __version__, errors

__all__ = ["KubeClient", "api_path", "load_api_client"]

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


def load_api_client(kubeconfig: str | None = None, user_agent: str = USER_AGENT) -> Any:
    """In-cluster config when running in a pod, else ``$KUBECONFIG`` / ``~/.kube/config``."""
    configuration = kubernetes.client.Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration)
    else:
        path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, client_configuration=configuration)
    client = kubernetes.client.ApiClient(configuration)
    client.user_agent = user_agent
    return client


class KubeClient:
    """Async get/list/create/patch/delete over raw API paths, errors translated."""

    def __init__(self, api_client: Any, *, timeout: float = 10.0) -> None:
        self._api = api_client
        self._timeout = timeout

    def _call(self, method: str, path: str, *, body: Any = None,
              query: list[tuple[str, str]] | None = None,
              content_type: str = "application/json") -> Any:
        api = self._api
        try:
            _, url, headers, data, _ = api.param_serialize(
                method=method, resource_path=path, query_params=query or [],
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body, auth_settings=["BearerToken"],
            )
            response = api.call_api(method, url, header_params=headers, body=data,
                                    _request_timeout=self._timeout)
            raw = response.read()
        except kubernetes.client.ApiException as exc:
            raise _translate(exc.status, exc.reason, exc.body, method, path,
                             exc.headers) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.ApiUnavailable(f"{method} {path}: {exc}") from exc
        if not 200 <= response.status < 300:
            raise _translate(response.status, response.reason, raw, method, path,
                             getattr(response, "headers", None))
        try:
            return json.loads(raw) if raw else {}
        except ValueError as exc:
            raise errors.ApiUnavailable(f"{method} {path}: response is not JSON") from exc

    async def get(self, path: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            result = await asyncio.to_thread(self._call, "GET", path)
        except errors.NotFound:
            return None
        return dict(result)

    async def list(self, path: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        query = [("labelSelector", label_selector)] if label_selector else []
        result = await asyncio.to_thread(self._call, "GET", path, query=query)
        return list((result or {}).get("items") or [])

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await asyncio.to_thread(self._call, "POST", path, body=body))

    async def delete(self, path: str) -> None:
        """Delete the object; one that is already gone is fine."""
        try:
            await asyncio.to_thread(self._call, "DELETE", path)
        except errors.NotFound:
            return

    async def patch(self, path: str, body: Any, kind: PatchKind = "merge") -> dict[str, Any]:
        result = await asyncio.to_thread(
            self._call, "PATCH", path, body=body, content_type=_CONTENT_TYPES[kind])
        return dict(result)


MAX_RETRY_AFTER = 60.0  # a server asking for more is waited out in steps of this


def _retry_after(headers: Any, payload: Any) -> float | None:
    """Seconds from a Retry-After header (delta-seconds; an HTTP date is ignored) or from the
    Status body's ``details.retryAfterSeconds``; None when neither says."""
    candidates: list[Any] = []
    with contextlib.suppress(AttributeError):
        candidates.append(headers.get("Retry-After") if headers is not None else None)
    if isinstance(payload, dict) and isinstance(payload.get("details"), dict):
        candidates.append(payload["details"].get("retryAfterSeconds"))
    for value in candidates:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if seconds >= 0:
            return min(seconds, MAX_RETRY_AFTER)
    return None


def _translate(status: int | None, reason: str | None, body: Any, method: str, path: str,
               headers: Any = None) -> errors.ApiError:
    status = int(status or 0)
    reason, message = str(reason or ""), ""
    payload: Any = None
    try:
        payload = json.loads(body or "{}")
        message = str(payload.get("message") or "")
        reason = str(payload.get("reason") or reason)
    except (TypeError, ValueError, AttributeError):
        message = str(body or "")[:200]
    text = f"{method} {path}: HTTP {status} {reason}: {message}".rstrip(": ")
    cls: type[errors.ApiError]
    if status == 404:
        cls = errors.NotFound
    elif status == 409:
        cls = errors.Conflict
    elif status == 422:
        cls = errors.Invalid
    elif status == 429 or status >= 500 or status == 0:
        cls = errors.ApiUnavailable
    else:
        cls = errors.ApiError
    return cls(text, status=status, reason=reason, retry_after=_retry_after(headers, payload)
               if status in (429, 503) else None)
