"""The emulated API at scale: objects indexed by (type, namespace, name) with a label index,
deleted objects gone at once, each object's JSON kept until it changes, and a request log
that stays cheap (append-only, optionally capped)."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_kit.kubeapi.emulator import RequestLog
from tests.kit.test_apiserver import Watch, call

NAMESPACES = ("default", "other")
N = 100


def service(i: int, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": f"svc-{i}", "labels": {"app": f"a{i}", "tier": "web", **labels}},
            "spec": {"selector": {"app": f"a{i}"}}}


def services(ns: str | None) -> str:
    return path_for("v1", "services", ns)


@pytest.fixture()
def crowded() -> Any:
    """An API with N Services of the same names in each of two namespaces."""
    with ApiServer(NAMESPACES) as api:
        for ns in NAMESPACES:
            for i in range(N):
                api.create(services(ns), service(i, ns=ns))
        yield api


def names(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items]


def test_a_get_among_many_returns_that_object_of_that_namespace(crowded: ApiServer) -> None:
    for i in (0, 7, N - 1):
        for ns in NAMESPACES:
            obj = crowded.get(f"{services(ns)}/svc-{i}")
            assert obj is not None
            assert obj["metadata"]["labels"] == {"app": f"a{i}", "tier": "web", "ns": ns}
    assert crowded.get(f"{services('default')}/svc-{N}") is None


def test_lists_read_one_namespace_in_name_order_or_all_by_namespace(crowded: ApiServer) -> None:
    items = crowded.list(services("default"))
    assert names(items) == [("default", n) for n in sorted(f"svc-{i}" for i in range(N))]
    everything = names(crowded.list(services(None)))
    assert everything == sorted(everything) and len(everything) == 2 * N


def test_label_selectors_on_lists_use_and_keep_the_index(crowded: ApiServer) -> None:
    assert names(crowded.list(services("default"), "app=a5")) == [("default", "svc-5")]
    assert names(crowded.list(services(None), "app==a5,tier=web")) == [
        ("default", "svc-5"), ("other", "svc-5")]
    assert names(crowded.list(services("other"), "app in (a1,a2),ns!=default")) == [
        ("other", "svc-1"), ("other", "svc-2")]
    assert crowded.list(services("default"), "app=a5,tier=db") == []
    assert len(crowded.list(services("default"), "tier=web,!missing")) == N
    # a relabelled object moves in the index: found by its new label, not its old one
    crowded.patch(f"{services('default')}/svc-5", {"metadata": {"labels": {"app": "moved"}}})
    assert crowded.list(services("default"), "app=a5") == []
    assert names(crowded.list(services("default"), "app=moved")) == [("default", "svc-5")]
    # a label removed (merge-patch null) leaves the index too
    crowded.patch(f"{services('default')}/svc-6", {"metadata": {"labels": {"tier": None}}})
    assert ("default", "svc-6") not in names(crowded.list(services("default"), "tier=web"))
    assert len(crowded.list(services("default"), "tier=web")) == N - 1


def test_deleted_objects_are_gone_from_gets_lists_selectors_and_watches(
        crowded: ApiServer) -> None:
    for i in range(0, N, 2):
        crowded.delete(f"{services('default')}/svc-{i}")
    assert crowded.get(f"{services('default')}/svc-0") is None
    assert crowded.get(f"{services('other')}/svc-0") is not None  # the other namespace's stays
    left = crowded.list(services("default"))
    assert len(left) == N // 2 and all(int(n[4:]) % 2 for _, n in names(left))
    assert crowded.list(services("default"), "app=a0") == []
    watch = Watch(crowded, services("default"), timeoutSeconds="1")
    watch.ended.wait(5)
    assert len(watch.events) == N // 2 and ("ADDED", "svc-0") not in watch.seen()
    # the name can be taken again: a new object, not the deleted one
    created = crowded.create(services("default"), service(0, fresh="yes"))
    again = crowded.get(f"{services('default')}/svc-0")
    assert again is not None and again["metadata"]["uid"] == created["metadata"]["uid"]
    assert again["metadata"]["labels"]["fresh"] == "yes"


def test_the_kept_json_changes_with_the_object(crowded: ApiServer) -> None:
    path = f"{services('default')}/svc-3"
    before = crowded.get(path)
    listed = crowded.list(services("default"), "app=a3")
    assert listed == [before]
    after = crowded.patch(path, {"spec": {"selector": {"app": "b"}}})
    assert crowded.get(path) == after != before
    assert crowded.list(services("default"), "app=a3") == [after]
    status, body = call(crowded, "GET", services("default") + "?"
                        + urllib.parse.urlencode({"labelSelector": "app=a3"}))
    assert status == 200 and body["kind"] == "ServiceList" and body["items"] == [after]
    assert body["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"]


def test_the_request_log_counts_every_request_by_agent() -> None:
    log = RequestLog()
    for i in range(10):
        log.add("GET", f"/p/{i}", {"watch": "true"} if i == 9 else {},
                "finnexus-operator/1" if i % 2 else "kopf/1")
    assert log.total == 10
    assert len(log.by_agent("finnexus-operator/")) == 5 and len(log.by_agent("kopf/")) == 5
    assert log.all()[9] == ("GET", "/p/9", {"watch": "true"})
    assert [e[1] for e in log.entries(8)] == ["/p/8", "/p/9"]
    times = [t for t, _ in log.timed()]
    assert times == sorted(times) and len(times) == 10
    log.clear()
    assert log.total == 0 and log.all() == []


def test_a_capped_request_log_keeps_the_last_entries_and_counts_all() -> None:
    log = RequestLog(cap=100)
    for i in range(1000):
        log.add("GET", f"/p/{i}", {}, "x")
    assert log.total == 1000
    kept = log.all()
    assert 100 <= len(kept) <= 200 and kept[-1][1] == "/p/999"
    assert [e[1] for e in log.entries(995)] == [f"/p/{i}" for i in range(995, 1000)]
    assert log.entries(0)[0][1] == kept[0][1]  # trimmed ones are simply not there


def test_the_server_logs_each_request_once_with_its_agent(apiserver: ApiServer) -> None:
    before = apiserver.requests.total
    apiserver.create(services("default"), service(1))
    apiserver.get(f"{services('default')}/svc-1")
    apiserver.list(services("default"), "app=a1")
    entries = apiserver.requests.entries(before)
    assert [(m, p) for m, p, *_ in entries] == [
        ("POST", services("default")), ("GET", f"{services('default')}/svc-1"),
        ("GET", services("default"))]
    assert entries[2][2] == {"labelSelector": "app=a1"}
    assert apiserver.requests.total == before + 3
