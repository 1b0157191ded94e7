"""The kopf registrations: only the resource is watched by kopf; its events feed the cache and
wake its pass (owned kinds are watched by the operator's informers, not by kopf)."""

from __future__ import annotations

from typing import Any

import kopf

from finnexus_operator.adapters.cache import ClusterCache
from finnexus_operator.adapters.kube import ClientConfig, KubeClient
from finnexus_operator.controller import handlers
from finnexus_operator.controller.runtime import Runtime
from finnexus_operator.settings import Settings


def test_only_the_resource_is_watched_by_kopf_and_nothing_stores_state() -> None:
    registry = kopf.OperatorRegistry()
    handlers.register(registry, Runtime(Settings(metrics_port=0, health_port=0)))
    watched = [(h.selector.group, h.selector.any_name)
               for h in registry._watching.get_all_handlers() if h.selector is not None]
    assert watched == [("finnexus.ai", "finnexusdeployments")]
    assert not registry._changing.get_all_handlers()  # nothing that stores state on objects
    assert not registry._spawning.get_all_handlers()  # no timers or daemons: no finalizers


class Queue:
    def __init__(self) -> None:
        self.notified: list[tuple[str, str, dict[str, object]]] = []

    def notify(self, namespace: str, name: str, **kwargs: object) -> None:
        self.notified.append((namespace, name, kwargs))


def body(rv: str, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "finnexus.ai/v1alpha1", "kind": "FinNexusDeployment",
            "metadata": {"namespace": "ns", "name": "web", "resourceVersion": rv, **meta}}


async def test_each_event_is_cached_and_wakes_the_resource_unless_older_or_our_own() -> None:
    registry = kopf.OperatorRegistry()
    runtime = Runtime(Settings(metrics_port=0, health_port=0))
    queue = Queue()
    runtime.queue = queue  # type: ignore[assignment]
    runtime.cache = ClusterCache(KubeClient(ClientConfig("http://127.0.0.1:1")))
    handlers.register(registry, runtime)
    [handler] = [h for h in registry._watching.get_all_handlers() if h.selector is not None]

    async def event(type_: str | None, obj: dict[str, Any]) -> None:
        await handler.fn(type=type_, event={"type": type_, "object": obj})

    await event(None, body("5"))  # kopf's initial listing has no type
    assert runtime.cache.resource("ns", "web") == body("5")
    await event("MODIFIED", body("4"))  # older than what is held: nothing new
    runtime.cache.absorb(body("7", annotations={"a": "b"}))  # the answer of our own write
    await event("MODIFIED", body("7", annotations={"a": "b"}))  # ... and its echo
    await event("MODIFIED", body("8"))
    await event("DELETED", body("9"))
    assert [(n[2].get("cause"), n[2].get("deleted")) for n in queue.notified] == [
        (("FinNexusDeployment", "ns", "web", "5"), None),
        (("FinNexusDeployment", "ns", "web", "8"), None),
        (None, True)]
    assert runtime.cache.resource("ns", "web") is None
