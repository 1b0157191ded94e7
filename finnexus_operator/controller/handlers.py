"""The kopf registrations — and nothing else. Decisions live in core.plan; work in reconcile.

Only event handlers are registered: no finalizers, no kopf annotations or status fields on
the resource (the operator writes only ``status`` and removes a handled request annotation),
so it never fights a GitOps tool over the resource's metadata.

kopf watches the FinNexusDeployments; each event's body goes into the operator's cache (a pass
never GETs the resource) and wakes its pass, unless it is older than what the cache holds or
the echo of the operator's own write. What the resource owns is watched by the operator's own
informers (:mod:`finnexus_operator.adapters.cache`), which wake the owner themselves
(DESIGN §2.1 rule 6: a hand edit is corrected promptly, not at the next resync).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from finnexus_operator import constants
from finnexus_operator.controller.runtime import Runtime

__all__ = ["register"]


def register(registry: kopf.OperatorRegistry, runtime: Runtime) -> None:
    """Register the operator's handlers into ``registry`` (a fresh one per test is fine)."""

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.scanning.disabled = True  # no CRD/namespace scanning: no RBAC for it
        settings.posting.level = 30  # kopf's own Events: warnings and errors only
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.networking.request_timeout = 30
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
    async def on_event(*, type: str, event: Mapping[str, Any], **_: Any) -> None:
        body = event.get("object") if isinstance(event, Mapping) else None
        if isinstance(body, Mapping):
            runtime.resource_event(str(type or event.get("type") or ""), body)
