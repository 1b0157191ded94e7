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


def shard_body(name: str, rv: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "finnexus.ai/v1alpha1", "kind": "FinNexusDeployment",
            "metadata": {"namespace": "ns", "name": name, "resourceVersion": rv,
                         "labels": labels}}


async def test_a_resource_outside_the_shard_is_forgotten_and_its_objects_wake_nothing() -> None:
    """--selector is checked client-side too: a resource whose labels do not match is treated
    as deleted (dropped from the cache, its work forgotten), and changes of objects it owns
    wake nothing."""
    registry = kopf.OperatorRegistry()
    runtime = Runtime(Settings(metrics_port=0, health_port=0, selector="finnexus.ai/shard=a"))
    queue = Queue()
    runtime.queue = queue  # type: ignore[assignment]
    runtime.cache = ClusterCache(KubeClient(ClientConfig("http://127.0.0.1:1")))
    handlers.register(registry, runtime)
    [handler] = [h for h in registry._watching.get_all_handlers() if h.selector is not None]

    async def event(type_: str, obj: dict[str, Any]) -> None:
        await handler.fn(type=type_, event={"type": type_, "object": obj})

    await event("ADDED", shard_body("mine", "1", {"finnexus.ai/shard": "a"}))
    await event("ADDED", shard_body("other", "2", {"finnexus.ai/shard": "b"}))
    assert runtime.known == {("ns", "mine")}
    assert runtime.cache.resource("ns", "other") is None
    assert [(n[1], n[2].get("deleted")) for n in queue.notified] == [
        ("mine", None), ("other", True)]
    queue.notified.clear()
    for owner in ("mine", "other"):  # an informer saw an object of each change
        runtime._wake("ns", owner, ("Pod", "ns", f"{owner}-x", "9"))
    assert [n[1] for n in queue.notified] == ["mine"]
    # the resource leaves the shard (its label changed): forgotten, its work cancelled
    await event("MODIFIED", shard_body("mine", "3", {}))
    assert runtime.known == set() and queue.notified[-1][2]["deleted"] is True
    assert runtime.cache.resource("ns", "mine") is None


def test_a_standby_runs_no_pass_until_it_leads() -> None:
    runtime = Runtime(Settings(metrics_port=0, health_port=0, leader_election=True))
    runtime.cache = ClusterCache(KubeClient(ClientConfig("http://127.0.0.1:1")))
    runtime.resource_event("ADDED", shard_body("web", "1", {}))
    assert runtime.queue is None and runtime.known == {("ns", "web")}
    assert runtime.cache.resource("ns", "web") is not None  # the standby keeps its view


async def test_the_server_side_filter_is_the_selector() -> None:
    registry = kopf.OperatorRegistry()
    runtime = Runtime(Settings(metrics_port=0, health_port=0, selector="team in (x,y)"))
    handlers.register(registry, runtime)
    (startup,) = [h for h in registry._activities.get_all_handlers()
                  if h.fn.__name__ == "startup"]
    settings = kopf.OperatorSettings()

    async def no_start() -> None:
        return None
    runtime.start = no_start  # type: ignore[method-assign]
    await startup.fn(settings=settings)
    assert settings.watching.label_selectors.collect(
        kopf.Resource("finnexus.ai", "v1alpha1", "finnexusdeployments")) == ["team in (x,y)"]
    assert settings.peering.standalone is True  # never kopf peering
