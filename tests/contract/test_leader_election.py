"""Leader election on a Lease (issue 9 item 6): two real operator processes, one emulated API.

Each process carries its identity in its User-Agent (``finnexus-operator/<v> (<id>)``, set by
``--instance-id``), so the API's request log tells who wrote what and when. Short lease
settings (3 s lease, 2 s renew deadline, 0.5 s retry) keep the tests quick; the takeover with
the default 15/10/2 is measured by ``bench/failover.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_kit.kubeapi.hooks import Answer, Call, Fault
from finnexus_kit.operator_process import OperatorProcess
from finnexus_operator import errors
from finnexus_operator.adapters.kube import USER_AGENT, KubeClient, load_api_client
from finnexus_operator.adapters.lease import KubeLeaseStore, LeaseRecord
from finnexus_operator.rbac import LEASE_RULES
from tests.contract.cluster import Cluster, resource, running_cluster, template
from tests.contract.test_rbac_calls import permission
from tests.contract.test_rollouts import revision
from tests.helpers import wait_until

DURATION, RENEW, RETRY = 3.0, 2.0, 0.5
LEASE = "finnexus-operator"
LEASES = path_for("coordination.k8s.io/v1", "leases", "default")
Timed = list[tuple[float, tuple[str, str, dict[str, str]]]]


def agent(identity: str) -> str:
    return f"{USER_AGENT} ({identity})"


def lease_args(identity: str, *extra: str) -> list[str]:
    return ["--leader-election", "--instance-id", identity, "--lease-namespace", "default",
            "--lease-duration", str(DURATION), "--lease-renew-deadline", str(RENEW),
            "--lease-retry-period", str(RETRY), *extra]


def holder(api: ApiServer, name: str = LEASE) -> str:
    lease = api.get(f"{LEASES}/{name}") or {}
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def is_lease(path: str) -> bool:
    return path.startswith(LEASES)


def writes(api: ApiServer, identity: str) -> Timed:
    """The non-Lease writes of one instance, with their arrival times."""
    return [(t, r) for t, r in api.requests.timed(agent(identity))
            if r[0] != "GET" and not is_lease(r[1])]


@contextmanager
def two_operators(api: ApiServer, kubeconfig: str, workdir: Path, args: dict[str, list[str]]
                  ) -> Iterator[tuple[Cluster, dict[str, OperatorProcess]]]:
    procs = {i: OperatorProcess(kubeconfig, workdir / f"operator-{i}.log", extra_args=a)
             for i, a in args.items()}
    first, *others = procs.values()
    with running_cluster(api, kubeconfig, process=first, pod_interval=0.1) as cluster:
        try:
            for proc in others:
                proc.start()
            yield cluster, procs
        finally:
            for proc in others:
                proc.stop()


def log_tail(procs: dict[str, OperatorProcess]) -> str:
    return "\n".join(f"--- {i} ---\n" + "\n".join(
        p.log.read_text(errors="replace").splitlines()[-15:]) for i, p in procs.items()
        if p.log.exists())


@pytest.mark.invariants
def test_the_standby_takes_over_a_killed_leader_after_its_lease_expires(
        apiserver: ApiServer, kubeconfig: str, tmp_path: Path) -> None:
    args = {i: lease_args(i) for i in ("a", "b")}
    with two_operators(apiserver, kubeconfig, tmp_path, args) as (cluster, procs):
        leader = str(wait_until(lambda: holder(apiserver), timeout=15, message="a leader"))
        standby = "b" if leader == "a" else "a"
        cluster.create(resource())
        cluster.wait_phase("Stable", timeout=30)
        assert writes(apiserver, leader) and not writes(apiserver, standby)
        standby_reads = [r for _, r in apiserver.requests.timed(agent(standby))]
        # A standby campaigns and keeps its informers (LIST + watch: it takes over without a
        # relist); it reads no single object and writes nothing but its Lease attempts.
        assert standby_reads and all(
            is_lease(path) or (method == "GET" and (
                "watch" in query or "labelSelector" in query
                or path.endswith("/finnexusanalysistemplates")))
            for method, path, query in standby_reads), "the standby ran passes"

        cluster.set_image("app:good2")  # a rollout in progress when the leader dies
        cluster.wait_phase("Verifying", timeout=15)
        killed = time.monotonic()
        procs[leader].kill()
        wait_until(lambda: holder(apiserver) == standby, timeout=DURATION + 10,
                   message=f"{standby} takes the lease\n{log_tail(procs)}")
        took_over = time.monotonic()
        cluster.wait_phase("Stable", timeout=30, stableRevision=revision(template("app:good2")))
        done = time.monotonic()

    # the standby took the lease only once it had expired: DURATION after the leader's last
    # renewal that reached the API (both measured on the API server's clock)
    renewals = [t for t, r in apiserver.requests.timed(agent(leader))
                if r[0] == "PATCH" and is_lease(r[1])]
    takes = [t for t, r in apiserver.requests.timed(agent(standby))
             if r[0] == "PATCH" and is_lease(r[1])]
    assert takes and takes[0] >= renewals[-1] + DURATION - 0.05
    # no two operators wrote at once: every write of the standby follows the leader's last one
    old, new = writes(apiserver, leader), writes(apiserver, standby)
    assert new and max(t for t, _ in old) < killed <= min(t for t, _ in new)
    print(f"\ntakeover after SIGKILL: {took_over - killed:.2f} s (lease {DURATION:g} s, "
          f"renew deadline {RENEW:g} s, retry {RETRY:g} s); rollout finished "
          f"{done - killed:.2f} s after the kill; writes: {len(old)} by {leader}, "
          f"{len(new)} by {standby} (the first {min(t for t, _ in new) - killed:.2f} s after "
          f"the kill)")
    # least privilege: the Lease calls are exactly LEASE_RULES, and only on its own name
    lease_calls = [r for i in ("a", "b") for _, r in apiserver.requests.timed(agent(i))
                   if is_lease(r[1])]
    used = {permission(*c) for c in lease_calls}
    allowed = {(verb, group, res) for rule in LEASE_RULES for group in rule["apiGroups"]
               for res in rule["resources"] for verb in rule["verbs"]}
    assert used == allowed
    assert {r[1] for r in lease_calls if r[0] != "POST"} == {f"{LEASES}/{LEASE}"}


class FailLeaseWrites:
    """503 for every Lease write of one instance while ``on``; notes its accepted renewals."""

    def __init__(self, identity: str) -> None:
        self.agent, self.on = agent(identity), False
        self.renewed: list[float] = []  # arrival times of its accepted Lease writes

    def before(self, call: Call) -> Answer:
        if self.on and call.write and call.user_agent == self.agent and is_lease(call.path):
            return Fault(503, "ServiceUnavailable", "lease writes failing (injected)")
        return None

    def after(self, call: Call, status: int) -> None:
        if call.write and call.user_agent == self.agent and is_lease(call.path) and status < 300:
            self.renewed.append(call.at)


@pytest.mark.invariants
def test_a_leader_that_cannot_renew_stops_acting_before_its_lease_expires(
        apiserver: ApiServer, kubeconfig: str, tmp_path: Path) -> None:
    faults = FailLeaseWrites("a")
    apiserver.add_hook(faults)
    args = {"a": lease_args("a"), "b": lease_args("b")}
    endless = {"intervalSeconds": 1, "timeoutSeconds": 1, "successThreshold": 100,
               "failureThreshold": 2}  # Verifying for ever: a status write every second
    with two_operators(apiserver, kubeconfig, tmp_path, {"a": args["a"]}) as (cluster, procs):
        wait_until(lambda: holder(apiserver) == "a", timeout=15, message="a leads")
        procs["b"] = OperatorProcess(kubeconfig, tmp_path / "operator-b.log",
                                     extra_args=args["b"]).start()
        try:
            cluster.create(resource(healthCheck=endless, progressDeadlineSeconds=600))
            wait_until(lambda: (cluster.status().get("healthCheck") or {}).get(
                "consecutiveSuccesses", 0) >= 2, timeout=20, message="a acting")
            faults.on = True
            broke = time.monotonic()
            wait_until(lambda: holder(apiserver) == "b", timeout=DURATION + 10,
                       message=f"b takes over\n{log_tail(procs)}")
            # b acts (a status write per health round, one a second) while a stays quiet
            wait_until(lambda: len(writes(apiserver, "b")) >= 4, timeout=15, message="b acts")
        finally:
            procs["b"].stop()
    last_renewal = max(t for t in faults.renewed if t <= broke)
    a_writes, b_writes = writes(apiserver, "a"), writes(apiserver, "b")
    a_last = max(t for t, _ in a_writes)
    # a stopped acting before its lease could expire for anybody, and b acted only after
    assert a_last < last_renewal + DURATION, (a_last - last_renewal, log_tail(procs))
    assert a_last < min(t for t, _ in b_writes)
    print(f"\nlease writes failing: the leader's last write {a_last - last_renewal:.2f} s after "
          f"its last renewal (renew deadline {RENEW:g} s, lease {DURATION:g} s); the standby's "
          f"first write {min(t for t, _ in b_writes) - last_renewal:.2f} s after it")
    log = procs["a"].log.read_text()
    assert '"stopped leading"' in log and "not renewed for 2s" in log


def test_the_lease_adapter_writes_only_on_the_version_it_read(
        apiserver: ApiServer, kubeconfig: str) -> None:
    async def run() -> dict[str, Any]:
        store = KubeLeaseStore(KubeClient(load_api_client(kubeconfig)), "default", "x")
        assert await store.get() is None
        mine = await store.create(LeaseRecord("a", 15, "t0", "t0", 0))
        with pytest.raises(errors.Conflict):
            await store.create(LeaseRecord("b", 15, "t0", "t0", 0))
        renewed = await store.replace(LeaseRecord("a", 15, "t0", "t1", 0,
                                                  mine.resource_version))
        with pytest.raises(errors.Conflict):  # a stale version: someone else won
            await store.replace(LeaseRecord("b", 15, "t2", "t2", 1, mine.resource_version))
        freed = await store.replace(LeaseRecord("", 1, "t0", "t3", 0, renewed.resource_version))
        assert freed.holder == "" and freed.duration == 1
        assert await store.get() == freed
        return apiserver.get(f"{LEASES}/x") or {}
    stored = asyncio.run(run())
    assert stored["spec"] == {"leaseDurationSeconds": 1, "acquireTime": "t0",
                              "renewTime": "t3", "leaseTransitions": 0}
