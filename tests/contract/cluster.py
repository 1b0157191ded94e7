"""The contract-test rig: emulated API + pod simulator (the test plays kubelet) + real operator."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_kit.jobs import JobSimulator
from finnexus_kit.kubelet import PodSimulator
from finnexus_kit.operator_process import OperatorProcess
from finnexus_kit.operator_thread import OperatorThread
from finnexus_operator.adapters.kube import USER_AGENT, KubeClient, load_api_client
from finnexus_operator.adapters.objects import ObjectStore
from finnexus_operator.adapters.resource import ResourceClient
from finnexus_operator.controller.executor import Executor
from finnexus_operator.core.actions import Action
from finnexus_operator.settings import Settings
from tests.helpers import wait_until

NS = "default"
CR_API = "finnexus.ai/v1alpha1"
CR_PLURAL = "finnexusdeployments"
NUDGE = "finnexus-contract-test-nudge"  # fieldManager of nudge() writes, to tell them apart
WRITES = ("POST", "PUT", "PATCH", "DELETE")
RENUDGE_SECONDS = 0.5


class _Handler(http.server.BaseHTTPRequestHandler):
    behaviour = "good"

    def do_GET(self) -> None:
        mode = self.server.behaviour  # type: ignore[attr-defined]
        if mode == "hang":
            time.sleep(5)
        code = 200 if mode == "good" else 503
        self.server.hits += 1  # type: ignore[attr-defined]
        try:
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"ok" if code == 200 else b"unhealthy")
        except OSError:
            pass  # the prober gave up (timeout): expected for "hang"

    def log_message(self, *args: Any) -> None:
        pass


class HealthServers:
    """Local HTTP servers answering /health: good (200), bad (503), hang (sleeps 5 s), and
    flip (good until ``flip("bad")``: a candidate that fails after it was checked)."""

    def __init__(self) -> None:
        self.servers: dict[str, http.server.ThreadingHTTPServer] = {}
        for mode in ("good", "bad", "hang", "flip"):
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            server.daemon_threads = True
            server.behaviour = "good" if mode == "flip" else mode  # type: ignore[attr-defined]
            server.hits = 0  # type: ignore[attr-defined]
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers[mode] = server

    def port(self, mode: str) -> int:
        return int(self.servers[mode].server_address[1])

    def flip(self, behaviour: str) -> None:
        """What the ``flip`` server answers from now on: good, bad or hang."""
        self.servers["flip"].behaviour = behaviour  # type: ignore[attr-defined]

    def hits(self, mode: str) -> int:
        return int(self.servers[mode].hits)  # type: ignore[attr-defined]

    def close(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()


def template(image: str, **labels: str) -> dict[str, Any]:
    """A pod template; the image tag decides the simulated pod's behaviour:
    ``app:good`` healthy, ``app:bad`` /health 503, ``app:hang`` /health hangs,
    ``app:flip`` as ``HealthServers.flip`` says, ``app:never`` pods never become Ready."""
    return {
        "metadata": {"labels": {"app": "web", **labels}},
        "spec": {"containers": [{
            "name": "web", "image": image,
            "ports": [{"name": "http", "containerPort": 8080}],
        }]},
    }


def resource(name: str = "web", image: str = "app:good", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "replicas": 2,
        "template": template(image),
        "ingress": {"host": f"{name}.example.com"},
        "healthCheck": {"intervalSeconds": 1, "timeoutSeconds": 1, "successThreshold": 2,
                        "failureThreshold": 2},
        "promotion": {"scaleDownDelaySeconds": 1},
        "progressDeadlineSeconds": 20,
    }
    body.update(spec)
    return {"apiVersion": CR_API, "kind": "FinNexusDeployment",
            "metadata": {"name": name, "namespace": NS}, "spec": body}


class Cluster:
    """What a contract test talks to."""

    def __init__(self, api: ApiServer, kubeconfig: str, health: HealthServers,
                 settings: Settings, process: OperatorProcess | None = None) -> None:
        self.api, self.kubeconfig, self.health, self.settings = api, kubeconfig, health, settings
        self.operator: OperatorThread | None = None
        self.jobs: JobSimulator | None = None  # set by running_cluster
        self.process = process  # the operator as a child process instead of a thread
        self._nudges = 0

    # -- operator lifecycle --
    def start_operator(self) -> None:
        if self.process is not None:
            self.process.start()
            return
        self.operator = OperatorThread(self.settings, self.api.url, self.kubeconfig).start()

    def stop_operator(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self.operator is not None:
            self.operator.stop()
            self.operator = None

    # -- the resource --
    def cr_path(self, name: str = "web") -> str:
        return path_for(CR_API, CR_PLURAL, NS, name)

    def create(self, body: dict[str, Any]) -> None:
        self.api.create(path_for(CR_API, CR_PLURAL, NS), body)

    def cr(self, name: str = "web") -> dict[str, Any]:
        found = self.api.get(self.cr_path(name))
        assert found is not None, f"FinNexusDeployment {name} is gone"
        return found

    def status(self, name: str = "web") -> dict[str, Any]:
        return dict(self.cr(name).get("status") or {})

    def set_image(self, image: str, name: str = "web") -> None:
        self.api.patch(self.cr_path(name), {"spec": {"template": template(image)}})

    def patch_spec(self, name: str = "web", **spec: Any) -> None:
        self.api.patch(self.cr_path(name), {"spec": spec})

    def request(self, value: str, name: str = "web") -> None:
        self.api.patch(self.cr_path(name),
                       {"metadata": {"annotations": {"finnexus.ai/request": value}}})

    def wait_phase(self, phase: str, name: str = "web", timeout: float = 15.0,
                   interval: float = 0.05, **fields: Any) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            st = self.status(name)
            ok = st.get("phase") == phase and all(st.get(k) == v for k, v in fields.items())
            return st if ok else None
        try:
            return wait_until(check, timeout=timeout,  # type: ignore[return-value]
                              interval=interval)
        except AssertionError:
            raise AssertionError(f"{name} never reached {phase} {fields}; status: "
                                 f"{self.status(name)}") from None

    # -- owned objects --
    def get(self, api_version: str, plural: str, name: str) -> dict[str, Any] | None:
        return self.api.get(path_for(api_version, plural, NS, name))

    def deployment(self, name: str) -> dict[str, Any] | None:
        return self.get("apps/v1", "deployments", name)

    def replicas(self, name: str) -> int | None:
        dep = self.deployment(name)
        return None if dep is None else int(dep["spec"]["replicas"])

    def service_color(self, name: str) -> str | None:
        svc = self.get("v1", "services", name)
        return None if svc is None else svc["spec"]["selector"].get("finnexus.ai/color")

    def ingress_backend(self, name: str = "web") -> str | None:
        ing = self.get("networking.k8s.io/v1", "ingresses", name)
        if ing is None:
            return None
        path = ing["spec"]["rules"][0]["http"]["paths"][0]
        return str(path["backend"]["service"]["name"])

    def events(self, name: str = "web") -> list[dict[str, Any]]:
        return [e for e in self.api.list(path_for("v1", "events", NS))
                if (e.get("involvedObject") or {}).get("name") == name]

    def requests(self, method: str, fragment: str) -> list[tuple[str, str, dict[str, str]]]:
        return [r for r in self.api.requests.all() if r[0] == method and fragment in r[1]]

    def writes(self) -> list[tuple[str, str, dict[str, str]]]:
        """Every write the API received (the test's and the operator's), but no nudge()."""
        return [r for r in self.api.requests.all()
                if r[0] in WRITES and r[2].get("fieldManager") != NUDGE]

    def operator_requests(self) -> list[tuple[str, str, dict[str, str]]]:
        """Every request of the operator: kopf's and its own client's (told by User-Agent)."""
        return self.api.requests.by_agent("kopf/") + self.api.requests.by_agent(USER_AGENT)

    def execute(self, todo: Sequence[Action], name: str = "web") -> None:
        """Apply ``todo`` with the operator's executor and API client (its User-Agent), as one
        of its passes would, for the resource as it stands (no spec: only what needs none)."""
        meta = self.cr(name)["metadata"]
        owner = {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]}

        async def run() -> None:
            kube = KubeClient(load_api_client(self.kubeconfig))
            executor = Executor(ObjectStore(kube, owner["uid"]), ResourceClient(kube), owner,
                                None)
            try:
                await executor.apply(todo, time.time())
            finally:
                await kube.close()
        asyncio.run(run())

    # -- reconcile passes --
    def passes(self, name: str = "web") -> int:
        """How many reconcile passes of ``name`` the operator has begun (its work queue
        counts them: a pass reads the cache, so no request marks its start)."""
        assert self.operator is not None and self.operator.runtime.queue is not None, \
            "passes() needs the operator in this process"
        return self.operator.runtime.queue.begun[(NS, name)]

    def nudge(self, name: str = "web") -> None:
        """Touch a test-only annotation: a watch event, so the operator runs a pass now rather
        than never (nothing is timed when nothing is in progress). Nothing in the operator reads
        the annotation; ``writes()`` leaves these patches out."""
        self._nudges += 1
        self.api.patch(f"{self.cr_path(name)}?fieldManager={NUDGE}", {"metadata": {
            "annotations": {"test.finnexus.ai/nudge": str(self._nudges)}}})

    def wait_passes(self, count: int = 1, name: str = "web", *, nudge: bool = True,
                    timeout: float = 15.0) -> None:
        """Return once ``count`` whole reconcile passes of ``name`` have run since this call.

        Passes of one object never overlap, so a pass has ended once the next one has begun:
        wait until ``count + 1`` passes have begun. With ``nudge`` each of them is asked for
        by a nudge(), the next one once the previous pass has begun, and again when no pass
        began for ``RENUDGE_SECONDS`` (the operator drops an event that arrives during a
        pass that ends without a requeue, as for an Invalid spec). Use it before asserting
        that nothing changes: whatever the operator would do, it has done."""
        start = seen = self.passes(name)
        nudged = time.monotonic()
        if nudge:
            self.nudge(name)

        def ended() -> bool:
            nonlocal seen, nudged
            begun = self.passes(name)
            if begun >= start + count + 1:
                return True
            if nudge and (begun > seen or time.monotonic() - nudged > RENUDGE_SECONDS):
                seen, nudged = begun, time.monotonic()
                self.nudge(name)
            return False
        try:
            wait_until(ended, timeout=timeout, interval=0.02)
        except AssertionError:
            raise AssertionError(f"{name}: {count} whole reconcile pass(es) never ran; passes "
                                 f"begun since: {self.passes(name) - start} (needed "
                                 f"{count + 1})") from None


@contextmanager
def running_cluster(api: ApiServer, kubeconfig: str, *, settings: Settings | None = None,
                    endpoint: Callable[[dict[str, Any]], int | None] | None = None,
                    process: OperatorProcess | None = None, pod_interval: float = 0.05,
                    ) -> Iterator[Cluster]:
    health = HealthServers()

    def by_image(dep: dict[str, Any]) -> int | None:
        image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
        mode = image.rsplit(":", 1)[-1].rstrip("0123456789")
        return None if mode == "never" else health.port(mode)

    cluster = Cluster(api, kubeconfig, health, settings or Settings(metrics_port=0, health_port=0),
                      process)
    simulator = PodSimulator(api, NS, endpoint=endpoint or by_image,
                             interval=pod_interval).start()
    jobs = cluster.jobs = JobSimulator(api, NS).start()  # the test plays the Job controller
    try:
        cluster.start_operator()
        yield cluster
    finally:
        cluster.stop_operator()
        jobs.stop()
        simulator.stop()
        health.close()
        assert not simulator.errors, simulator.errors
        assert not jobs.errors, jobs.errors
