"""The kopf registrations: owned objects are watched (by label), each event wakes its owner."""

from __future__ import annotations

import kopf

from finnexus_operator.controller import handlers
from finnexus_operator.controller.runtime import Runtime
from finnexus_operator.settings import Settings


def test_the_owner_is_the_finnexus_deployment_in_the_owner_references() -> None:
    meta = {"ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-blue-x"},
        {"apiVersion": "finnexus.ai/v1alpha1", "kind": "FinNexusDeployment", "name": "web"},
        {"apiVersion": "other.io/v1", "kind": "FinNexusDeployment", "name": "impostor"},
    ]}
    assert handlers.owner_names(meta) == ["web"]
    assert handlers.owner_names({}) == []


def test_owned_kinds_and_pods_are_watched_with_label_filters() -> None:
    registry = kopf.OperatorRegistry()
    handlers.register(registry, Runtime(Settings(metrics_port=0, health_port=0)))
    watched = {(h.selector.group, h.selector.version, h.selector.any_name): h
               for h in registry._watching.get_all_handlers() if h.selector is not None}
    for kind in handlers.OWNED:
        assert dict(watched[kind].labels or {}) == {
            "app.kubernetes.io/managed-by": "finnexus-operator"}, kind
    for kind in handlers.POD_LABELLED:
        assert dict(watched[kind].labels or {}) == {"finnexus.ai/color": kopf.PRESENT}, kind
    assert not registry._changing.get_all_handlers()  # nothing that stores state on objects
    assert not registry._spawning.get_all_handlers()  # no timers or daemons: no finalizers


class Queue:
    def __init__(self) -> None:
        self.notified: list[tuple[str, str, dict[str, object]]] = []

    def notify(self, namespace: str, name: str, **kwargs: object) -> None:
        self.notified.append((namespace, name, kwargs))


async def test_each_event_wakes_the_owner_and_never_cancels_it() -> None:
    registry = kopf.OperatorRegistry()
    runtime = Runtime(Settings(metrics_port=0, health_port=0))
    queue = Queue()
    runtime.queue = queue  # type: ignore[assignment]
    runtime.known.add(("ns", "web"))  # the resource's own watch saw it (of our shard)
    handlers.register(registry, runtime)
    watched = {h.selector.any_name: h for h in registry._watching.get_all_handlers()
               if h.selector is not None}
    owned = {"ownerReferences": [{"apiVersion": "finnexus.ai/v1alpha1",
                                  "kind": "FinNexusDeployment", "name": "web"}]}
    await watched["deployments"].fn(type="DELETED", namespace="ns", meta=owned,
                                    labels={}, name="web-blue")
    await watched["pods"].fn(type="MODIFIED", namespace="ns", meta={}, name="web-blue-x-1",
                             labels={"app.kubernetes.io/name": "web",
                                     "finnexus.ai/color": "blue"})
    await watched["replicasets"].fn(type="ADDED", namespace="ns", meta={}, name="x",
                                    labels={"finnexus.ai/color": "blue"})  # no name: nobody
    # a deleted owned object wakes the resource (it is re-created), it never stops its worker
    assert queue.notified == [("ns", "web", {}), ("ns", "web", {})]


def cr_handler(registry: kopf.OperatorRegistry) -> object:
    (handler,) = [h for h in registry._watching.get_all_handlers()
                  if h.selector is not None and h.selector.any_name == "finnexusdeployments"]
    return handler.fn


async def test_a_resource_outside_the_shard_is_forgotten_and_its_objects_wake_nothing() -> None:
    """--selector is checked client-side too: a resource whose labels do not match is treated
    as deleted (its worker stops), and events of objects it owns wake nothing."""
    registry = kopf.OperatorRegistry()
    runtime = Runtime(Settings(metrics_port=0, health_port=0, selector="finnexus.ai/shard=a"))
    queue = Queue()
    runtime.queue = queue  # type: ignore[assignment]
    handlers.register(registry, runtime)
    on_cr = cr_handler(registry)
    watched = {h.selector.any_name: h for h in registry._watching.get_all_handlers()
               if h.selector is not None}
    await on_cr(type="ADDED", name="mine", namespace="ns",  # type: ignore[operator]
                meta={"resourceVersion": "1"}, labels={"finnexus.ai/shard": "a"})
    await on_cr(type="MODIFIED", name="other", namespace="ns",  # type: ignore[operator]
                meta={"resourceVersion": "2"}, labels={"finnexus.ai/shard": "b"})
    assert runtime.known == {("ns", "mine")}
    assert queue.notified == [("ns", "mine", {"deleted": False, "resource_version": "1"}),
                              ("ns", "other", {"deleted": True, "resource_version": "2"})]
    queue.notified.clear()
    for owner in ("mine", "other"):
        await watched["pods"].fn(type="MODIFIED", namespace="ns", meta={}, name=f"{owner}-x",
                                 labels={"app.kubernetes.io/name": owner,
                                         "finnexus.ai/color": "blue"})
    assert queue.notified == [("ns", "mine", {})]
    # the resource leaves the shard (its label changed): forgotten, its worker cancelled
    await on_cr(type="MODIFIED", name="mine", namespace="ns",  # type: ignore[operator]
                meta={"resourceVersion": "3"}, labels={})
    assert runtime.known == set() and queue.notified[-1][2]["deleted"] is True


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
