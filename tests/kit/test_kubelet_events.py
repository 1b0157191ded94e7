"""The pod simulator is event-driven: it follows the store's change feed, reconciles only the
Deployments a change concerns, never relists, and marks pods Ready after ``ready_delay``."""

from __future__ import annotations

import time
from typing import Any

from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_kit.kubelet import USER_AGENT, PodSimulator
from finnexus_kit.podcache import ready
from tests.helpers import wait_until
from tests.kit.test_kubelet import DEPLOYMENTS, NS, PODS, REPLICASETS, deployment


def named(name: str, image: str = "app:v1", replicas: int = 1) -> dict[str, Any]:
    body = deployment(image, replicas)
    body["metadata"]["name"] = name
    return body


def ready_pods(api: ApiServer, prefix: str = "") -> list[dict[str, Any]]:
    return [p for p in api.list(PODS) if ready(p) and p["metadata"]["name"].startswith(prefix)]


def simulator_requests(api: ApiServer, start: int = 0) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _, agent, _ in api.requests.entries(start) if agent == USER_AGENT]


def test_pods_follow_changes_without_a_single_read(apiserver: ApiServer) -> None:
    with PodSimulator(apiserver, NS, endpoint=lambda dep: 9999, interval=60):
        apiserver.create(DEPLOYMENTS, named("web", replicas=2))
        wait_until(lambda: len(ready_pods(apiserver)) == 2, timeout=5, message="2 Ready pods")
        (victim, _) = apiserver.list(PODS)
        apiserver.delete(f"{PODS}/{victim['metadata']['name']}")  # kubelet loses a pod
        wait_until(lambda: len(ready_pods(apiserver)) == 2
                   and victim["metadata"]["name"] not in {
                       p["metadata"]["name"] for p in apiserver.list(PODS)},
                   timeout=5, message="the lost pod replaced")
        apiserver.patch(f"{DEPLOYMENTS}/web", {"spec": {"replicas": 1}})
        wait_until(lambda: len(apiserver.list(PODS)) == 1, timeout=5, message="scaled to 1")
        apiserver.delete(f"{DEPLOYMENTS}/web")  # the garbage collector
        wait_until(lambda: not apiserver.list(REPLICASETS) and not apiserver.list(PODS),
                   timeout=5, message="children collected")
    seen = simulator_requests(apiserver)
    assert seen and all(method != "GET" for method, _ in seen), seen  # no list, no get


def test_one_change_among_many_idle_deployments_is_the_only_one_looked_at(
        apiserver: ApiServer) -> None:
    for i in range(40):
        apiserver.create(DEPLOYMENTS, named(f"idle-{i}"))
    with PodSimulator(apiserver, NS, endpoint=lambda dep: 9999, interval=60) as sim:
        wait_until(lambda: len(ready_pods(apiserver)) == 40, timeout=20, message="40 Ready")
        time.sleep(0.2)  # the echoes of the last writes are looked at
        before, start = sim.reconciles, apiserver.requests.total
        apiserver.patch(f"{DEPLOYMENTS}/idle-7", {"spec": deployment("app:v2", 1)["spec"]})
        wait_until(lambda: len(ready_pods(apiserver, "idle-7-")) == 1
                   and len([p for p in apiserver.list(PODS)
                            if p["metadata"]["name"].startswith("idle-7-")]) == 1,
                   timeout=5, message="idle-7 rolled to its new template")
        time.sleep(0.2)
        # idle-7 and the echoes of its own writes: a handful of looks, not 40 per change
        assert sim.reconciles - before <= 12, sim.reconciles - before
        writes = simulator_requests(apiserver, start)
        assert writes and all("idle-7" in path or path in (PODS, REPLICASETS) for _, path in writes)
        assert not sim.errors, sim.errors


def test_pods_become_ready_after_the_delay_and_the_time_is_kept(apiserver: ApiServer) -> None:
    with PodSimulator(apiserver, NS, endpoint=lambda dep: 9999, ready_delay=0.6) as sim:
        created = time.monotonic()
        apiserver.create(DEPLOYMENTS, named("slow"))
        wait_until(lambda: apiserver.list(PODS), timeout=5, message="a pod")
        assert not ready_pods(apiserver)  # created, not Ready yet
        (pod,) = wait_until(lambda: ready_pods(apiserver), timeout=5,  # type: ignore[misc]
                            message="Ready after the delay")
        at = sim.cache.ready_times[NS, pod["metadata"]["name"]]
        assert at - created >= 0.6


def test_a_deployment_waiting_for_its_endpoint_is_looked_at_again(apiserver: ApiServer) -> None:
    port: list[int] = []
    with PodSimulator(apiserver, NS, endpoint=lambda dep: port[0] if port else None,
                      interval=0.05):
        apiserver.create(DEPLOYMENTS, named("late"))
        wait_until(lambda: apiserver.list(PODS), timeout=5, message="a pending pod")
        time.sleep(0.2)
        assert not ready_pods(apiserver)
        port.append(4321)  # its process listens now: no API event says so
        (pod,) = wait_until(lambda: ready_pods(apiserver), timeout=5,  # type: ignore[misc]
                            message="Ready once the endpoint answered")
        assert pod["spec"]["containers"][0]["ports"][0]["containerPort"] == 4321


def test_every_namespace_when_asked() -> None:
    with ApiServer(("a", "b")) as api, PodSimulator(api, None, endpoint=lambda dep: 1):
        for ns in ("a", "b"):
            body = named("web")
            api.create(path_for("apps/v1", "deployments", ns), body)
        wait_until(lambda: all(ready(p) for ns in ("a", "b")
                               for p in api.list(path_for("v1", "pods", ns)))
                   and len(api.list(path_for("v1", "pods", None))) == 2, timeout=5,
                   message="a Ready pod in each namespace")
