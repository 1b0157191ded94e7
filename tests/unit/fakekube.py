"""A recording fake of ``adapters.kube.KubeClient`` for adapter and executor unit tests.

Objects live by path; JSON patches are applied with ``jsonpatch`` (RFC 6902, as the API
server does); ``defaults`` mimics API-server defaulting on every stored object (create and
patch), so a test can prove an ensure does not fight it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonpatch

from finnexus_operator import errors

Defaults = Callable[[dict[str, Any]], dict[str, Any]]


def service_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """What the API server adds to a Service: a clusterIP."""
    if obj.get("kind") == "Service":
        obj["spec"].setdefault("clusterIP", "10.0.0.1")
    return obj


class FakeKube:
    """Stores objects by path; records every write as (verb, path, body)."""

    def __init__(self, defaults: Defaults = service_defaults) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, str, Any]] = []
        self.defaults = defaults
        self._uid = 0

    def put(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` as it stands (a test's own object), defaulted like any other."""
        self._uid += 1
        obj = self.defaults(copy.deepcopy(obj))
        obj.setdefault("metadata", {}).setdefault("uid", f"obj-{self._uid}")
        self.objects[path] = obj
        return obj

    async def get(self, path: str) -> dict[str, Any] | None:
        found = self.objects.get(path)
        return copy.deepcopy(found) if found is not None else None

    async def list(self, path: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        want = dict(term.split("=", 1) for term in (label_selector or "").split(",") if term)
        return [copy.deepcopy(obj) for p, obj in sorted(self.objects.items())
                if p.rsplit("/", 1)[0] == path and all(
                    ((obj.get("metadata") or {}).get("labels") or {}).get(k) == v
                    for k, v in want.items())]

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        full = f"{path}/{body['metadata']['name']}"
        if full in self.objects:
            raise errors.Conflict("exists", status=409)
        self.writes.append(("create", full, copy.deepcopy(body)))
        return copy.deepcopy(self.put(full, body))

    async def patch(self, path: str, body: Any, kind: str = "merge") -> dict[str, Any]:
        assert kind == "json", "the operator patches owned objects with JSON patches"
        try:
            patched = jsonpatch.apply_patch(self.objects[path], body)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise errors.Invalid(str(exc), status=422) from exc
        self.writes.append(("patch", path, copy.deepcopy(body)))
        self.objects[path] = self.defaults(patched)
        return copy.deepcopy(self.objects[path])

    async def delete(self, path: str) -> None:
        self.writes.append(("delete", path, None))
        self.objects.pop(path, None)
