"""The per-object work loop: retries with backoff (409s included), requeues, serial passes."""

from __future__ import annotations

import asyncio

from finnexus_operator import errors
from finnexus_operator.controller.reconcile import PassResult
from finnexus_operator.controller.workqueue import WorkQueue


async def test_conflicts_are_retried_until_a_pass_succeeds() -> None:
    calls: list[float] = []
    done = asyncio.Event()

    async def reconcile(namespace: str, name: str) -> PassResult:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) < 3:
            raise errors.Conflict("409", status=409)
        done.set()
        return PassResult(None)

    queue = WorkQueue(reconcile, min_backoff=0.01, max_backoff=0.05)
    queue.notify("ns", "web")
    await asyncio.wait_for(done.wait(), 2)
    assert len(calls) == 3
    assert calls[2] - calls[1] >= calls[1] - calls[0]  # backoff grows
    await queue.stop()


async def test_requeue_after_runs_the_next_pass_without_an_event() -> None:
    passes = 0
    done = asyncio.Event()

    async def reconcile(namespace: str, name: str) -> PassResult:
        nonlocal passes
        passes += 1
        if passes == 3:
            done.set()
            return PassResult(None)
        return PassResult(0.01)

    queue = WorkQueue(reconcile)
    queue.notify("ns", "web")
    await asyncio.wait_for(done.wait(), 2)
    assert passes == 3
    await queue.stop()


async def test_passes_for_one_object_never_overlap_and_events_wake_the_worker() -> None:
    running = 0
    overlap = False
    passes = 0

    async def reconcile(namespace: str, name: str) -> PassResult:
        nonlocal running, overlap, passes
        running += 1
        overlap = overlap or running > 1
        await asyncio.sleep(0.02)
        running -= 1
        passes += 1
        return PassResult(60.0)  # only an event brings the next pass this soon

    queue = WorkQueue(reconcile)
    for _ in range(5):
        queue.notify("ns", "web")
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.15)
    assert not overlap and 2 <= passes <= 3  # coalesced: one in flight, one queued
    queue.notify("ns", "web", resource_version="7")
    await asyncio.sleep(0.05)
    assert passes >= 3
    assert queue.active == 1
    queue.notify("ns", "web", deleted=True)
    await asyncio.sleep(0.01)
    assert queue.active == 0


async def test_the_echo_of_our_own_status_write_is_ignored() -> None:
    passes = 0

    async def reconcile(namespace: str, name: str) -> PassResult:
        nonlocal passes
        passes += 1
        return PassResult(60.0, resource_version="42")

    queue = WorkQueue(reconcile)
    queue.notify("ns", "web")
    await asyncio.sleep(0.02)
    queue.notify("ns", "web", resource_version="42")  # our own write coming back
    await asyncio.sleep(0.02)
    assert passes == 1
    queue.notify("ns", "web", resource_version="43")  # somebody else's change
    await asyncio.sleep(0.02)
    assert passes == 2
    await queue.stop()


async def test_a_crashing_pass_is_logged_and_retried() -> None:
    passes = 0
    done = asyncio.Event()

    async def reconcile(namespace: str, name: str) -> PassResult:
        nonlocal passes
        passes += 1
        if passes == 1:
            raise RuntimeError("boom")
        done.set()
        return PassResult(None)

    queue = WorkQueue(reconcile, min_backoff=0.01)
    queue.notify("ns", "web")
    await asyncio.wait_for(done.wait(), 2)
    await queue.stop()


async def test_an_event_during_a_pass_that_needs_no_requeue_is_not_lost() -> None:
    """A pass that ends with no requeue (an Invalid spec) must still look again when an
    event (an edit fixing the spec) arrived while it ran."""
    passes = 0
    in_pass = asyncio.Event()
    release = asyncio.Event()
    second = asyncio.Event()

    async def reconcile(namespace: str, name: str) -> PassResult:
        nonlocal passes
        passes += 1
        if passes == 1:
            in_pass.set()
            await release.wait()
        else:
            second.set()
        return PassResult(None)

    queue = WorkQueue(reconcile)
    queue.notify("ns", "web")
    await asyncio.wait_for(in_pass.wait(), 2)
    queue.notify("ns", "web", resource_version="7")  # the edit, during the first pass
    release.set()
    await asyncio.wait_for(second.wait(), 2)
    assert passes == 2
    await queue.stop()


async def test_a_retry_after_is_waited_out_even_when_events_arrive() -> None:
    calls: list[float] = []
    done = asyncio.Event()

    async def reconcile(namespace: str, name: str) -> PassResult:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) == 1:
            raise errors.ApiUnavailable("429", status=429, retry_after=0.3)
        done.set()
        return PassResult(None)

    queue = WorkQueue(reconcile, min_backoff=0.01, max_backoff=5.0)
    queue.notify("ns", "web")
    for _ in range(10):  # watch events during the wait do not cut it short
        await asyncio.sleep(0.02)
        queue.notify("ns", "web")
    await asyncio.wait_for(done.wait(), 2)
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.3
    await queue.stop()


async def test_a_fixed_pool_runs_at_most_workers_passes_at_once() -> None:
    running = peak = passes = 0
    all_done = asyncio.Event()

    async def reconcile(namespace: str, name: str) -> PassResult:
        nonlocal running, peak, passes
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        passes += 1
        if passes == 40:
            all_done.set()
        return PassResult(None)

    queue = WorkQueue(reconcile, workers=4)
    for i in range(40):
        queue.notify("ns", f"r{i}")
    await asyncio.wait_for(all_done.wait(), 5)
    assert peak == 4 == queue.busy_peak
    # Idle: nothing per object is left, only the pool and its one timer task.
    assert queue.active == 0 and queue.tasks == 4 + 1
    await queue.stop()


async def test_events_for_a_queued_key_are_deduplicated() -> None:
    passes: list[str] = []
    gate = asyncio.Event()

    async def reconcile(namespace: str, name: str) -> PassResult:
        passes.append(name)
        if name == "blocker":
            await gate.wait()
        return PassResult(None)

    queue = WorkQueue(reconcile, workers=1)
    queue.notify("ns", "blocker")
    await asyncio.sleep(0.01)
    for _ in range(5):  # the only worker is busy: web waits in the queue, once
        queue.notify("ns", "web")
    gate.set()
    await asyncio.sleep(0.05)
    assert passes == ["blocker", "web"]
    await queue.stop()


async def test_delayed_requeues_come_from_one_heap_in_time_order() -> None:
    order: list[str] = []
    done = asyncio.Event()
    first: set[str] = set()

    async def reconcile(namespace: str, name: str) -> PassResult:
        if name in first:
            order.append(name)
            if len(order) == 3:
                done.set()
            return PassResult(None)
        first.add(name)
        return PassResult({"a": 0.15, "b": 0.05, "c": 0.1}[name])

    queue = WorkQueue(reconcile)
    for name in "abc":
        queue.notify("ns", name)
    await asyncio.wait_for(done.wait(), 2)
    assert order == ["b", "c", "a"]
    assert queue.tasks == queue.workers + 1  # timers are heap entries, not tasks
    await queue.stop()


async def test_an_event_that_is_the_echo_of_the_pass_own_write_does_not_rerun_it() -> None:
    """The watch event of our own write can arrive before the write's answer: it is held
    until the pass ends, then dropped if it carries the version the write returned."""
    own: set[str] = set()
    passes = 0

    async def reconcile(namespace: str, name: str) -> PassResult:
        nonlocal passes
        passes += 1
        queue.notify("ns", "web", cause=("Deployment", "ns", "web-blue", "7"))  # echo first
        own.add("7")  # ... then the answer, recorded as ours
        queue.notify("ns", "web", cause=("Pod", "ns", "web-blue-1", "8")) if passes == 2 \
            else None
        return PassResult(None)

    queue = WorkQueue(reconcile, is_own=lambda cause: cause[3] in own)
    queue.notify("ns", "web")
    await asyncio.sleep(0.05)
    assert passes == 1  # its own echo: no second pass
    queue.notify("ns", "web", cause=("Pod", "ns", "web-blue-1", "9"))
    await asyncio.sleep(0.05)
    assert passes == 3  # a real change during the pass runs it once more
    assert list(queue.causes[("ns", "web")]) == ["event", "Pod", "Pod"]
    await queue.stop()
