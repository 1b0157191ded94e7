"""The invariant monitor (issue 8, proof 5): DESIGN §2.1 rule 1 and friends, checked against
every state the emulated API goes through while a scenario runs.

The monitor lives inside the emulator's event loop: it keeps a mirror of the objects that
matter (FinNexusDeployments, Deployments, ReplicaSets, pods, Services, Ingresses), updated by
the store's change listener, so it sees *every* intermediate state (no change can slip between
two samples), and it knows who made each change (the request's User-Agent). A ticker also
re-checks every 50 ms for the rules that are about time. Every check is a *sample*.

Rules, per FinNexusDeployment ``N`` (only objects it owns are judged: a foreign Ingress of its
name is someone else's):

- ``unverified-switch``: the operator moves production traffic (the selector colour of the
  active Service ``N``, the backend ``N-<colour>`` of the Ingress ``N``) to a colour whose
  Deployment holds a revision that never passed health checks: neither a revision that was
  ever ``stableRevision`` nor the candidate whose stored streak is one round short of
  ``successThreshold`` or more (the switching pass takes that last round; its status write
  comes after the routes). When the status cannot say so at the move (its writes are
  failing: the operator carries the decided status in memory meanwhile), the revision must
  be recorded as having passed its checks within ``verify_grace`` seconds;
- ``unready-switch``: ... or to a colour without Ready pods of the revision it holds (a
  candidate needs all ``replicas`` Ready, a return to the stable colour at least one);
- ``rejected-switch``: ... or to a colour holding a revision rejected by a rollback
  (``rejectedRevision`` while ``RollingBack``/``RolledBack``), until that revision is tried
  again (a retry or a new template);
- ``scaled-under-traffic``: the operator scales the colour that has traffic to 0 (or deletes
  it); ``stable-scaled-down``: it scales the stable colour (the one traffic can return to) to
  0 while a candidate is in progress;
- ``uncorrected-drift`` (time): a route differs from ``status.activeColor``, or the colour with
  traffic is at 0 replicas, for more than ``drift_grace`` seconds -- a hand edit the operator
  corrects at once is fine; ``rollback-stuck`` (time): traffic still on a rejected revision
  ``rollback_grace`` seconds after the decision while the stable colour serves.

``assert monitor.breaches == []`` at the end; each breach has its time, rule, resource, detail
and a snapshot of what the monitor saw.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from finnexus_kit.apiserver import ApiServer
from finnexus_kit.kubeapi.hooks import Call
from finnexus_kit.kubeapi.resources import RESOURCES
from finnexus_kit.kubeapi.store import Route, WatchEvent

__all__ = ["Breach", "InvariantMonitor", "watching"]

OPERATOR_AGENTS = ("finnexus-operator/", "kopf/")
COLOR_LABEL = "finnexus.ai/color"
REVISION_LABEL = "finnexus.ai/revision"
CR_KIND = "FinNexusDeployment"
KINDS = (CR_KIND, "Deployment", "ReplicaSet", "Pod", "Service", "Ingress")
COLORS = ("blue", "green")
REJECTING = ("RollingBack", "RolledBack")
Key = tuple[str, str]  # namespace, name


@dataclasses.dataclass(frozen=True)
class Breach:
    at: float  # seconds since the monitor started
    rule: str
    resource: str
    detail: str
    snapshot: dict[str, Any]

    def __str__(self) -> str:
        return f"[{self.at:7.3f}s] {self.rule} {self.resource}: {self.detail}"


@dataclasses.dataclass
class _Track:
    """What the monitor remembers about one FinNexusDeployment."""

    routes: dict[str, str | None] = dataclasses.field(default_factory=dict)
    verified: set[str] = dataclasses.field(default_factory=set)  # ever stableRevision
    rejected: dict[str, float] = dataclasses.field(default_factory=dict)  # rev -> decided at
    drift_since: dict[str, float] = dataclasses.field(default_factory=dict)
    pending: dict[str, tuple[float, str]] = dataclasses.field(default_factory=dict)
    reported: set[str] = dataclasses.field(default_factory=set)  # time rules: once each


class InvariantMonitor:
    """``with InvariantMonitor(api) as monitor: ...``; then ``monitor.breaches``."""

    def __init__(self, api: ApiServer, *, period: float = 0.05, drift_grace: float = 2.0,
                 rollback_grace: float = 3.0, verify_grace: float = 10.0) -> None:
        self.api, self.period = api, period
        self.drift_grace, self.rollback_grace = drift_grace, rollback_grace
        self.verify_grace = verify_grace
        self.breaches: list[Breach] = []
        self.samples = 0
        self.moves: dict[str, int] = {}  # "ns/name" -> route changes (Service, Ingress) seen
        self.errors: list[str] = []  # the monitor's own failures (never silent)
        self._objects: dict[str, dict[Key, dict[str, Any]]] = {k: {} for k in KINDS}
        self._tracks: dict[Key, _Track] = {}
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: Any = None  # the emulator (its .current is the request changing)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> InvariantMonitor:
        self._started = time.monotonic()
        self.api.in_loop(self._install)
        self._thread = threading.Thread(target=self._tick, name="invariants", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            self.api.in_loop(self._uninstall)
            self.api.in_loop(lambda: self._check(None, final=True))  # a last look
        except RuntimeError:
            pass  # the server is gone already

    def __enter__(self) -> InvariantMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def summary(self) -> str:
        return f"invariant samples: {self.samples}, breaches: {len(self.breaches)}"

    def _install(self) -> None:
        emulator = self.api.emulator
        assert emulator is not None
        self._current = emulator
        store = emulator.store
        for rtype in RESOURCES:
            if rtype.kind in KINDS and rtype.api_version != "events.k8s.io/v1":
                for obj in store.list(Route(rtype, None, None, None), {})["items"]:
                    self._objects[rtype.kind][_key(obj)] = obj
        store.listeners.append(self._on_change)
        self._check(None)

    def _uninstall(self) -> None:
        emulator = self.api.emulator
        if emulator is not None and self._on_change in emulator.store.listeners:
            emulator.store.listeners.remove(self._on_change)

    def _tick(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.api.in_loop(lambda: self._check(None), timeout=5)
            except Exception as exc:  # the server stopped under us: that is the end
                if not self._stop.is_set():
                    self.errors.append(f"tick: {exc!r}")
                return

    # -- the mirror --------------------------------------------------------------------------
    def _on_change(self, event: WatchEvent) -> None:
        kind = event.rtype.kind
        if kind not in self._objects or event.rtype.api_version == "events.k8s.io/v1":
            return
        try:
            if event.type == "DELETED":
                self._objects[kind].pop(_key(event.obj), None)
            else:
                self._objects[kind][_key(event.obj)] = event.obj
            call: Call | None = getattr(self._current, "current", None)
            self._check((kind, event, call))
        except Exception as exc:  # never break the emulator's request
            self.errors.append(f"{kind} {event.type}: {exc!r}")

    # -- the rules ---------------------------------------------------------------------------
    def _check(self, change: tuple[str, WatchEvent, Call | None] | None, *,
               final: bool = False) -> None:
        self.samples += 1
        now = time.monotonic()
        for key, cr in list(self._objects[CR_KIND].items()):
            if (cr.get("metadata") or {}).get("deletionTimestamp"):
                continue
            self._check_one(key, cr, change, now, final)

    def _check_one(self, key: Key, cr: dict[str, Any], change: tuple[str, WatchEvent,
                   Call | None] | None, now: float, final: bool = False) -> None:
        ns, name = key
        track = self._tracks.setdefault(key, _Track())
        status = cr.get("status") or {}
        spec = cr.get("spec") or {}
        uid = cr["metadata"].get("uid")
        phase, stable = status.get("phase"), status.get("stableRevision")
        for rev in (stable, status.get("previousStableRevision")):
            if rev:
                track.verified.add(rev)
        rejected = status.get("rejectedRevision")
        if rejected and phase in REJECTING:
            track.rejected.setdefault(rejected, now)
        cand_rev = status.get("candidateRevision")
        if cand_rev in track.rejected and phase in ("Deploying", "Verifying"):
            del track.rejected[cand_rev]  # tried again (retry, or the template came back)
        by_operator = change is not None and change[2] is not None and (
            change[2].user_agent.startswith(OPERATOR_AGENTS))
        changed = change[1].obj if change is not None else None
        changed_name = (changed or {}).get("metadata", {}).get("name")
        routes = self._routes(ns, name, uid)
        replicas = int(spec.get("replicas") or 1)
        threshold = int((spec.get("healthCheck") or {}).get("successThreshold") or 3)

        def breach(rule: str, detail: str) -> None:
            self.breaches.append(Breach(round(now - self._started, 3), rule, f"{ns}/{name}",
                                        detail, self._snapshot(ns, name, cr, routes)))

        for route, color in routes.items():
            before = track.routes.get(route)
            track.routes[route] = color
            if color is None or color == before:
                continue
            if before is not None:
                self.moves[f"{ns}/{name}"] = self.moves.get(f"{ns}/{name}", 0) + 1
            if not (by_operator and change is not None and change[0] in ("Service", "Ingress")
                    and changed_name == name):
                continue  # moved by someone else: judged as drift, below
            served = self._serving(ns, name, color)
            rev = served["revision"]
            candidate = color == status.get("candidateColor") and phase not in REJECTING
            need = replicas if candidate else 1
            if rev in track.rejected:
                breach("rejected-switch", f"{route} moved to {color} holding {rev}, rejected "
                       f"{now - track.rejected[rev]:.2f}s ago")
            elif not (rev in track.verified or (
                    candidate and rev == cand_rev and phase in (
                        "Deploying", "Verifying", "AwaitingPromotion", "Analyzing")
                    and int((status.get("healthCheck") or {}).get("consecutiveSuccesses")
                            or 0) >= threshold - 1)) and rev not in track.pending:
                track.pending[rev] = (now, (
                    f"{route} moved to {color} ({rev}): not a stable revision, and the "
                    f"status did not say its checks had passed (phase {phase}, healthCheck "
                    f"{status.get('healthCheck')})"))
            if served["ready"] < need or not served["replicas"]:
                breach("unready-switch", f"{route} moved to {color} ({rev}) with "
                       f"{served['ready']}/{need} Ready pods, {served['replicas']} replicas")
        if change is not None and by_operator and change[0] == "Deployment":
            old, new = change[1].old, change[1].obj
            color = (changed_name or "").removeprefix(f"{name}-")
            if changed_name == f"{name}-{color}" and color in COLORS:
                was = int(((old or {}).get("spec") or {}).get("replicas") or 0)
                gone = change[1].type == "DELETED" or not int(new["spec"].get("replicas") or 0)
                if gone and (was or change[1].type == "DELETED"):
                    if color in routes.values():
                        breach("scaled-under-traffic", f"{changed_name} scaled to 0 while "
                               f"routes {routes} send traffic to it")
                    stable_color = next((c for c in COLORS if c != status.get(
                        "candidateColor")), None) if status.get("candidateColor") else None
                    if stable and stable_color == color:
                        breach("stable-scaled-down", f"{changed_name} (stable {stable}) scaled "
                               f"to 0 while {status.get('candidateRevision')} is {phase}")
        # time rules
        hc = status.get("healthCheck") or {}
        for rev, (moved, detail) in list(track.pending.items()):
            if rev in track.verified or (rev == cand_rev and (
                    phase in ("AwaitingPromotion", "Analyzing")
                    or int(hc.get("consecutiveSuccesses") or 0) >= threshold)):
                del track.pending[rev]  # recorded as verified after all
            elif final or now - moved > self.verify_grace:
                del track.pending[rev]
                breach("unverified-switch", f"{detail}; not recorded as having passed its "
                       f"checks {now - moved:.2f}s later")
        active = status.get("activeColor")
        for route, color in routes.items():
            bad = None
            if active and color and color != active:
                bad = f"{route} on {color}, status.activeColor {active}"
            elif color and not self._serving(ns, name, color)["replicas"]:
                bad = f"{route} on {color}, which has 0 replicas"
            since = track.drift_since.get(route)
            if bad is None:
                track.drift_since.pop(route, None)
            elif since is None:
                track.drift_since[route] = now
            elif now - since > self.drift_grace and f"drift:{route}" not in track.reported:
                track.reported.add(f"drift:{route}")
                breach("uncorrected-drift", f"{bad} for {now - since:.2f}s")
        for rev, decided in track.rejected.items():
            stuck = [c for c in set(routes.values()) if c and (
                self._serving(ns, name, c)["revision"] == rev)]
            stable_color = next((c for c in COLORS if self._serving(ns, name, c)["revision"]
                                 == stable and self._serving(ns, name, c)["ready"]), None)
            if stuck and stable_color and now - decided > self.rollback_grace and (
                    f"stuck:{rev}" not in track.reported):
                track.reported.add(f"stuck:{rev}")
                breach("rollback-stuck", f"traffic still on {stuck} ({rev}) "
                       f"{now - decided:.2f}s after the rollback decision; {stable_color} "
                       f"({stable}) serves")

    def _owned(self, obj: dict[str, Any] | None, uid: str | None) -> bool:
        return obj is not None and any(
            ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])

    def _routes(self, ns: str, name: str, uid: str | None) -> dict[str, str | None]:
        routes: dict[str, str | None] = {}
        svc = self._objects["Service"].get((ns, name))
        if self._owned(svc, uid):
            assert svc is not None
            routes["service"] = ((svc.get("spec") or {}).get("selector") or {}).get(COLOR_LABEL)
        ing = self._objects["Ingress"].get((ns, name))
        if self._owned(ing, uid):
            assert ing is not None
            try:
                backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]
                target = str(backend["service"]["name"])
            except (KeyError, IndexError, TypeError):
                target = ""
            color = target.removeprefix(f"{name}-")
            routes["ingress"] = color if target == f"{name}-{color}" and (
                color in COLORS) else None
        return routes

    def _serving(self, ns: str, name: str, color: str) -> dict[str, Any]:
        """What colour ``color`` of ``name`` serves: its revision, replicas, Ready pods of it
        (owned through a ReplicaSet the Deployment owns: §2.1 rule 4)."""
        dep = self._objects["Deployment"].get((ns, f"{name}-{color}"))
        if dep is None:
            return {"revision": None, "replicas": 0, "ready": 0}
        labels = ((dep["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        rev = labels.get(REVISION_LABEL)
        rs_uids = {rs["metadata"]["uid"] for (rns, _), rs in self._objects["ReplicaSet"].items()
                   if rns == ns and _owned_by(rs, dep["metadata"]["uid"])}
        ready = sum(1 for (pns, _), pod in self._objects["Pod"].items()
                    if pns == ns and any(_owned_by(pod, u) for u in rs_uids)
                    and (pod["metadata"].get("labels") or {}).get(REVISION_LABEL) == rev
                    and _ready(pod))
        return {"revision": rev, "replicas": int(dep["spec"].get("replicas") or 0),
                "ready": ready}

    def _snapshot(self, ns: str, name: str, cr: dict[str, Any],
                  routes: dict[str, str | None]) -> dict[str, Any]:
        status = cr.get("status") or {}
        return {
            "routes": dict(routes),
            "colors": {c: self._serving(ns, name, c) for c in COLORS},
            "status": {k: status.get(k) for k in (
                "phase", "message", "activeColor", "stableRevision", "candidateColor",
                "candidateRevision", "rejectedRevision", "healthCheck")},
        }


def _key(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


@contextmanager
def watching(api: ApiServer, **options: Any) -> Iterator[InvariantMonitor]:
    """Run a monitor around a block; on a clean exit, assert it saw no breach."""
    monitor = InvariantMonitor(api, **options).start()
    try:
        yield monitor
    finally:
        monitor.stop()
    assert not monitor.errors, monitor.errors
    assert monitor.breaches == [], "\n".join(str(b) for b in monitor.breaches)

