"""The emulator's request hooks: faults, faults after the write, cut watch streams, the hook
after a write, the request a store listener is told about, request times."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_kit.kubeapi.hooks import Answer, Call, CutStream, Fault
from finnexus_kit.kubeapi.store import WatchEvent
from tests.kit.test_apiserver import CONFIGMAPS, Watch, call, watches  # noqa: F401


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}


class Table:
    """Answers ``answer`` to the requests ``match`` picks; records what ``after`` saw."""

    def __init__(self, answer: Answer, match: Any = lambda call: True) -> None:
        self.answer, self.match = answer, match
        self.before_calls: list[Call] = []
        self.after_calls: list[tuple[str, str, int, bool]] = []
        self.api: ApiServer | None = None

    def before(self, call: Call) -> Answer:
        self.before_calls.append(call)
        return self.answer if self.match(call) else None

    def after(self, call: Call, status: int) -> None:
        stored = None
        if self.api is not None and self.api.emulator is not None and call.method == "POST":
            stored = self.api.emulator.object_at(call.path, call.body["metadata"]["name"])
        self.after_calls.append((call.method, call.path, status, stored is not None))


@pytest.fixture()
def hooked(apiserver: ApiServer) -> Iterator[tuple[ApiServer, list[Table]]]:
    tables: list[Table] = []
    yield apiserver, tables
    for table in tables:
        apiserver.remove_hook(table)


def test_a_fault_answers_instead_and_nothing_changes(
        hooked: tuple[ApiServer, list[Table]]) -> None:
    api, tables = hooked
    table = Table(Fault(429, "TooManyRequests", "slow down", headers={"Retry-After": "2"}),
                  match=lambda c: c.write)
    tables.append(table)
    api.add_hook(table)
    status, body = call(api, "POST", CONFIGMAPS, configmap("a"))
    assert status == 429 and body["reason"] == "TooManyRequests" and body["code"] == 429
    assert api.get(f"{CONFIGMAPS}/a") is None
    assert [c.body["metadata"]["name"] for c in table.before_calls if c.write] == ["a"]
    assert not [a for a in table.after_calls if a[0] == "POST"]  # not served: no after


def test_a_fault_after_the_write_makes_the_change_and_answers_the_error(
        hooked: tuple[ApiServer, list[Table]]) -> None:
    api, tables = hooked
    table = Table(Fault(504, "Timeout", commit=True), match=lambda c: c.method == "POST")
    table.api = api
    tables.append(table)
    api.add_hook(table)
    status, _ = call(api, "POST", CONFIGMAPS, configmap("b"))
    assert status == 504
    assert api.get(f"{CONFIGMAPS}/b") is not None
    # after() ran once the change was committed, with the status it was served with
    assert ("POST", CONFIGMAPS, 201, True) in table.after_calls


def test_a_cut_watch_stream_ends_without_a_clean_end(
        hooked: tuple[ApiServer, list[Table]], watches: list[Watch]) -> None:  # noqa: F811
    api, tables = hooked
    table = Table(CutStream(0.2), match=lambda c: c.watch)
    tables.append(table)
    api.add_hook(table)
    started = time.monotonic()
    watch = Watch(api, CONFIGMAPS)
    watches.append(watch)
    assert watch.ended.wait(5) and time.monotonic() - started < 2


def test_drop_watches_cuts_the_open_streams_of_one_client(
        apiserver: ApiServer, watches: list[Watch]) -> None:  # noqa: F811
    watch = Watch(apiserver, CONFIGMAPS)
    watches.append(watch)
    time.sleep(0.1)
    assert apiserver.drop_watches("kopf/") == 0  # not that client: left alone
    assert not watch.ended.wait(0.3)
    assert apiserver.drop_watches("") == 1
    assert watch.ended.wait(5)


def test_store_listeners_know_which_request_made_the_change(apiserver: ApiServer) -> None:
    seen: list[tuple[str, str | None]] = []

    def listener(event: WatchEvent) -> None:
        emulator = apiserver.emulator
        assert emulator is not None
        current = emulator.current
        seen.append((event.obj["metadata"]["name"], current.method if current else None))

    apiserver.in_loop(lambda: apiserver.emulator.store.listeners.append(  # type: ignore[union-attr]
        listener))
    apiserver.create(CONFIGMAPS, configmap("c"))
    apiserver.patch(f"{CONFIGMAPS}/c", {"data": {"k": "v"}})
    assert seen == [("c", "POST"), ("c", "PATCH")]


def test_the_request_log_keeps_arrival_times(apiserver: ApiServer) -> None:
    before = time.monotonic()
    apiserver.get(path_for("v1", "configmaps", "default", "nope"))
    timed = apiserver.requests.timed()
    assert timed and before <= timed[-1][0] <= time.monotonic()
    assert timed[-1][1][1].endswith("/configmaps/nope")
