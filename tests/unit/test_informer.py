"""Informers: list then watch from the list's version, 410 relists and diffs, versions never
go back, objects indexed by the resource they belong to, our own writes' echoes ignored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from finnexus_operator import errors
from finnexus_operator.adapters.cache import ClusterCache
from finnexus_operator.adapters.informer import Cause, Informer, newer, slim


def pod(name: str, rv: str, owner: str = "web", **labels: str) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {
        "name": name, "namespace": "ns", "resourceVersion": rv,
        "labels": {"app.kubernetes.io/name": owner, "finnexus.ai/color": "blue", **labels},
        "managedFields": [{"manager": "kubelet"}]}}


class ScriptedKube:
    """Answers list_page and watch from scripts; records what was asked."""

    def __init__(self) -> None:
        self.lists: list[tuple[list[dict[str, Any]], str]] = []
        self.streams: list[list[dict[str, Any]] | Exception] = []
        self.watched_from: list[str | None] = []

    async def list_page(self, path: str, label_selector: str | None = None
                        ) -> tuple[list[dict[str, Any]], str]:
        return self.lists.pop(0)

    async def watch(self, path: str, *, resource_version: str | None,
                    label_selector: str | None = None, timeout_seconds: int = 300
                    ) -> AsyncIterator[dict[str, Any]]:
        self.watched_from.append(resource_version)
        script = self.streams.pop(0)
        if isinstance(script, Exception):
            raise script
        for event in script:
            yield event


def informer(kube: ScriptedKube) -> tuple[Informer, list[Cause]]:
    woken: list[Cause] = []
    inf = Informer(kube, "Pod", "v1", "pods", "finnexus.ai/color", None,  # type: ignore[arg-type]
                   lambda ns, name, cause: woken.append((cause[0], ns, name, cause[3])))
    return inf, woken


async def test_lists_once_then_watches_from_the_lists_version() -> None:
    kube = ScriptedKube()
    kube.lists.append(([pod("a", "10"), pod("b", "11", owner="api")], "12"))
    kube.streams.append([{"type": "MODIFIED", "object": pod("a", "13")},
                         {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}},
                         {"type": "ADDED", "object": pod("c", "21")}])
    inf, woken = informer(kube)
    assert not inf.synced.is_set()
    await inf.relist()
    assert inf.synced.is_set() and woken == []  # the first list wakes nobody
    await inf.watch_once()
    assert kube.watched_from == ["12"]
    assert inf.rv == "21"  # bookmarks move the version on
    assert [o["metadata"]["name"] for o in inf.labelled("ns", "web")] == ["a", "c"]
    assert [o["metadata"]["name"] for o in inf.labelled("ns", "api")] == ["b"]
    assert woken == [("Pod", "ns", "web", "13"), ("Pod", "ns", "web", "21")]
    assert "managedFields" not in inf.get("ns", "a")["metadata"]  # type: ignore[index]


async def test_410_relists_and_the_owner_of_a_vanished_object_is_woken() -> None:
    kube = ScriptedKube()
    kube.lists += [([pod("a", "10"), pod("b", "11", owner="api")], "12"),
                   ([pod("b", "11", owner="api")], "40")]
    kube.streams += [[{"type": "ERROR", "object": {"code": 410, "message": "too old"}}],
                     []]
    inf, woken = informer(kube)
    await inf.relist()
    await inf.watch_once()
    assert inf.rv is None  # gone: list again
    await inf.relist()
    assert inf.get("ns", "a") is None and inf.labelled("ns", "web") == []
    assert woken == [("Pod", "ns", "web", "40")]  # b did not change: nobody else woken
    await inf.watch_once()
    assert kube.watched_from == ["12", "40"]


async def test_a_broken_stream_is_watched_again_from_the_last_version() -> None:
    kube = ScriptedKube()
    kube.lists.append(([], "5"))
    kube.streams += [[{"type": "ADDED", "object": pod("a", "6")}]]
    inf, _ = informer(kube)
    await inf.relist()
    await inf.watch_once()
    kube.streams.append(errors.ApiUnavailable("cut"))
    with pytest.raises(errors.ApiUnavailable):
        await inf.watch_once()
    assert inf.rv == "6" and inf.get("ns", "a") is not None  # no relist needed


def test_versions_never_go_back() -> None:
    assert newer("10", "9") and not newer("9", "10") and not newer("10", "10")
    assert newer("x", None) and not newer(None, "3") and newer("b", "a")
    inf, woken = informer(ScriptedKube())
    assert inf.apply(pod("a", "10"))
    assert not inf.apply(pod("a", "9", stale="yes"))  # an older event after a newer answer
    assert "stale" not in inf.get("ns", "a")["metadata"]["labels"]  # type: ignore[index]
    assert inf.apply(pod("a", "11"))
    assert len(woken) == 2


def test_an_object_that_leaves_the_selector_is_removed() -> None:
    inf, woken = informer(ScriptedKube())
    inf.apply(pod("a", "10"))
    unlabelled = pod("a", "11")
    del unlabelled["metadata"]["labels"]["finnexus.ai/color"]
    assert inf.apply(unlabelled)
    assert inf.get("ns", "a") is None and inf.labelled("ns", "web") == []
    assert woken[-1] == ("Pod", "ns", "web", "11")


def test_slim_keeps_what_is_read() -> None:
    obj = {"metadata": {"name": "a", "managedFields": [1], "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": "{...}", "keep": "1"}},
        "spec": {"x": 1}}
    assert slim(obj) == {"metadata": {"name": "a", "annotations": {"keep": "1"}},
                         "spec": {"x": 1}}
    assert "managedFields" in obj["metadata"]  # the original is left alone


def test_the_echo_of_our_own_write_changes_nothing_and_wakes_nobody() -> None:
    woken: list[tuple[str, str, Cause]] = []
    cache = ClusterCache(ScriptedKube(), wake=lambda ns, n, c: woken.append((ns, n, c)))  # type: ignore[arg-type]
    [inf] = cache.informers["Pod"]
    written = {**pod("a", "30"), "kind": "Pod"}
    cache.absorb(written)  # the answer of our write: in the cache before anything else
    assert cache.get("Pod", "ns", "a") is not None and woken == []
    assert not inf.apply(pod("a", "30"))  # its watch event: nothing new
    assert woken == []
    assert cache.is_own(("Pod", "ns", "a", "30")) and not cache.is_own(("Pod", "ns", "a", "31"))
    inf.apply(pod("a", "31"))  # somebody else's change
    assert woken == [("ns", "web", ("Pod", "ns", "a", "31"))]
    cache.forget("Pod", "ns", "a")  # we deleted it: its DELETED event wakes nobody
    assert not inf.remove(("ns", "a"), "32")
    assert len(woken) == 1


async def test_namespaced_caches_hold_one_informer_per_namespace() -> None:
    cache = ClusterCache(ScriptedKube(), ("a", "b"))  # type: ignore[arg-type]
    assert [i.path for i in cache.informers["Deployment"]] == [
        "/apis/apps/v1/namespaces/a/deployments", "/apis/apps/v1/namespaces/b/deployments"]
    assert cache.watches("Pod", "a") and not cache.watches("Pod", "c")
    assert not cache.synced
