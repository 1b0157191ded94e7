"""The emulated Kubernetes API behaves like the real one where kopf, kubectl and clients care."""

from __future__ import annotations

import http.client
import inspect
import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import kmock
import kopf
import kubernetes
import pytest
from kopf.testing import KopfRunner

from finnexus_kit import apiserver as apiserver_module
from finnexus_kit.apiserver import ApiRequestError, ApiServer, path_for
from finnexus_kit.kubeapi import store as kubeapi_store
from tests.helpers import wait_until

DEPLOYMENTS = path_for("apps/v1", "deployments", "default")
CONFIGMAPS = path_for("v1", "configmaps", "default")
FNDS = path_for("finnexus.ai/v1alpha1", "finnexusdeployments", "default")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def call(server: ApiServer, method: str, path: str, body: Any = None,
         content_type: str = "application/json") -> tuple[int, Any]:
    """A raw request: (status, decoded JSON body)."""
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(server.url).netloc, timeout=10)
    try:
        data = None if body is None else json.dumps(body)
        conn.request(method, path, body=data, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


class Watch:
    """A watch stream read by a background thread into ``events`` as (type, object)."""

    def __init__(self, server: ApiServer, path: str, **params: str) -> None:
        query = urllib.parse.urlencode({"watch": "true", "timeoutSeconds": "20", **params})
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.ended = threading.Event()
        self._conn = http.client.HTTPConnection(urllib.parse.urlsplit(server.url).netloc)
        self._conn.request("GET", f"{path}?{query}")
        self._response = self._conn.getresponse()
        assert self._response.status == 200
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while line := self._response.readline():
                event = json.loads(line)
                self.events.append((event["type"], event["object"]))
        except Exception:  # closed from another thread: the stream is over
            pass
        finally:
            self.ended.set()

    def seen(self) -> list[tuple[str, str]]:
        return [(type_, obj.get("metadata", {}).get("name", "")) for type_, obj in self.events]

    def close(self) -> None:
        if self._conn.sock is not None:
            self._conn.sock.shutdown(socket.SHUT_RDWR)
        self._conn.close()


@pytest.fixture()
def watches() -> Iterator[list[Watch]]:
    opened: list[Watch] = []
    yield opened
    for watch in opened:
        watch.close()


def deployment(name: str, **labels: str) -> dict[str, Any]:
    pods = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app"}]}}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": pods}}


def rv(obj: dict[str, Any] | None) -> int:
    assert obj is not None
    return int(obj["metadata"]["resourceVersion"])


# -- the guard ---------------------------------------------------------------------------------

def test_kmock_internals_the_emulator_relies_on_are_unchanged() -> None:
    hint = "kmock changed: re-check finnexus_kit/apiserver.py against the new kmock"
    assert kmock.__version__ == "0.8", hint
    scaffold = kmock.KubernetesScaffold
    for name in ("__call__", "_serve_version", "_render_error"):
        assert inspect.iscoroutinefunction(getattr(scaffold, name)), f"{hint}: {name}"
    assert isinstance(scaffold.resources, property), f"{hint}: resources"
    fields = {field.name for field in attrs.fields(scaffold)}
    assert "_requests" in fields, f"{hint}: _requests"
    info_fields = {field.name for field in attrs.fields(kmock.ResourceInfo)}
    assert {"kind", "singular", "namespaced", "verbs", "shortnames", "subresources"} <= info_fields
    assert kmock.resource("", "v1", "pods").plural == "pods", hint
    handler = apiserver_module.Emulator(["default"], apiserver_module.RequestLog())
    assert handler.resources[kmock.resource("apps", "v1", "deployments")].kind == "Deployment"


def test_discovery_serves_every_resource_with_status_subresources_and_short_names(
        apiserver: ApiServer) -> None:
    status, core = call(apiserver, "GET", "/api/v1")
    assert status == 200 and core["groupVersion"] == "v1"
    core_names = {r["name"] for r in core["resources"]}
    assert {"pods", "pods/status", "services", "events", "namespaces", "configmaps"} <= core_names
    _, fnd = call(apiserver, "GET", "/apis/finnexus.ai/v1alpha1")
    by_name = {r["name"]: r for r in fnd["resources"]}
    main = by_name["finnexusdeployments"]
    assert (main["kind"], main["singularName"], main["namespaced"], main["shortNames"]) == (
        "FinNexusDeployment", "finnexusdeployment", True, ["fnd"])
    assert {"get", "list", "watch", "patch", "create", "delete"} <= set(main["verbs"])
    assert by_name["finnexusdeployments/status"]["shortNames"] == []
    _, apis = call(apiserver, "GET", "/apis")
    groups = {g["name"] for g in apis["groups"]}
    assert {"apps", "networking.k8s.io", "events.k8s.io", "coordination.k8s.io", "kopf.dev",
            "apiextensions.k8s.io", "finnexus.ai"} <= groups
    _, kopf_dev = call(apiserver, "GET", "/apis/kopf.dev/v1")
    scopes = {r["name"]: r["namespaced"] for r in kopf_dev["resources"]}
    assert scopes == {"kopfpeerings": True, "clusterkopfpeerings": False}


# -- stamping and versions ---------------------------------------------------------------------

def test_create_stamps_uid_versions_generation_and_timestamp(apiserver: ApiServer) -> None:
    first = apiserver.create(DEPLOYMENTS, deployment("a"))
    second = apiserver.create(DEPLOYMENTS, {"metadata": {"name": "b"}, "spec": {},
                                            "status": {"replicas": 5}})
    meta = first["metadata"]
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert meta["uid"] != second["metadata"]["uid"]
    assert meta["generation"] == 1 and meta["namespace"] == "default"
    assert TIMESTAMP.fullmatch(meta["creationTimestamp"])
    assert rv(second) > rv(first)
    assert (second["kind"], second["apiVersion"]) == ("Deployment", "apps/v1")
    assert "status" not in second  # status is a subresource: ignored on create
    assert apiserver.get(f"{DEPLOYMENTS}/a") == first


def test_generation_bumps_only_for_changes_outside_metadata_and_status(
        apiserver: ApiServer) -> None:
    created = apiserver.create(DEPLOYMENTS, deployment("web"))
    spec = apiserver.patch(f"{DEPLOYMENTS}/web", {"spec": {"replicas": 3}})
    assert spec["metadata"]["generation"] == 2 and rv(spec) > rv(created)
    labels = apiserver.patch(f"{DEPLOYMENTS}/web", {"metadata": {"labels": {"x": "y"}}})
    assert labels["metadata"]["generation"] == 2 and rv(labels) > rv(spec)
    status = apiserver.patch(f"{DEPLOYMENTS}/web/status", {"status": {"readyReplicas": 3}})
    assert status["metadata"]["generation"] == 2 and rv(status) > rv(labels)
    assert status["status"] == {"readyReplicas": 3}
    noop = apiserver.patch(f"{DEPLOYMENTS}/web", {"spec": {"replicas": 3}})
    assert noop == status  # nothing changed: same resourceVersion, no event
    # server-owned metadata cannot be overwritten by clients
    forged = apiserver.patch(f"{DEPLOYMENTS}/web", {"metadata": {"uid": "x", "generation": 9}})
    assert forged == status


def test_no_status_subresource_kinds_count_status_as_content(apiserver: ApiServer) -> None:
    apiserver.create(CONFIGMAPS, {"metadata": {"name": "c"}, "data": {"k": "v"}})
    changed = apiserver.patch(f"{CONFIGMAPS}/c", {"data": {"k": "w"}})
    assert changed["metadata"]["generation"] == 2 and changed["data"] == {"k": "w"}


def test_lists_carry_kind_api_version_and_the_current_resource_version(
        apiserver: ApiServer) -> None:
    apiserver.create(DEPLOYMENTS, deployment("b"))
    last = apiserver.create(DEPLOYMENTS, deployment("a"))
    status, listing = call(apiserver, "GET", DEPLOYMENTS)
    assert status == 200
    assert (listing["kind"], listing["apiVersion"]) == ("DeploymentList", "apps/v1")
    assert listing["metadata"]["resourceVersion"] == last["metadata"]["resourceVersion"]
    assert [item["metadata"]["name"] for item in listing["items"]] == ["a", "b"]
    apiserver.patch(f"{DEPLOYMENTS}/a", {"spec": {"paused": True}})
    _, cluster_wide = call(apiserver, "GET", "/apis/apps/v1/deployments")
    assert int(cluster_wide["metadata"]["resourceVersion"]) == rv(last) + 1
    assert len(cluster_wide["items"]) == 2


# -- errors --------------------------------------------------------------------------------------

def test_missing_object_is_404_with_a_status_body(apiserver: ApiServer) -> None:
    status, body = call(apiserver, "GET", f"{FNDS}/nope")
    assert status == 404
    assert body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'finnexusdeployments.finnexus.ai "nope" not found', "reason": "NotFound",
        "details": {"name": "nope", "group": "finnexus.ai", "kind": "finnexusdeployments"},
        "code": 404,
    }
    assert apiserver.get(f"{FNDS}/nope") is None
    assert call(apiserver, "PATCH", f"{FNDS}/nope", {}, "application/merge-patch+json")[0] == 404
    assert call(apiserver, "DELETE", f"{FNDS}/nope")[0] == 404
    assert call(apiserver, "GET", f"{FNDS}/nope/scale")[0] == 404


def test_creating_an_existing_name_is_409_already_exists(apiserver: ApiServer) -> None:
    apiserver.create(DEPLOYMENTS, deployment("web"))
    with pytest.raises(ApiRequestError) as caught:
        apiserver.create(DEPLOYMENTS, deployment("web"))
    assert caught.value.status == 409
    assert caught.value.body["reason"] == "AlreadyExists"
    assert caught.value.body["kind"] == "Status"


def test_stale_resource_version_is_409_conflict(apiserver: ApiServer) -> None:
    old = apiserver.create(DEPLOYMENTS, deployment("web"))
    apiserver.patch(f"{DEPLOYMENTS}/web", {"spec": {"replicas": 2}})
    stale = {"metadata": {"resourceVersion": old["metadata"]["resourceVersion"]},
             "spec": {"replicas": 5}}
    with pytest.raises(ApiRequestError) as caught:
        apiserver.patch(f"{DEPLOYMENTS}/web", stale)
    assert (caught.value.status, caught.value.body["reason"]) == (409, "Conflict")
    status, body = call(apiserver, "PUT", f"{DEPLOYMENTS}/web", {**old, "spec": {"replicas": 7}})
    assert (status, body["reason"]) == (409, "Conflict")


def test_failed_json_patch_test_is_422(apiserver: ApiServer) -> None:
    apiserver.create(DEPLOYMENTS, deployment("web"))
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "999"},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x"]},
    ]
    with pytest.raises(ApiRequestError) as caught:
        apiserver.patch(f"{DEPLOYMENTS}/web", ops, json_patch=True)
    assert (caught.value.status, caught.value.body["reason"]) == (422, "Invalid")
    assert "finalizers" not in (apiserver.get(f"{DEPLOYMENTS}/web") or {})["metadata"]


def test_create_in_an_unknown_namespace_is_404(apiserver: ApiServer) -> None:
    with pytest.raises(ApiRequestError) as caught:
        apiserver.create(path_for("apps/v1", "deployments", "nowhere"), deployment("web"))
    assert caught.value.status == 404
    assert caught.value.body["message"] == 'namespaces "nowhere" not found'


# -- names and namespaces -------------------------------------------------------------------

def test_generate_name_makes_unique_names(apiserver: ApiServer) -> None:
    events = path_for("v1", "events", "default")
    made = [apiserver.create(events, {"metadata": {"generateName": "kopf-event-"}})
            for _ in range(5)]
    names = {event["metadata"]["name"] for event in made}
    assert len(names) == 5
    assert all(re.fullmatch(r"kopf-event-[a-z0-9]{5}", name) for name in names)
    status, body = call(apiserver, "POST", events, {"metadata": {}})
    assert (status, body["reason"]) == (422, "Invalid")


def test_namespaces_are_routed_and_declarable() -> None:
    with ApiServer(namespaces=("trading", "default")) as server:
        listing = server.list("/api/v1/namespaces")
        assert [ns["metadata"]["name"] for ns in listing] == ["default", "trading"]
        trading = server.get("/api/v1/namespaces/trading")
        assert trading is not None
        assert (trading["kind"], trading["status"]) == ("Namespace", {"phase": "Active"})
        assert "namespace" not in trading["metadata"]
        assert server.get("/api/v1/namespaces/missing") is None
        server.create("/api/v1/namespaces", {"metadata": {"name": "extra"}})
        created = server.create(path_for("v1", "configmaps", "extra"), {"metadata": {"name": "c"}})
        assert created["metadata"]["namespace"] == "extra"
        assert server.list(path_for("v1", "configmaps", "trading")) == []
        assert len(server.list("/api/v1/configmaps")) == 1


# -- selectors -----------------------------------------------------------------------------------

def test_label_and_field_selectors_filter_lists(apiserver: ApiServer) -> None:
    apiserver.create(DEPLOYMENTS, deployment("blue", app="web", color="blue"))
    apiserver.create(DEPLOYMENTS, deployment("green", app="web", color="green"))
    apiserver.create(DEPLOYMENTS, deployment("db", app="db"))

    def names(selector: str) -> list[str]:
        return [d["metadata"]["name"] for d in apiserver.list(DEPLOYMENTS, selector)]

    assert names("app=web") == ["blue", "green"]
    assert names("app==web,color!=blue") == ["green"]
    assert names("color") == ["blue", "green"]
    assert names("!color") == ["db"]
    assert names("color!=blue") == ["db", "green"]
    assert names("color in (blue, red),app=web") == ["blue"]
    assert names("color notin (blue)") == ["db", "green"]
    assert names("app=none") == []
    query = urllib.parse.urlencode({"fieldSelector": "metadata.name=db"})
    assert [d["metadata"]["name"] for d in call(apiserver, "GET", f"{DEPLOYMENTS}?{query}")[1][
        "items"]] == ["db"]
    assert call(apiserver, "GET", f"{DEPLOYMENTS}?labelSelector=a%20%3D%3D%3D")[0] == 400


def test_label_selectors_filter_watches_with_enter_and_leave_events(
        apiserver: ApiServer, watches: list[Watch]) -> None:
    watch = Watch(apiserver, DEPLOYMENTS, labelSelector="app=web")
    watches.append(watch)
    apiserver.create(DEPLOYMENTS, deployment("db", app="db"))
    apiserver.create(DEPLOYMENTS, deployment("web", app="web"))
    apiserver.patch(f"{DEPLOYMENTS}/web", {"metadata": {"labels": {"app": "other"}}})
    apiserver.patch(f"{DEPLOYMENTS}/db", {"metadata": {"labels": {"app": "web"}}})
    apiserver.delete(f"{DEPLOYMENTS}/db")
    expected = [("ADDED", "web"), ("DELETED", "web"), ("ADDED", "db"), ("DELETED", "db")]
    wait_until(lambda: watch.seen() == expected, message=f"{expected} in {watch.seen()}")


# -- status subresource and patch flavours ------------------------------------------------------

def test_status_subresource_semantics(apiserver: ApiServer) -> None:
    pods = path_for("v1", "pods", "default")
    apiserver.create(pods, {"metadata": {"name": "p"}, "spec": {"containers": []},
                            "status": {"phase": "Running"}})
    # the tests play kubelet through /status
    kubelet = {"status": {"phase": "Running", "podIP": "127.0.0.1",
                          "conditions": [{"type": "Ready", "status": "True"}]}}
    pod = apiserver.patch(f"{pods}/p/status", {**kubelet, "spec": {"nodeName": "ignored"}})
    assert pod["status"] == kubelet["status"]
    assert "nodeName" not in pod["spec"]
    # the main resource ignores status changes
    pod = apiserver.patch(f"{pods}/p", {"status": {"phase": "Failed"}, "spec": {"nodeName": "n"}})
    assert pod["status"]["phase"] == "Running" and pod["spec"]["nodeName"] == "n"
    # PUT on /status changes only the status, PUT on the main resource only the rest
    status, put = call(apiserver, "PUT", f"{pods}/p/status",
                       {**pod, "spec": {"containers": [], "nodeName": "m"},
                        "status": {"phase": "Succeeded"}})
    assert status == 200 and put["status"] == {"phase": "Succeeded"}
    assert put["spec"]["nodeName"] == "n"
    status, put = call(apiserver, "PUT", f"{pods}/p", {**put, "status": {}, "spec": {"x": 1}})
    assert status == 200 and put["status"] == {"phase": "Succeeded"}
    assert put["spec"] == {"x": 1}


def test_merge_patch_follows_rfc_7386(apiserver: ApiServer) -> None:
    apiserver.create(CONFIGMAPS, {"metadata": {"name": "c", "labels": {"a": "1", "b": "2"},
                                               "annotations": {"n": "x"}},
                                  "data": {"k": "v", "list": "x"}, "binaryData": {"b": "AA=="}})
    patched = apiserver.patch(f"{CONFIGMAPS}/c", {
        "metadata": {"labels": {"a": None, "c": "3"}, "annotations": None},
        "data": {"k": None, "new": "n"},
        "binaryData": None,
    })
    assert patched["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert "annotations" not in patched["metadata"]
    assert patched["data"] == {"list": "x", "new": "n"}
    assert "binaryData" not in patched
    spec = apiserver.patch(f"{CONFIGMAPS}/c", {"spec": {"items": [1, 2]}})
    replaced = apiserver.patch(f"{CONFIGMAPS}/c", {"spec": {"items": [3]}})
    assert spec["spec"]["items"] == [1, 2] and replaced["spec"]["items"] == [3]


def test_json_patch_applies_rfc_6902_operations(apiserver: ApiServer) -> None:
    created = apiserver.create(DEPLOYMENTS, deployment("web", app="web"))
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion",
         "value": created["metadata"]["resourceVersion"]},
        {"op": "add", "path": "/metadata/finalizers", "value": ["a", "b"]},
        {"op": "remove", "path": "/metadata/labels/app"},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
    ]
    patched = apiserver.patch(f"{DEPLOYMENTS}/web", ops, json_patch=True)
    assert patched["metadata"]["finalizers"] == ["a", "b"]
    assert patched["metadata"]["labels"] == {}
    assert patched["spec"]["replicas"] == 4 and patched["metadata"]["generation"] == 2
    bad = [{"op": "remove", "path": "/spec/missing"}]
    with pytest.raises(ApiRequestError) as caught:
        apiserver.patch(f"{DEPLOYMENTS}/web", bad, json_patch=True)
    assert caught.value.status == 422


# -- deletion and watching --------------------------------------------------------------------

def test_delete_sends_deleted_and_finalizers_hold_the_object(
        apiserver: ApiServer, watches: list[Watch]) -> None:
    watch = Watch(apiserver, FNDS)
    watches.append(watch)
    apiserver.create(FNDS, {"metadata": {"name": "plain"}, "spec": {}})
    apiserver.delete(f"{FNDS}/plain")
    assert apiserver.get(f"{FNDS}/plain") is None
    held = apiserver.create(FNDS, {"metadata": {"name": "held", "finalizers": ["f"]}, "spec": {}})
    apiserver.delete(f"{FNDS}/held")
    deleting = apiserver.get(f"{FNDS}/held")
    assert deleting is not None and TIMESTAMP.fullmatch(deleting["metadata"]["deletionTimestamp"])
    assert deleting["metadata"]["generation"] == held["metadata"]["generation"] + 1
    apiserver.patch(f"{FNDS}/held", {"metadata": {"finalizers": None}})
    assert apiserver.get(f"{FNDS}/held") is None
    apiserver.delete(f"{FNDS}/held")  # already gone: fine for the sync client
    expected = [("ADDED", "plain"), ("DELETED", "plain"), ("ADDED", "held"),
                ("MODIFIED", "held"), ("DELETED", "held")]
    wait_until(lambda: watch.seen() == expected, message=f"{expected} in {watch.seen()}")
    versions = [rv(obj) for _, obj in watch.events]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert "deletionTimestamp" in watch.events[-1][1]["metadata"]


def test_watch_without_resource_version_replays_everything_as_added(
        apiserver: ApiServer, watches: list[Watch]) -> None:
    apiserver.create(DEPLOYMENTS, deployment("a"))
    apiserver.create(DEPLOYMENTS, deployment("b"))
    apiserver.patch(f"{DEPLOYMENTS}/a", {"spec": {"replicas": 2}})
    watch = Watch(apiserver, DEPLOYMENTS)
    watches.append(watch)
    wait_until(lambda: watch.seen() == [("ADDED", "a"), ("ADDED", "b")], message="replay")
    assert watch.events[0][1]["metadata"]["generation"] == 2  # stamped, current objects
    apiserver.create(DEPLOYMENTS, deployment("c"))
    wait_until(lambda: watch.seen()[-1:] == [("ADDED", "c")], message="live event")
    named = Watch(apiserver, f"{DEPLOYMENTS}/b")  # a watch on one object
    watches.append(named)
    wait_until(lambda: named.seen() == [("ADDED", "b")], message="named replay")


def test_watch_from_a_resource_version_replays_only_newer_changes(
        apiserver: ApiServer, watches: list[Watch]) -> None:
    apiserver.create(DEPLOYMENTS, deployment("old"))
    apiserver.create(DEPLOYMENTS, deployment("gone"))
    since = call(apiserver, "GET", DEPLOYMENTS)[1]["metadata"]["resourceVersion"]
    apiserver.patch(f"{DEPLOYMENTS}/old", {"spec": {"replicas": 2}})
    apiserver.create(DEPLOYMENTS, deployment("new"))
    apiserver.delete(f"{DEPLOYMENTS}/gone")
    watch = Watch(apiserver, DEPLOYMENTS, resourceVersion=since)
    watches.append(watch)
    expected = [("MODIFIED", "old"), ("ADDED", "new"), ("DELETED", "gone")]
    wait_until(lambda: watch.seen() == expected, message=f"{expected} in {watch.seen()}")
    initial = Watch(apiserver, DEPLOYMENTS, sendInitialEvents="true",
                    resourceVersionMatch="NotOlderThan", allowWatchBookmarks="true")
    watches.append(initial)
    wait_until(lambda: [t for t, _ in initial.events] == ["ADDED", "ADDED", "BOOKMARK"])
    bookmark = initial.events[-1][1]["metadata"]
    assert bookmark["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_from_an_expired_resource_version_answers_410(
        apiserver: ApiServer, watches: list[Watch], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubeapi_store, "HISTORY_SIZE", 3)  # the store reads it at each commit
    for index in range(6):
        apiserver.create(CONFIGMAPS, {"metadata": {"name": f"c{index}"}})
    watch = Watch(apiserver, CONFIGMAPS, resourceVersion="2")
    watches.append(watch)
    wait_until(lambda: watch.events, message="an ERROR event")
    assert watch.events[0][0] == "ERROR" and watch.events[0][1]["code"] == 410


def test_no_change_is_lost_between_a_list_and_the_watch_that_follows(
        apiserver: ApiServer, watches: list[Watch]) -> None:
    names = [f"c{index}" for index in range(150)]

    def writer() -> None:
        for name in names:
            apiserver.create(CONFIGMAPS, {"metadata": {"name": name}})

    thread = threading.Thread(target=writer)
    thread.start()
    wait_until(lambda: apiserver.list(CONFIGMAPS), message="the writer started")
    _, listing = call(apiserver, "GET", CONFIGMAPS)
    watch = Watch(apiserver, CONFIGMAPS, resourceVersion=listing["metadata"]["resourceVersion"])
    watches.append(watch)
    thread.join()
    listed = [item["metadata"]["name"] for item in listing["items"]]

    def everything_seen() -> bool:
        return sorted(listed + [name for _, name in watch.seen()]) == sorted(names)

    wait_until(everything_seen, message="every object either listed or watched, exactly once")
    assert 0 < len(listed) < len(names)
    assert {type_ for type_, _ in watch.seen()} == {"ADDED"}


def test_watch_timeout_seconds_ends_the_stream(apiserver: ApiServer, watches: list[Watch]) -> None:
    watch = Watch(apiserver, CONFIGMAPS, timeoutSeconds="0.2")
    watches.append(watch)
    assert watch.ended.wait(5)


def test_stop_ends_open_watches_promptly() -> None:
    server = ApiServer().start()
    watch = Watch(server, CONFIGMAPS)
    started = time.monotonic()
    server.stop()
    assert watch.ended.wait(5) and time.monotonic() - started < 1.5
    watch.close()


# -- the request log ----------------------------------------------------------------------------

def test_request_log_records_method_path_and_query(apiserver: ApiServer) -> None:
    apiserver.requests.clear()
    apiserver.create(DEPLOYMENTS, deployment("web"))
    apiserver.list(DEPLOYMENTS, label_selector="app=web")
    apiserver.patch(f"{DEPLOYMENTS}/web/status", {"status": {}})
    apiserver.get("/apis/apps/v1")
    assert apiserver.requests.all() == [
        ("POST", DEPLOYMENTS, {}),
        ("GET", DEPLOYMENTS, {"labelSelector": "app=web"}),
        ("PATCH", f"{DEPLOYMENTS}/web/status", {}),
        ("GET", "/apis/apps/v1", {}),
    ]
    apiserver.requests.clear()
    assert apiserver.requests.all() == []


# -- real clients --------------------------------------------------------------------------------

def kubernetes_call(client: Any, method: str, path: str, body: Any = None,
                    content_type: str | None = None) -> Any:
    """A raw call with the kubernetes client: ``call_api`` changed shape in kubernetes 34."""
    headers = {"Content-Type": content_type} if content_type else None
    if hasattr(client, "param_serialize"):  # kubernetes >= 34 (OpenAPI generator 7)
        params = client.param_serialize(method, path, body=body, header_params=headers,
                                        auth_settings=["BearerToken"])
        response = client.call_api(*params)
        response.read()
        return client.response_deserialize(response, {"2XX": "object"}).data
    return client.call_api(path, method, body=body, header_params=headers,  # kubernetes <= 33
                           response_type="object", auth_settings=["BearerToken"],
                           _return_http_data_only=True)


def test_the_kubernetes_client_works(kubeconfig: str) -> None:
    kubernetes.config.load_kube_config(config_file=kubeconfig)
    client = kubernetes.client.ApiClient()

    def call(method: str, path: str, body: Any = None, content_type: str | None = None) -> Any:
        return kubernetes_call(client, method, path, body, content_type)

    created = call("POST", DEPLOYMENTS, deployment("web", app="web"))
    assert created["metadata"]["generation"] == 1
    assert call("GET", f"{DEPLOYMENTS}/web")["metadata"]["uid"] == created["metadata"]["uid"]
    patched = call("PATCH", f"{DEPLOYMENTS}/web", {"spec": {"replicas": 2}},
                   "application/merge-patch+json")
    assert patched["spec"]["replicas"] == 2
    typed = kubernetes.client.AppsV1Api(client).read_namespaced_deployment("web", "default")
    assert typed.metadata.generation == 2 and typed.metadata.labels == {"app": "web"}
    namespaces = kubernetes.client.CoreV1Api(client).list_namespace()
    assert [ns.metadata.name for ns in namespaces.items] == ["default"]
    with pytest.raises(kubernetes.client.ApiException) as caught:
        call("GET", f"{DEPLOYMENTS}/missing")
    assert caught.value.status == 404


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl binary on this machine")
def test_kubectl_works(kubeconfig: str, tmp_path: Path) -> None:
    def kubectl(*args: str) -> str:
        command = ["kubectl", "--kubeconfig", kubeconfig, "--cache-dir", str(tmp_path / "cache"),
                   *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, f"{command}: {done.stderr}"
        return done.stdout

    manifest = tmp_path / "backend.yaml"
    manifest.write_text(
        "apiVersion: finnexus.ai/v1alpha1\nkind: FinNexusDeployment\n"
        "metadata: {name: backend}\nspec: {replicas: 2}\n")
    assert "created" in kubectl("apply", "--validate=false", "-f", str(manifest))
    manifest.write_text(manifest.read_text().replace("replicas: 2", "replicas: 3"))
    assert "configured" in kubectl("apply", "--validate=false", "-f", str(manifest))
    listing = json.loads(kubectl("get", "fnd", "-o", "json"))
    assert [item["spec"]["replicas"] for item in listing["items"]] == [3]
    assert listing["items"][0]["metadata"]["generation"] == 2
    kubectl("annotate", "fnd", "backend", "finnexus.ai/request=promote")
    annotations = json.loads(kubectl("get", "fnd", "backend", "-o",
                                     "jsonpath={.metadata.annotations}"))
    assert annotations["finnexus.ai/request"] == "promote"
    assert "backend" in kubectl("get", "finnexusdeployments")
    assert "default" in kubectl("get", "namespaces")
    kubectl("delete", "fnd", "backend")
    assert json.loads(kubectl("get", "fnd", "-o", "json"))["items"] == []


# -- kopf ----------------------------------------------------------------------------------------

def _operator(apiserver: ApiServer) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=apiserver.url, insecure=True, token="emulator-token")

    return registry


def _runner(registry: kopf.OperatorRegistry, *args: str) -> KopfRunner:
    return KopfRunner(["run", "--standalone", *args], registry=registry, timeout=30)


def test_kopf_sees_objects_and_patches_status_through_the_kubernetes_client(
        apiserver: ApiServer, kubeconfig: str) -> None:
    kubernetes.config.load_kube_config(config_file=kubeconfig)
    registry = _operator(apiserver)
    seen: list[str] = []

    @kopf.on.event("finnexus.ai", "v1alpha1", "finnexusdeployments", registry=registry)
    def on_event(name: str, **_: Any) -> None:
        seen.append(name)

    @kopf.on.create("finnexus.ai", "v1alpha1", "finnexusdeployments", registry=registry)
    def on_create(name: str, namespace: str, body: kopf.Body, **_: Any) -> None:
        kopf.info(body, reason="Seen", message="posted as an Event with generateName")
        path = path_for("finnexus.ai/v1alpha1", "finnexusdeployments", namespace, name, "status")
        kubernetes_call(kubernetes.client.ApiClient(), "PATCH", path,
                        {"status": {"phase": "Pending"}}, "application/merge-patch+json")

    with _runner(registry, "--namespace", "default"):
        apiserver.create(FNDS, {"metadata": {"name": "backend"}, "spec": {"replicas": 1}})
        wait_until(lambda: "backend" in seen, message="kopf saw the object")

        def handled() -> bool:
            obj = apiserver.get(f"{FNDS}/backend") or {}
            annotations = obj.get("metadata", {}).get("annotations", {})
            return (obj.get("status", {}).get("phase") == "Pending"
                    and "kopf.zalando.org/last-handled-configuration" in annotations)

        wait_until(handled, message="the status patch and kopf's own annotation")
        wait_until(lambda: apiserver.list(path_for("v1", "events", "default")),
                   message="kopf posted an Event (with generateName)")
    events = apiserver.list(path_for("v1", "events", "default"))
    assert [event["reason"] for event in events] == ["Seen"]
    assert re.fullmatch(r"kopf-event-[a-z0-9]{5}", events[0]["metadata"]["name"])
    assert events[0]["involvedObject"]["name"] == "backend"


def test_kopf_daemon_and_finalizer_flow(apiserver: ApiServer) -> None:
    registry = _operator(apiserver)
    calls: list[str] = []

    @kopf.daemon("finnexus.ai", "v1alpha1", "finnexusdeployments", registry=registry,
                 cancellation_polling=0.1)  # kopf re-checks a stopping daemon this often
    async def daemon(name: str, stopped: kopf.DaemonStopped, **_: Any) -> None:
        calls.append(f"daemon:{name}")
        await stopped.wait()
        calls.append(f"daemon-stopped:{name}")

    @kopf.on.delete("finnexus.ai", "v1alpha1", "finnexusdeployments", registry=registry)
    def on_delete(name: str, **_: Any) -> None:
        calls.append(f"delete:{name}")

    with _runner(registry, "--all-namespaces"):
        apiserver.create(FNDS, {"metadata": {"name": "backend"}, "spec": {}})
        wait_until(lambda: "daemon:backend" in calls, message="the daemon started")
        wait_until(lambda: (apiserver.get(f"{FNDS}/backend") or {}).get("metadata", {}).get(
            "finalizers"), message="kopf added its finalizer")
        apiserver.delete(f"{FNDS}/backend")
        wait_until(lambda: apiserver.get(f"{FNDS}/backend") is None,
                   message="kopf removed its finalizer and the deletion completed")
    assert "daemon-stopped:backend" in calls and "delete:backend" in calls
