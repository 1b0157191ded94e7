"""Sharding (issue 9 item 7): instances with different ``--selector`` each reconcile only their
resources and each elects on its own Lease; a resource that matches no shard is left alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from finnexus_kit.apiserver import ApiServer
from finnexus_operator.controller.leader import lease_name
from tests.contract.cluster import resource
from tests.contract.test_leader_election import LEASES, agent, holder, lease_args, two_operators
from tests.helpers import wait_until

SHARD = "finnexus.ai/shard"


def labelled(name: str, shard: str | None) -> dict[str, Any]:
    body = resource(name)
    if shard is not None:
        body["metadata"]["labels"] = {SHARD: shard}
    return body


def touching(api: ApiServer, identity: str, name: str) -> list[tuple[str, str]]:
    """(method, path) of every request of ``identity`` about resource ``name`` or its objects."""
    return [(m, p) for m, p, _ in api.requests.by_agent(agent(identity))
            if any(seg == name or seg.startswith(f"{name}-") for seg in p.split("/"))]


@pytest.mark.invariants
def test_each_shard_reconciles_only_its_resources_on_its_own_lease(
        apiserver: ApiServer, kubeconfig: str, tmp_path: Path) -> None:
    args = {s: lease_args(s, "--selector", f"{SHARD}={s}") for s in ("a", "b")}
    with two_operators(apiserver, kubeconfig, tmp_path, args) as (cluster, _):
        for shard in ("a", "b"):  # two Leases, one leader each
            name = lease_name(f"{SHARD}={shard}")
            wait_until(lambda n=name, s=shard: holder(apiserver, n) == s, timeout=15,
                       message=f"shard {shard} elects on Lease {name}")
        cluster.create(labelled("web-a", "a"))
        cluster.create(labelled("web-b", "b"))
        cluster.create(labelled("web-none", None))
        cluster.wait_phase("Stable", name="web-a", timeout=30)
        cluster.wait_phase("Stable", name="web-b", timeout=30)
        # the unlabelled one: passes of the others ran meanwhile, it got none
        assert cluster.status("web-none") == {}
        assert cluster.deployment("web-none-blue") is None
        assert touching(apiserver, "a", "web-none") == touching(apiserver, "b", "web-none") == []
        assert touching(apiserver, "a", "web-a") and not touching(apiserver, "b", "web-a")
        assert touching(apiserver, "b", "web-b") and not touching(apiserver, "a", "web-b")
        leases = {o["metadata"]["name"] for o in apiserver.list(LEASES)}
        assert leases == {lease_name(f"{SHARD}=a"), lease_name(f"{SHARD}=b")}

        # labelled into shard b, it is b's from the next watch event on
        apiserver.patch(cluster.cr_path("web-none"), {"metadata": {"labels": {SHARD: "b"}}})
        cluster.wait_phase("Stable", name="web-none", timeout=30)
        assert touching(apiserver, "b", "web-none") and not touching(apiserver, "a", "web-none")
