"""One run of the scale benchmark at one N: deploy N resources, release them all at once,
stay idle, restart the operator; the figures of that run (:class:`Figures`)."""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.scale.operator import OperatorUnderTest, cpu_seconds
from bench.scale.world import NAMESPACE, World

__all__ = ["Figures", "Options", "resource", "run_once"]

RECONCILES = "finnexus_reconcile_duration_seconds_count"
STEPS = {  # step: (observation that allows it, the operator's write that makes it)
    "deploy": ("template", "scaled"),
    "switch": ("ready", "switch"),
    "promote": ("switch", "stable"),
}


@dataclasses.dataclass(frozen=True)
class Options:
    replicas: int = 1
    timeout: float = 300.0  # per phase
    quiet_seconds: float = 20.0
    ready_delay: float = 0.0
    poll: float = 0.25
    operator_args: tuple[str, ...] = ()  # extra flags of the operator under test


@dataclasses.dataclass
class Figures:
    n: int
    deployed_s: float | None = None
    released_s: float | None = None
    latency: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    requests_first: dict[tuple[str, str], int] = dataclasses.field(default_factory=dict)
    requests_release: dict[tuple[str, str], int] = dataclasses.field(default_factory=dict)
    idle_per_object_minute: float | None = None
    idle_requests: dict[tuple[str, str], int] = dataclasses.field(default_factory=dict)
    cpu_first_s: float = 0.0
    cpu_release_s: float = 0.0
    cpu_idle_s: float = 0.0
    cpu_total_s: float = 0.0
    world_cpu_release_s: float = 0.0  # the API + pod simulator process, during the release
    rss_kb: int = 0
    rss_after_start_kb: int = 0
    one_release_s: float | None = None  # one resource released while the N-1 others idle
    one_release_latency: dict[str, float] = dataclasses.field(default_factory=dict)
    restart_s: float | None = None
    restart_metrics_s: float | None = None
    restart_method: str = ""
    notes: list[str] = dataclasses.field(default_factory=list)


def resource(name: str, image: str, replicas: int) -> dict[str, Any]:
    """One FinNexusDeployment of the benchmark: no analysis, 1 s health rounds, one round."""
    return {
        "apiVersion": "finnexus.ai/v1alpha1", "kind": "FinNexusDeployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "template": {"metadata": {"labels": {"app": "bench"}}, "spec": {"containers": [{
                "name": "app", "image": image,
                "ports": [{"name": "http", "containerPort": 8080}]}]}},
            "healthCheck": {"intervalSeconds": 1, "timeoutSeconds": 1, "successThreshold": 1,
                            "failureThreshold": 3},
            "promotion": {"scaleDownDelaySeconds": 1},
            "progressDeadlineSeconds": 3600,
        },
    }


def _wait(what: str, check: Callable[[], bool], timeout: float, poll: float,
          alive: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if not alive():
            raise RuntimeError(f"the operator exited while waiting for {what}")
        time.sleep(poll)
    return False


def _write_quiet(world: World, since: int, opts: Options, alive: Callable[[], bool],
                 quiet: float = 2.0) -> bool:
    """Wait until the operator has made no write for ``quiet`` seconds: its work is done."""
    def done() -> bool:
        last = world.ask("last_write", since)
        return last is None or time.monotonic() - last >= quiet
    return _wait("the operator's last write", done, opts.timeout, opts.poll, alive)


def _latencies(releases: dict[str, dict[str, Any]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = collections.defaultdict(list)
    for rel in releases.values():
        for step, (seen, made) in STEPS.items():
            if rel.get(seen) is not None and rel.get(made) is not None:
                out[step].append(rel[made] - rel[seen])
    return dict(out)


def run_once(n: int, workdir: Path, opts: Options, say: Callable[[str], None]) -> Figures:
    """The whole story at one N; every child process is stopped on the way out."""
    workdir.mkdir(parents=True, exist_ok=True)
    fig = Figures(n)
    names = [f"app-{i:04d}" for i in range(n)]
    world = World(workdir, replicas=opts.replicas, ready_delay=opts.ready_delay)
    op = OperatorUnderTest(world.kubeconfig, workdir / "operator.log", opts.operator_args)
    try:
        op.start()
        if not _wait("its /metrics", lambda: op.metric(RECONCILES) is not None, 60, 0.1,
                     op.alive):
            raise RuntimeError("the operator's /metrics never answered")
        fig.rss_after_start_kb = op.peak_rss_kb()

        def progress(key: str) -> Callable[[], bool]:
            return lambda: bool(world.ask("progress")[key] >= n)

        # 1. the first deployment
        cpu0, mark0 = op.cpu_seconds(), world.ask("mark")
        t0 = time.monotonic()
        world.ask("create", [resource(name, "app:v1", opts.replicas) for name in names])
        if not _wait("the first deployment", progress("stable"), opts.timeout, opts.poll,
                     op.alive):
            fig.notes.append(f"first deployment: timeout after {opts.timeout:.0f} s "
                             f"({world.ask('progress')})")
            return fig
        stable = [r["stable"] for r in world.ask("releases").values()]
        fig.deployed_s = max(stable) - t0
        say(f"N={n}: all deployed in {fig.deployed_s:.2f} s")
        _wait("settling", progress("settled"), opts.timeout, opts.poll, op.alive)
        _write_quiet(world, mark0, opts, op.alive)  # the passes that follow Stable end
        mark1 = world.ask("mark")
        fig.requests_first = world.ask("count", mark0, mark1)
        fig.cpu_first_s = op.cpu_seconds() - cpu0

        # 2. the release, all at once
        cpu1, world1 = op.cpu_seconds(), cpu_seconds(world.pid)
        t1 = time.monotonic()
        template = resource("any", "app:v2", opts.replicas)["spec"]["template"]
        world.ask("patch_all", names, {"spec": {"template": template}})
        if not _wait("the release", progress("stable"), opts.timeout, opts.poll, op.alive):
            fig.notes.append(f"release: timeout after {opts.timeout:.0f} s "
                             f"({world.ask('progress')})")
            return fig
        releases = world.ask("releases")
        fig.released_s = max(r["stable"] for r in releases.values()) - t1
        say(f"N={n}: all released in {fig.released_s:.2f} s")
        if not _wait("the old colours scaled down", progress("settled"), opts.timeout,
                     opts.poll, op.alive):
            fig.notes.append("release: the old colours were not all scaled down")
        if not _write_quiet(world, mark1, opts, op.alive):  # the passes after the scale-down
            fig.notes.append("release: the operator never stopped writing")
        mark2 = world.ask("mark")
        fig.requests_release = world.ask("count", mark1, mark2)
        fig.cpu_release_s = op.cpu_seconds() - cpu1
        fig.world_cpu_release_s = cpu_seconds(world.pid) - world1
        fig.latency = _latencies(world.ask("releases"))

        # 3. idle
        cpu2 = op.cpu_seconds()
        time.sleep(opts.quiet_seconds)
        mark3 = world.ask("mark")
        fig.idle_requests = world.ask("count", mark2, mark3)
        fig.idle_per_object_minute = (sum(fig.idle_requests.values()) / n
                                      / opts.quiet_seconds * 60)
        fig.cpu_idle_s = op.cpu_seconds() - cpu2
        fig.cpu_total_s = op.cpu_seconds()
        fig.rss_kb = op.peak_rss_kb()
        say(f"N={n}: idle {fig.idle_per_object_minute:.2f} requests/object/minute")

        # 3b. one release among N idle resources (issue 9: "as fast as a release alone")
        first = names[0]
        t3 = time.monotonic()
        template = resource("any", "app:v3", opts.replicas)["spec"]["template"]
        world.ask("patch_all", [first], {"spec": {"template": template}})

        def one_released() -> bool:
            rel = world.ask("releases").get(first) or {}
            return rel.get("stable") is not None and (rel.get("template") or 0) >= t3
        if _wait("one release", one_released, opts.timeout, 0.02, op.alive):
            rel = world.ask("releases")[first]
            fig.one_release_s = rel["stable"] - rel["template"]
            fig.one_release_latency = {k: v[0] for k, v in _latencies({first: rel}).items()
                                       if v}
            say(f"N={n}: one release among {n - 1} idle in {fig.one_release_s:.2f} s")
        else:
            fig.notes.append("one release among the idle: timeout")

        # 4. restart: start -> every resource reconciled once
        op.stop()
        mark4 = world.ask("mark")
        op.start()
        started = op.started
        up: list[float] = []

        def reconciled() -> bool:
            count = op.metric(RECONCILES)
            if count is not None and not up:
                up.append(time.monotonic() - started)
            return count is not None and count >= n
        if _wait("the restart", reconciled, min(opts.timeout, 120), 0.05, op.alive):
            fig.restart_s, fig.restart_method = time.monotonic() - started, "reconcile count"
        elif (last := world.ask("first_gets", mark4, names)) is not None:
            fig.restart_s = last - started
            fig.restart_method = "first GET of each resource (passes not counted)"
            fig.notes.append("restart: the reconcile count never reached N; "
                             "measured by the first GET of each resource")
        else:
            fig.notes.append("restart: not every resource was reconciled within the timeout")
        fig.restart_metrics_s = up[0] if up else None
        say(f"N={n}: restart -> all reconciled in "
            f"{'-' if fig.restart_s is None else f'{fig.restart_s:.2f} s'}")
        errors = world.ask("errors")
        if errors:
            fig.notes.append(f"pod simulator errors: {errors[:3]}")
        return fig
    finally:
        op.stop()
        world.close()
