"""The rig of the crash and API-fault proofs (issue 8, proofs 1 and 2).

One :class:`ProcessRig` is a whole world of its own: an emulated API, the pod simulator, the
health servers, the invariant monitor, and the real operator as a child process
(``finnexus_kit.operator_process``: SIGKILL-able, forked from a zygote that has loaded every
module, so that a restart costs no Python start). Several rigs
run side by side in one test (threads), each on its own ports.

:class:`Writes` names each accepted write of the operator by what it does in the rollout
("health round 1", "Ingress routed", "rollback decided", ...), from the stored objects before
and after it; the crash proof kills the operator right after a named write, the fault proof
matches writes by kind.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finnexus_kit.apiserver import ApiServer
from finnexus_kit.kubeapi.hooks import Answer, Call
from finnexus_kit.operator_process import OperatorProcess
from tests.contract.cluster import Cluster, running_cluster
from tests.contract.invariants import InvariantMonitor

__all__ = ["OPERATOR", "ProcessRig", "Writes", "end_state", "is_operator", "kind_name", "settled"]

OPERATOR = "finnexus-operator/"
POLL = 0.2  # how often the scenarios look (many worlds side by side: keep it cheap)
ANALYSIS_OK = {"intervalSeconds": 1, "checks": 2, "metrics": [
    {"name": "error-rate", "query": "vector(0)", "max": 0.1}]}
ANALYSIS_BAD = {"intervalSeconds": 1, "checks": 2, "metrics": [
    {"name": "error-rate", "query": "vector(1)", "max": 0.1}]}
HEALTH = {"intervalSeconds": 1, "timeoutSeconds": 1, "successThreshold": 2,
          "failureThreshold": 2}
HEALTH_FAST = {**HEALTH, "successThreshold": 1}  # the setup's first revision: one round


def is_operator(call: Call) -> bool:
    return call.user_agent.startswith(OPERATOR)


def kind_name(call: Call) -> tuple[str, str | None, str | None]:
    """(plural, name, subresource) of a request path (name from the body for a create)."""
    seg = call.segments
    if "namespaces" in seg:
        rest = seg[seg.index("namespaces") + 2:]
    else:
        rest = seg[3:] if seg[0] == "apis" else seg[2:]
    plural = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else None
    if name is None and isinstance(call.body, dict):
        name = (call.body.get("metadata") or {}).get("name")
    return plural, name, rest[2] if len(rest) > 2 else None


def _color(obj: dict[str, Any] | None, kind: str, name: str) -> str | None:
    if obj is None:
        return None
    if kind == "services":
        return ((obj.get("spec") or {}).get("selector") or {}).get("finnexus.ai/color")
    try:
        target = obj["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    except (KeyError, IndexError, TypeError):
        return None
    return str(target).removeprefix(f"{name}-")


def _revision(dep: dict[str, Any] | None) -> str | None:
    if dep is None:
        return None
    tmpl = (dep.get("spec") or {}).get("template") or {}
    return ((tmpl.get("metadata") or {}).get("labels") or {}).get("finnexus.ai/revision")


class Writes:
    """Names the operator's accepted writes; ``tag`` (set by the scenario) prefixes them."""

    def __init__(self, name: str = "web") -> None:
        self.name = name
        self.tag = ""
        self.seen: list[tuple[float, str]] = []  # (monotonic time, label), in order
        self.deployments: dict[str, dict[str, Any] | None] = {}  # colour -> stored, at the write

    def label(self, call: Call, old: dict[str, Any] | None, new: dict[str, Any] | None,
              cr: dict[str, Any] | None) -> str | None:
        """What the write did (None: not a rollout write, e.g. an Event)."""
        plural, obj_name, sub = kind_name(call)
        status = (cr or {}).get("status") or {}
        name = self.name
        if plural == "events":
            return None
        if plural == "finnexusdeployments" and sub == "status":
            return _status_label((old or {}).get("status") or {}, (new or {}).get("status") or {})
        if plural == "finnexusdeployments":
            return "request cleared" if call.method == "PATCH" else "resource written"
        if plural == "controllerrevisions":
            return "revision recorded" if call.method == "POST" else "revision pruned"
        if plural in ("services", "ingresses"):
            what = "Service" if plural == "services" else "Ingress"
            if obj_name in (f"{name}-blue", f"{name}-green"):
                return "owned objects created" if old is None else "colour Service written"
            if obj_name == f"{name}-preview":
                if old is None:
                    return "preview created"
                return "rollback preview routed" if self._back(new, plural, status) \
                    else "preview routed"
            if old is None:
                return f"{what} created"
            if _color(old, plural, name) != _color(new, plural, name):
                return f"rollback {what} routed" if self._back(new, plural, status) \
                    else f"{what} routed"
            return f"{what} written"
        if plural == "deployments":
            color = (obj_name or "").removeprefix(f"{name}-")
            if old is None:
                return ("stable re-created" if _revision(new) == status.get("stableRevision")
                        else "candidate created")
            was = int((old.get("spec") or {}).get("replicas") or 0)
            now = int(((new or {}).get("spec") or {}).get("replicas") or 0)
            if was and not now:
                return ("candidate scaled down" if color == status.get("candidateColor")
                        else "old colour scaled down")
            if now and (not was or _revision(old) != _revision(new)):
                return "candidate scaled up"
            return "Deployment annotated"
        return f"{call.method} {plural}"

    def _back(self, new: dict[str, Any] | None, plural: str, status: dict[str, Any]) -> bool:
        """The route now points at the colour holding the stable revision (traffic moved
        away from the candidate: a rollback, whatever the status says about it)."""
        color = _color(new, plural, self.name)
        dep = self.deployments.get(color or "")
        return bool(status.get("stableRevision")) and _revision(dep) == status["stableRevision"]

    def note(self, label: str) -> str:
        tagged = f"{self.tag}: {label}" if self.tag else label
        self.seen.append((time.monotonic(), tagged))
        return tagged


def _status_label(old: dict[str, Any], new: dict[str, Any]) -> str:
    phase, was = new.get("phase"), old.get("phase")
    if phase != was and phase in ("RollingBack", "RolledBack", "Failed", "Stable",
                                  "Deploying", "AwaitingPromotion", "Analyzing", "Invalid"):
        return {"RollingBack": "rollback decided", "RolledBack": "rollback recorded",
                "Failed": "failure recorded", "Stable": "promotion recorded",
                "Deploying": "candidate recorded", "Invalid": "invalid recorded",
                "AwaitingPromotion": "awaiting promotion recorded",
                "Analyzing": "switch recorded"}[phase]
    old_round = (old.get("analysis") or {}).get("round")
    new_round = (new.get("analysis") or {}).get("round")
    if new_round != old_round and new_round:
        return f"analysis round {new_round}"
    hc_old, hc_new = old.get("healthCheck") or {}, new.get("healthCheck") or {}
    after = " after the checks" if phase in ("Analyzing", "AwaitingPromotion") else ""
    if hc_new.get("consecutiveFailures") != hc_old.get("consecutiveFailures") and (
            hc_new.get("consecutiveFailures")):
        return f"failed health round {hc_new['consecutiveFailures']}{after}"
    if hc_new.get("consecutiveSuccesses") != hc_old.get("consecutiveSuccesses") and (
            hc_new.get("consecutiveSuccesses")):
        return ("health round after the checks" if after
                else f"health round {hc_new['consecutiveSuccesses']}")
    if phase == "Stable" and old.get("scaleDown") and not new.get("scaleDown"):
        return "scale-down recorded"
    return f"{phase} status updated"


class WriteHook:
    """An emulator hook that names every accepted operator write (``writes``) and hands it to
    ``on_write(label)`` -- in the emulator's loop, before the answer is sent."""

    def __init__(self, api: ApiServer, writes: Writes,
                 on_write: Callable[[str, Call], None] | None = None) -> None:
        self.api, self.writes, self.on_write = api, writes, on_write
        self._old: dict[int, dict[str, Any] | None] = {}

    def _cr(self) -> dict[str, Any] | None:
        emulator = self.api.emulator
        assert emulator is not None
        return emulator.object_at(f"/apis/finnexus.ai/v1alpha1/namespaces/default/"
                                  f"finnexusdeployments/{self.writes.name}")

    def _object(self, call: Call) -> dict[str, Any] | None:
        emulator = self.api.emulator
        assert emulator is not None
        _, name, _ = kind_name(call)
        return emulator.object_at(call.path, name)

    def before(self, call: Call) -> Answer:
        if call.write and is_operator(call):
            self._old[id(call)] = self._object(call)
        return None

    def after(self, call: Call, status: int) -> None:
        if not (call.write and is_operator(call)):
            return
        old = self._old.pop(id(call), None)
        if status >= 300:
            return
        emulator = self.api.emulator
        assert emulator is not None
        self.writes.deployments = {c: emulator.object_at(
            f"/apis/apps/v1/namespaces/default/deployments/{self.writes.name}-{c}")
            for c in ("blue", "green")}
        label = self.writes.label(call, old, self._object(call), self._cr())
        if label is None:
            return
        tagged = self.writes.note(label)
        if self.on_write is not None:
            self.on_write(tagged, call)


@dataclass
class ProcessRig:
    """One world: API, pods, health servers, monitor, the operator process."""

    api: ApiServer
    cluster: Cluster
    process: OperatorProcess
    monitor: InvariantMonitor
    writes: Writes
    workdir: Path
    restarts: list[float] = field(default_factory=list)

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / "operator.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def process_rig(workdir: Path, prometheus_url: str | None,
                on_write: Callable[[ProcessRig, str, Call], None] | None = None,
                *, monitor_options: dict[str, Any] | None = None,
                extra_hooks: tuple[Any, ...] = ()) -> Iterator[ProcessRig]:
    """A rig whose operator process is started last (after the monitor and the hooks)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        api = stack.enter_context(ApiServer())
        kubeconfig = api.write_kubeconfig(workdir / "kubeconfig")
        process = OperatorProcess(kubeconfig, workdir / "operator.log",
                                  prometheus_url=prometheus_url)
        monitor = InvariantMonitor(api, **(monitor_options or {})).start()
        stack.callback(monitor.stop)
        writes = Writes()
        holder: list[ProcessRig] = []
        hook = WriteHook(api, writes, None if on_write is None else (
            lambda label, call: on_write(holder[0], label, call)))
        for extra in extra_hooks:
            api.add_hook(extra)
        api.add_hook(hook)
        cluster = stack.enter_context(running_cluster(api, kubeconfig, process=process,
                                                      pod_interval=0.1))
        rig = ProcessRig(api, cluster, process, monitor, writes, workdir)
        holder.append(rig)
        yield rig


def end_state(cluster: Cluster, name: str = "web") -> dict[str, Any]:
    """What a finished release must agree on, crash or none (colours, not object names, so
    that two resources of different names compare)."""
    st = cluster.status(name)
    ingress = cluster.ingress_backend(name)
    return {
        "phase": st.get("phase"), "stableRevision": st.get("stableRevision"),
        "rejectedRevision": st.get("rejectedRevision"), "activeColor": st.get("activeColor"),
        "candidateColor": st.get("candidateColor"),
        "service": cluster.service_color(name),
        "preview": cluster.service_color(f"{name}-preview"),
        "ingress": ingress.removeprefix(f"{name}-") if ingress else None,
        "replicas": {c: cluster.replicas(f"{name}-{c}") for c in ("blue", "green")},
        "history": [(h["revision"], h["result"], _portless(h["reason"]))
                    for h in st.get("history") or []],
    }


def _portless(reason: str) -> str:
    """A reason with what differs between two worlds (health server ports, pod serials and
    which pod failed first) taken out."""
    reason = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", reason)
    return re.sub(r"pod (\S+)-[0-9a-f]{10}-\d+", r"pod \1-HASH-N", reason)


def settled(cluster: Cluster, name: str = "web") -> bool:
    """The release is over: a final phase, no candidate, no pending scale-down, the colour
    without traffic at 0 replicas."""
    st = cluster.status(name)
    if st.get("phase") not in ("Stable", "RolledBack", "Failed") or st.get("candidateColor") \
            or st.get("scaleDown"):
        return False
    idle = {"blue": "green", "green": "blue"}.get(st.get("activeColor") or "")
    return idle is None or not cluster.replicas(f"{name}-{idle}")


def promote_lost() -> Callable[[dict[str, Any]], str | None]:
    """A ``stuck`` check: the promote request is gone (handled) and the candidate still waits
    in AwaitingPromotion for one, for 4 s: the promote was lost."""
    seen: list[float] = []

    def stuck(cr: dict[str, Any]) -> str | None:
        st = cr.get("status") or {}
        pending = "finnexus.ai/request" in (cr["metadata"].get("annotations") or {})
        if st.get("phase") != "AwaitingPromotion" or pending:
            seen.clear()
            return None
        seen.append(time.monotonic())
        if seen[-1] - seen[0] > 4.0:
            return (f"promote lost: the request annotation is gone and the candidate still "
                    f"waits for one: {st.get('message')}")
        return None
    return stuck


def wait_settled(rig: ProcessRig, name: str = "web", timeout: float = 25.0,
                 check: Callable[[dict[str, Any]], bool] | None = None,
                 stuck: Callable[[dict[str, Any]], str | None] | None = None
                 ) -> dict[str, Any]:
    """The end state once the release is over (and ``check`` holds on the status); fails
    early when ``stuck`` says why it never will be."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        why = stuck(rig.cluster.cr(name)) if stuck is not None else None
        if why is not None:
            raise AssertionError(why)
        if settled(rig.cluster, name) and (check is None or check(rig.cluster.status(name))):
            time.sleep(0.3)  # a pass in flight ends
            if settled(rig.cluster, name):
                return end_state(rig.cluster, name)
        time.sleep(POLL)
    raise AssertionError(f"{name} never settled: {end_state(rig.cluster, name)}\n"
                         f"{rig.log_tail()}")
