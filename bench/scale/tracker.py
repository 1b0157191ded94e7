"""What happened to each resource, and when: a store listener in the emulated API's process.

It sees every committed change with the request that made it (``Emulator.current``: its
User-Agent) and the moment of the commit (``time.monotonic()``, one clock for every process of
the machine), and keeps, per FinNexusDeployment and revision, the times the decision-latency
figures are made of:

- ``template``: the bench set that template (create or patch);
- ``scaled``: the operator's first write of a Deployment carrying that revision with replicas;
- ``ready``: the simulator's write that made the last of its pods Ready;
- ``switch``: the operator's write that pointed the active Service ``<name>`` at its colour;
- ``stable``: the operator's status write recording it as ``Stable`` / ``stableRevision``;
- ``settled``: the old colour at 0 replicas after that (the scale-down timer; not a decision).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from typing import Any

from finnexus_kit.kubeapi.emulator import Emulator
from finnexus_kit.kubeapi.store import WatchEvent

__all__ = ["OPERATOR_AGENTS", "Release", "Tracker", "is_operator", "revision_of"]

OPERATOR_AGENTS = ("finnexus-operator/", "kopf/")
LABEL_NAME, LABEL_COLOR, LABEL_REVISION = (
    "app.kubernetes.io/name", "finnexus.ai/color", "finnexus.ai/revision")


def is_operator(agent: str) -> bool:
    return agent.startswith(OPERATOR_AGENTS)


def revision_of(template: Any) -> str:
    """The operator's revision of a template: sha256 of its canonical JSON, 10 hex digits."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


@dataclasses.dataclass
class Release:
    """The times of one revision of one resource (None: not yet)."""

    template: float | None = None
    scaled: float | None = None
    ready: float | None = None
    switch: float | None = None
    stable: float | None = None
    settled: float | None = None
    color: str | None = None


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict(((obj.get("spec") or {}).get("template") or {}).get("metadata", {})
                .get("labels") or {})


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class Tracker:
    """Per (resource, revision): a :class:`Release`; fed by the store, read by the bench."""

    def __init__(self, emulator: Emulator, replicas: int) -> None:
        self.emulator, self.replicas = emulator, replicas
        self.releases: dict[tuple[str, str], Release] = {}
        self.current: dict[str, str] = {}  # resource -> its template's revision
        self._ready: dict[tuple[str, str], set[str]] = {}  # (name, revision) -> Ready pods
        self._replicas: dict[tuple[str, str], int] = {}  # (name, colour) -> Deployment replicas
        emulator.store.listeners.append(self.on_change)

    def _release(self, name: str, revision: str) -> Release:
        return self.releases.setdefault((name, revision), Release())

    def on_change(self, event: WatchEvent) -> None:
        now = time.monotonic()
        call = self.emulator.current
        agent = call.user_agent if call is not None else ""
        plural, obj = event.rtype.plural, event.obj
        meta = obj.get("metadata") or {}
        if plural == "finnexusdeployments":
            self._resource(obj, event.old, now, agent)
        elif plural == "deployments" and event.type != "DELETED":
            name, color = _labels(obj).get(LABEL_NAME), _labels(obj).get(LABEL_COLOR)
            revision = _labels(obj).get(LABEL_REVISION)
            if not (name and color and revision):
                return
            replicas = int((obj.get("spec") or {}).get("replicas") or 0)
            self._replicas[name, color] = replicas
            rel = self._release(name, revision)
            if replicas and is_operator(agent) and rel.scaled is None:
                rel.scaled, rel.color = now, color
            self._maybe_settled(name, now)
        elif plural == "pods":
            labels = meta.get("labels") or {}
            name, revision = labels.get(LABEL_NAME), labels.get(LABEL_REVISION)
            if not (name and revision):
                return
            pods = self._ready.setdefault((name, revision), set())
            if event.type != "DELETED" and _ready(obj):
                pods.add(meta["name"])
            else:
                pods.discard(meta["name"])
            rel = self._release(name, revision)
            if len(pods) >= self.replicas and rel.ready is None:
                rel.ready = now
        elif plural == "services" and is_operator(agent) and event.type != "DELETED":
            name = meta.get("name", "")
            color = ((obj.get("spec") or {}).get("selector") or {}).get(LABEL_COLOR)
            revision = self.current.get(name)
            target = self.releases.get((name, revision or ""))
            if target is not None and color and target.color == color and target.switch is None:
                target.switch = now

    def _resource(self, obj: dict[str, Any], old: dict[str, Any] | None, now: float,
                  agent: str) -> None:
        name = obj["metadata"]["name"]
        template = (obj.get("spec") or {}).get("template")
        revision = revision_of(template)
        if old is None or revision_of((old.get("spec") or {}).get("template")) != revision:
            self.current[name] = revision
            rel = self._release(name, revision)
            rel.template = rel.template or now
        status = obj.get("status") or {}
        if status.get("phase") == "Stable" and status.get("stableRevision") == revision:
            rel = self._release(name, revision)
            if rel.stable is None:
                rel.stable = now
                self._maybe_settled(name, now)

    def _maybe_settled(self, name: str, now: float) -> None:
        rel = self.releases.get((name, self.current.get(name, "")))
        if rel is None or rel.stable is None or rel.settled is not None or rel.color is None:
            return
        other = "green" if rel.color == "blue" else "blue"
        if not self._replicas.get((name, other)):
            rel.settled = now

    def progress(self) -> dict[str, int]:
        """How many resources have their current template Stable, and settled."""
        rels = [self.releases.get((n, r)) for n, r in self.current.items()]
        return {"resources": len(self.current),
                "stable": sum(1 for r in rels if r is not None and r.stable is not None),
                "settled": sum(1 for r in rels if r is not None and r.settled is not None)}

    def current_releases(self) -> dict[str, dict[str, Any]]:
        return {n: dataclasses.asdict(self.releases[n, r]) for n, r in self.current.items()
                if (n, r) in self.releases}
