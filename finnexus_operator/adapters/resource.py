"""The FinNexusDeployment itself: read it, write its status, clear a request, record Events."""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from finnexus_operator import constants, errors
from finnexus_operator.adapters.kube import KubeClient, api_path

__all__ = ["ResourceClient"]

_COMPONENT = "finnexus-operator"


class ResourceClient:
    """API calls on one kind: FinNexusDeployment (and core/v1 Events about it)."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self._instance = socket.gethostname()

    def path(self, namespace: str, name: str, subresource: str | None = None) -> str:
        return api_path(constants.API_VERSION, constants.PLURAL, namespace, name, subresource)

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.kube.get(self.path(namespace, name))

    async def write_status(self, namespace: str, name: str, status: Mapping[str, Any]
                           ) -> str | None:
        """Merge-patch ``.status`` through the status subresource (None values delete keys).

        Returns the resourceVersion of the written object (None if the answer has none), so
        the caller can recognise the watch event of its own write.
        """
        written = await self.kube.patch(self.path(namespace, name, "status"),
                                        {"status": dict(status)})
        rv = (written.get("metadata") or {}).get("resourceVersion")
        return str(rv) if rv is not None else None

    async def clear_request(self, namespace: str, name: str, value: str) -> bool:
        """Remove the request annotation if it still holds ``value`` (a newer one is kept)."""
        escaped = constants.ANNOTATION_REQUEST.replace("~", "~0").replace("/", "~1")
        key = "/metadata/annotations/" + escaped
        ops = [{"op": "test", "path": key, "value": value}, {"op": "remove", "path": key}]
        try:
            await self.kube.patch(self.path(namespace, name), ops, "json")
        except (errors.Invalid, errors.NotFound):
            return False  # changed or removed meanwhile: the next pass sees the new value
        except errors.ApiError as exc:
            if exc.status == 400:  # the test failed, as some servers put it
                return False
            # Anything else (a 500 included) did not clear it: raise, so that the pass is
            # retried. Taking a 500 for "changed meanwhile" left the handled request in
            # place, and the next pass acted on it again (a promote accepted in
            # AwaitingPromotion then promoted in Analyzing, skipping the analysis).
            raise
        return True

    async def post_event(self, body: Mapping[str, Any], type_: str, reason: str,
                         message: str) -> None:
        """Record a core/v1 Event about the resource (best effort is the caller's choice)."""
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace"), meta.get("name")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{name}.{time.time_ns():x}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": constants.API_VERSION, "kind": constants.KIND, "name": name,
                "namespace": namespace, "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": _COMPONENT},
            "reportingComponent": _COMPONENT,
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self.kube.create(api_path("v1", "events", namespace), event)
