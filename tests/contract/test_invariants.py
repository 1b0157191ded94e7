"""The invariant monitor catches what it claims to (and leaves alone what it should).

No operator runs here: the test writes the objects itself, as the operator would (with the
operator's User-Agent) or as a person would (its own), against a pod simulator, and checks
which breaches the monitor reports.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_kit.kubelet import PodSimulator
from finnexus_operator.adapters.kube import USER_AGENT
from tests.contract.cluster import CR_API, CR_PLURAL, NS, resource
from tests.contract.invariants import InvariantMonitor
from tests.helpers import wait_until

DEPLOYMENTS = path_for("apps/v1", "deployments", NS)
SERVICES = path_for("v1", "services", NS)
CR = path_for(CR_API, CR_PLURAL, NS, "web")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def write(api: ApiServer, method: str, path: str, body: Any, *, agent: str = USER_AGENT) -> None:
    """A write with ``agent`` as User-Agent (the operator's by default)."""
    request = urllib.request.Request(
        api.url + path, method=method, data=json.dumps(body).encode(),
        headers={"Content-Type": "application/merge-patch+json" if method == "PATCH"
                 else "application/json", "User-Agent": agent})
    with _OPENER.open(request, timeout=10):
        pass


def deployment(owner: dict[str, Any], color: str, rev: str, replicas: int) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "web", "finnexus.ai/color": color}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"web-{color}", "namespace": NS, "ownerReferences": [owner]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": {**labels,
                                                          "finnexus.ai/revision": rev}},
                                  "spec": {"containers": [{"name": "web", "image": "x"}]}}}}


@pytest.fixture()
def world(apiserver: ApiServer) -> Iterator[tuple[ApiServer, InvariantMonitor]]:
    """web: stable r1 on blue (Ready), candidate r2 on green (Ready unless its image says
    ``never``), the active Service on blue; a monitor with short graces."""
    api = apiserver
    api.create(path_for(CR_API, CR_PLURAL, NS), resource())
    uid = api.get(CR)["metadata"]["uid"]  # type: ignore[index]
    owner = {"apiVersion": CR_API, "kind": "FinNexusDeployment", "name": "web", "uid": uid,
             "controller": True}
    api.patch(f"{CR}/status", {"status": {
        "phase": "Verifying", "activeColor": "blue", "stableRevision": "r1",
        "candidateColor": "green", "candidateRevision": "r2",
        "healthCheck": {"consecutiveSuccesses": 1}}})
    api.create(DEPLOYMENTS, deployment(owner, "blue", "r1", 2))
    api.create(DEPLOYMENTS, deployment(owner, "green", "r2", 2))
    api.create(SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "web", "namespace": NS, "ownerReferences": [owner]},
        "spec": {"selector": {"app.kubernetes.io/name": "web", "finnexus.ai/color": "blue"}}})
    simulator = PodSimulator(api, NS, endpoint=lambda dep: None if dep["spec"]["template"][
        "spec"]["containers"][0]["image"] == "never" else 1, interval=0.02).start()
    wait_until(lambda: len([p for p in api.list(path_for("v1", "pods", NS))
                            if p.get("status", {}).get("conditions")]) == 4,
               message="4 Ready pods")
    monitor = InvariantMonitor(api, drift_grace=0.3, rollback_grace=0.3,
                               verify_grace=0.3).start()
    try:
        yield api, monitor
    finally:
        monitor.stop()
        simulator.stop()
    print(monitor.summary(), [b.rule for b in monitor.breaches])
    assert not monitor.errors, monitor.errors


def route(api: ApiServer, color: str, **kwargs: Any) -> None:
    write(api, "PATCH", f"{SERVICES}/web", {"spec": {"selector": {
        "app.kubernetes.io/name": "web", "finnexus.ai/color": color}}}, **kwargs)


def rules(monitor: InvariantMonitor) -> list[str]:
    time.sleep(0.1)
    return sorted({b.rule for b in monitor.breaches})


def test_a_switch_to_the_verified_ready_candidate_is_fine(
        world: tuple[ApiServer, InvariantMonitor]) -> None:
    api, monitor = world
    route(api, "green")  # a streak one round short: the switching pass takes the last round
    api.patch(f"{CR}/status", {"status": {"phase": "Analyzing", "activeColor": "green"}})
    route(api, "blue")  # and back to the stable colour
    api.patch(f"{CR}/status", {"status": {"phase": "RollingBack", "rejectedRevision": "r2",
                                          "activeColor": "blue"}})
    assert rules(monitor) == []
    assert monitor.samples > 5


def test_a_switch_before_the_checks_passed_is_a_breach(
        world: tuple[ApiServer, InvariantMonitor]) -> None:
    api, monitor = world
    api.patch(f"{CR}/status", {"status": {"healthCheck": {"consecutiveSuccesses": 0}}})
    route(api, "green")
    api.patch(f"{CR}/status", {"status": {"activeColor": "green"}})
    assert rules(monitor) == []  # the status may still catch up (its writes failing)...
    time.sleep(0.4)
    assert rules(monitor) == ["unverified-switch"]  # ...but it never said so


def test_a_switch_recorded_as_verified_soon_after_is_fine(
        world: tuple[ApiServer, InvariantMonitor]) -> None:
    api, monitor = world
    api.patch(f"{CR}/status", {"status": {"healthCheck": {"consecutiveSuccesses": 0}}})
    route(api, "green")  # the status writes fail for a while; the decided status is in memory
    time.sleep(0.1)
    api.patch(f"{CR}/status", {"status": {"phase": "Analyzing", "activeColor": "green",
                                          "healthCheck": {"consecutiveSuccesses": 2}}})
    time.sleep(0.4)
    assert rules(monitor) == []


def test_a_switch_to_a_colour_without_ready_pods_is_a_breach(
        world: tuple[ApiServer, InvariantMonitor]) -> None:
    api, monitor = world
    api.patch(f"{DEPLOYMENTS}/web-green", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "never"}]}}}})
    wait_until(lambda: monitor.api.in_loop(lambda: monitor._serving(NS, "web", "green"))[
        "ready"] == 0, message="green unready")
    route(api, "green")
    api.patch(f"{CR}/status", {"status": {"activeColor": "green"}})
    assert rules(monitor) == ["unready-switch"]


def test_traffic_back_on_a_rejected_revision_is_a_breach(
        world: tuple[ApiServer, InvariantMonitor]) -> None:
    api, monitor = world
    route(api, "green")
    api.patch(f"{CR}/status", {"status": {"phase": "RollingBack", "rejectedRevision": "r2"}})
    route(api, "blue")
    api.patch(f"{CR}/status", {"status": {"activeColor": "blue"}})
    route(api, "green")  # back to the rejected revision
    api.patch(f"{CR}/status", {"status": {"activeColor": "green"}})
    assert rules(monitor) == ["rejected-switch"]


def test_a_rollback_that_never_routes_back_is_a_breach(
        world: tuple[ApiServer, InvariantMonitor]) -> None:
    api, monitor = world
    route(api, "green")
    api.patch(f"{CR}/status", {"status": {"phase": "RollingBack", "rejectedRevision": "r2",
                                          "activeColor": "green"}})
    time.sleep(0.6)
    assert rules(monitor) == ["rollback-stuck"]


def test_scaling_down_the_colour_with_traffic_or_the_stable_one_is_a_breach(
        world: tuple[ApiServer, InvariantMonitor]) -> None:
    api, monitor = world
    write(api, "PATCH", f"{DEPLOYMENTS}/web-blue", {"spec": {"replicas": 0}})
    assert rules(monitor) == ["scaled-under-traffic", "stable-scaled-down"]


def test_a_hand_edit_is_drift_only_when_it_stays(
        world: tuple[ApiServer, InvariantMonitor]) -> None:
    api, monitor = world
    route(api, "green", agent="kubectl/v1.31")  # someone else's edit: not a switch...
    route(api, "blue")  # ...corrected at once: fine
    assert rules(monitor) == []
    route(api, "green", agent="kubectl/v1.31")
    time.sleep(0.6)  # left alone past the grace
    assert rules(monitor) == ["uncorrected-drift"]
