"""The kopf registrations — and nothing else. Decisions live in core.plan; work in reconcile.

Only event handlers are registered: no finalizers, no kopf annotations or status fields on
the resource (the operator writes only ``status`` and removes a handled request annotation),
so it never fights a GitOps tool over the resource's metadata.

The objects the resource owns are watched too (DESIGN §2.1 rule 6: a hand edit is corrected
promptly, not at the next resync): Deployments, Services and Ingresses labelled
``app.kubernetes.io/managed-by: finnexus-operator``, and the ReplicaSets and pods that carry
``finnexus.ai/color`` (their labels come from our pod templates, so they carry no managed-by
label). An event only wakes the owning resource's worker -- the owner from the object's
``ownerReferences``, or for ReplicaSets and pods from their ``app.kubernetes.io/name`` label;
kopf's ``on.event`` keeps no state on the objects (no finalizer, no annotation: nothing is
written because something was watched). The same label selectors are given to the API server
(``settings.watching.label_selectors``), so the operator never streams every pod of a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from finnexus_operator import constants
from finnexus_operator.controller.runtime import Runtime

__all__ = ["MANAGED_SELECTOR", "OWNED", "POD_LABELLED", "owner_names", "register"]

MANAGED_SELECTOR = f"{constants.LABEL_MANAGED_BY}={constants.MANAGED_BY}"
# (group, version, plural) of the watched owned kinds, and of the kinds our pod templates label
OWNED: tuple[tuple[str, str, str], ...] = (
    ("apps", "v1", "deployments"),
    ("", "v1", "services"),
    ("networking.k8s.io", "v1", "ingresses"),
)
POD_LABELLED: tuple[tuple[str, str, str], ...] = (
    ("apps", "v1", "replicasets"),
    ("", "v1", "pods"),
)


def owner_names(meta: Mapping[str, Any]) -> list[str]:
    """The FinNexusDeployments named in an object's ownerReferences."""
    return [str(ref["name"]) for ref in meta.get("ownerReferences") or []
            if ref.get("kind") == constants.KIND and ref.get("name")
            and str(ref.get("apiVersion") or "").split("/")[0] == constants.GROUP]


def register(registry: kopf.OperatorRegistry, runtime: Runtime) -> None:
    """Register the operator's handlers into ``registry`` (a fresh one per test is fine)."""

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.scanning.disabled = True  # no CRD/namespace scanning: no RBAC for it
        settings.posting.level = 30  # kopf's own Events: warnings and errors only
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.networking.request_timeout = 30
        for group, version, plural in OWNED:  # server-side filters, as the handlers' labels=
            settings.watching.label_selectors[group, version, plural] = MANAGED_SELECTOR
        for group, version, plural in POD_LABELLED:
            settings.watching.label_selectors[group, version, plural] = constants.LABEL_COLOR
        # Leader election is the runtime's Lease (controller.leader), never kopf peering: kopf
        # only watches, so every replica keeps its view of the resources while one acts.
        settings.peering.standalone = True
        if runtime.settings.selector:  # sharding: the API server filters the resource too
            settings.watching.label_selectors[
                constants.GROUP, constants.VERSION, constants.PLURAL] = runtime.settings.selector
        await runtime.start()

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await runtime.stop()

    @kopf.on.event(constants.GROUP, constants.VERSION, constants.PLURAL, registry=registry)
    async def on_event(*, type: str, name: str, namespace: str | None, meta: kopf.Meta,
                       labels: kopf.Labels, **_: Any) -> None:
        if namespace is None:
            return
        # Outside our shard (--selector, checked client-side too) counts as deleted.
        runtime.notify(namespace, name, deleted=type == "DELETED" or not runtime.in_shard(labels),
                       resource_version=meta.get("resourceVersion"))

    async def on_owned_event(*, namespace: str | None, meta: kopf.Meta, **_: Any) -> None:
        """An owned object changed (or was deleted): its owner's worker runs a pass now."""
        if namespace is None:
            return
        for owner in owner_names(meta):
            runtime.wake(namespace, owner)  # only a resource of our shard, while leading

    async def on_pod_event(*, namespace: str | None, labels: kopf.Labels, **_: Any) -> None:
        """A pod or ReplicaSet of one of our colours changed: wake the resource it is named for."""
        owner = labels.get(constants.LABEL_NAME)
        if namespace is None or not owner:
            return
        runtime.wake(namespace, owner)

    for group, version, plural in OWNED:
        kopf.on.event(group, version, plural, registry=registry,
                      id=f"owned-{plural}",
                      labels={constants.LABEL_MANAGED_BY: constants.MANAGED_BY}
                      )(on_owned_event)
    for group, version, plural in POD_LABELLED:
        kopf.on.event(group, version, plural, registry=registry, id=f"labelled-{plural}",
                      labels={constants.LABEL_COLOR: kopf.PRESENT})(on_pod_event)
