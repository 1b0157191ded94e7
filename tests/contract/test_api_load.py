"""API load (issue 9): a release makes no reads and stays within 1.5x the minimum writes
(README, "API load"), an idle resource costs no request, and a pod becoming Ready advances
the rollout on its watch event, not on a timer. Figures print with ``-s``."""

from __future__ import annotations

import collections
import time

from finnexus_operator.adapters.kube import USER_AGENT
from tests.contract.cluster import NS, Cluster, resource
from tests.helpers import wait_until

# The fewest API writes one release V1 -> V2 needs here (replicas 1, an Ingress, no analysis,
# automatic promotion, successThreshold 1), derived in the README's "API load" paragraph:
# candidate Deployment, preview Service, status Deploying, Ingress, active Service,
# ControllerRevision, status Stable, old colour scaled down, status after the scale-down,
# and three Events a person reads (the new revision, the switch, the promotion).
MINIMUM_WRITES = 12
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def spec() -> dict[str, object]:
    return dict(replicas=1, healthCheck={"intervalSeconds": 1, "timeoutSeconds": 1,
                                         "successThreshold": 1, "failureThreshold": 2},
                promotion={"auto": True, "scaleDownDelaySeconds": 1})


def ours_since(cluster: Cluster, since: float, agents: tuple[str, ...] = ("kopf/", USER_AGENT)
               ) -> list[tuple[str, str, dict[str, str]]]:
    return [r for agent in agents for t, r in cluster.api.requests.timed(agent) if t >= since]


def settle(cluster: Cluster, seconds: float = 1.0) -> None:
    def quiet() -> bool:
        times = [t for a in ("kopf/", USER_AGENT) for t, _ in cluster.api.requests.timed(a)]
        return time.monotonic() - max(times, default=0.0) >= seconds
    wait_until(quiet, timeout=20, interval=0.1, message="the operator settled")


def label(method: str, path: str) -> str:
    parts = path.strip("/").split("/")
    rest = parts[parts.index("namespaces") + 2:] if "namespaces" in parts else parts[-1:]
    return f"{method} {rest[0]}{'/status' if rest[-1] == 'status' else ''}"


def test_a_release_reads_nothing_and_stays_within_1_5x_the_minimum_writes(
        cluster: Cluster) -> None:
    cluster.create(resource(**spec()))
    cluster.wait_phase("Stable")
    settle(cluster)
    start = time.monotonic()
    cluster.set_image("app:good2")
    cluster.wait_phase("Stable", activeColor="green")
    wait_until(lambda: cluster.replicas("web-blue") == 0, message="old colour scaled down")
    settle(cluster)
    requests = ours_since(cluster, start)
    writes = collections.Counter(label(m, p) for m, p, _ in requests if m in WRITES)
    reads = [(m, p) for m, p, q in requests
             if m == "GET" and q.get("watch") not in ("1", "true")]
    print(f"\none release V1 -> V2: {sum(writes.values())} writes (minimum {MINIMUM_WRITES})"
          f": {dict(sorted(writes.items()))}; reads: {len(reads)}")
    assert reads == []  # every pass read the caches
    assert sum(writes.values()) <= 1.5 * MINIMUM_WRITES, writes
    assert writes["PATCH finnexusdeployments/status"] <= 4


def test_idle_resources_cost_no_api_requests(cluster: Cluster) -> None:
    for name in ("web", "api"):
        cluster.create(resource(name, **spec()))
    for name in ("web", "api"):
        cluster.wait_phase("Stable", name=name)
    wait_until(lambda: cluster.replicas("web-green") is None and not [
        s for s in ("web", "api") if cluster.status(s).get("scaleDown")],
        message="nothing in progress")
    settle(cluster)
    assert cluster.operator is not None and cluster.operator.runtime.queue is not None
    queue = cluster.operator.runtime.queue
    start, loop_start = time.monotonic(), len(queue.timeline)
    time.sleep(3.0)  # the point: nothing happens, whatever we wait for
    idle = [(m, p, q) for m, p, q in ours_since(cluster, start)
            if q.get("watch") not in ("1", "true")]  # watch re-connects excepted
    passes = list(queue.timeline)[loop_start:]
    print(f"\nidle, 3 s, 2 Stable resources: {len(idle)} requests, {len(passes)} passes, "
          f"{queue.tasks} queue tasks, {queue.active} keys with a timer")
    assert idle == []
    assert passes == [] and queue.active == 0  # no timer, no task per resource
    assert queue.tasks == queue.workers + 1


def test_a_pod_becoming_ready_advances_the_rollout_without_waiting_for_a_timer(
        cluster: Cluster) -> None:
    cluster.create(resource(**spec()))
    cluster.wait_phase("Stable")
    settle(cluster)
    cluster.set_image("app:good2")
    cluster.wait_phase("Stable", activeColor="green")
    assert cluster.operator is not None and cluster.operator.runtime.queue is not None
    timeline = list(cluster.operator.runtime.queue.timeline)
    ready = [t for t, (m, p, _) in cluster.api.requests.timed("")
             if m == "PATCH" and "/pods/web-green-" in p and p.endswith("/status")]
    assert ready, "the pod simulator made the candidate's pod Ready"
    after = [why for t, key, why in timeline if key == (NS, "web") and t >= ready[-1]]
    print(f"\npasses after the candidate pod's last status change: {after}")
    # The pod simulator writes the pod's status and its ReplicaSet's (readyReplicas) at
    # once: either watch event may wake the pass first; a timer must not.
    assert after and after[0] in ("Pod", "ReplicaSet"), timeline[-10:]
