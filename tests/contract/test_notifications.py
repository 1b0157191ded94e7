"""Notifications from the real operator to receivers on 127.0.0.1: exactly one per outcome,
the DESIGN §4 fields, no URL in any log line, and a hanging receiver never slows a rollback."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from finnexus_kit.apiserver import ApiServer
from finnexus_operator.settings import Settings
from tests.contract.cluster import NS, Cluster, resource, running_cluster, template
from tests.helpers import wait_until

SECRET = "T0KEN-s3cr3t-9f8e7d"  # part of every receiver URL: must never be logged


class Receiver:
    """A loopback HTTP receiver recording each POST's path and JSON body; ``hang`` holds
    every POST unanswered until ``release()``."""

    def __init__(self, *, hang: bool = False) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.in_flight = 0
        self._release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.posts.append((self.path, body))
                if hang:
                    receiver.in_flight += 1
                    receiver._release.wait(30)
                    receiver.in_flight -= 1
                try:
                    self.send_response(200)
                    self.end_headers()
                except OSError:
                    pass  # the operator gave up (timeout): expected when hanging

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{path}/{SECRET}"

    def events(self, path: str | None = None) -> list[str]:
        return [b.get("event") or b.get("text", "") for p, b in self.posts
                if path is None or p.startswith(f"/{path}/")]

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


def write_config(tmp_path: Path, receivers: list[dict[str, Any]]) -> str:
    for r in receivers:
        url_file = tmp_path / f"{r['name']}.url"
        url_file.write_text(r.pop("url") + "\n")
        r["urlFile"] = str(url_file)
    path = tmp_path / "notifications.yaml"
    path.write_text(yaml.safe_dump({"receivers": receivers}))
    return str(path)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture()
def hanging() -> Iterator[Receiver]:
    r = Receiver(hang=True)
    yield r
    r.close()


def analysis(measured: float) -> dict[str, Any]:
    return {"intervalSeconds": 1, "checks": 1, "metrics": [
        {"name": "error-rate", "query": f"vector({measured})", "max": 0.001}]}


def test_one_notification_per_outcome_with_the_fields_and_no_url_in_logs(
    apiserver: ApiServer, kubeconfig: str, prometheus_url: str, receiver: Receiver,
    tmp_path: Path, capfd: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, [
        {"name": "ops-webhook", "type": "webhook", "url": receiver.url("hook")},
        {"name": "ops-slack", "type": "slack", "url": receiver.url("slack"),
         "events": ["RolledBack", "Failed"]},
    ])
    settings = Settings(metrics_port=0, health_port=0, prometheus_url=prometheus_url,
                        notifications_config=config)
    with running_cluster(apiserver, kubeconfig, settings=settings) as cluster:
        run_outcomes(cluster, receiver)
    bodies = [b for p, b in receiver.posts if p.startswith("/hook/")]
    assert [b["event"] for b in bodies] == ["Promoted", "RolledBack", "RolledBack", "Invalid"]
    for body in bodies:
        assert set(body) == {"event", "namespace", "name", "phase", "revision",
                             "stableRevision", "reason", "metric", "value", "bound",
                             "startedAt", "finishedAt", "command"}
        assert body["namespace"] == NS and body["name"] == "web"
        assert body["command"] == "kubectl finnexus get web -n default"
    promoted, health, metric, invalid = bodies
    v1, v2, v3 = (revision(i) for i in ("app:good", "app:bad", "app:good3"))
    assert promoted["revision"] == v1 and promoted["stableRevision"] == v1
    assert promoted["startedAt"] and promoted["finishedAt"] and promoted["metric"] is None
    assert health["revision"] == v2 and health["stableRevision"] == v1
    assert "health checks failed" in health["reason"]
    assert (health["metric"], health["value"], health["bound"]) == (None, None, None)
    assert metric["revision"] == v3 and metric["phase"] in ("RollingBack", "RolledBack")
    assert (metric["metric"], metric["value"], metric["bound"]) == ("error-rate", 0.05, 0.001)
    assert "error-rate 0.05 > 0.001" in metric["reason"]
    assert invalid["phase"] == "Invalid" and "targetPort" in invalid["reason"]
    slack = [b for p, b in receiver.posts if p.startswith("/slack/")]
    assert len(slack) == 2  # only the events it asked for
    text = json.dumps(slack[1])
    for needle in ("default/web", "rolled back", "Impact", "Started", "error-rate 0.05 > 0.001",
                   v3, "kubectl finnexus get web -n default"):
        assert needle in text, needle
    logs = capfd.readouterr()
    assert SECRET not in logs.out + logs.err
    assert str(receiver.server.server_address[1]) not in logs.out + logs.err
    assert "ops-webhook" in logs.out + logs.err  # the receiver is named instead


def run_outcomes(cluster: Cluster, receiver: Receiver) -> None:
    """Promoted (first revision), RolledBack by health, RolledBack by a metric, Invalid; after
    each, a few more passes run, so a repeated notification would show."""
    cluster.create(resource())
    cluster.wait_phase("Stable")
    wait_until(lambda: receiver.events("hook") == ["Promoted"], timeout=10)
    cluster.wait_passes(2)
    cluster.set_image("app:bad")
    cluster.wait_phase("RolledBack", timeout=20)
    cluster.wait_passes(2)
    cluster.patch_spec(template=template("app:good3"), analysis=analysis(0.05))
    cluster.wait_phase("RolledBack", timeout=20, rejectedRevision=revision("app:good3"))
    cluster.wait_passes(2)
    cluster.patch_spec(service={"port": 80, "targetPort": "nope"})
    cluster.wait_phase("Invalid")
    cluster.wait_passes(3)
    wait_until(lambda: len(receiver.events("hook")) >= 4, timeout=10)
    cluster.wait_passes(2)  # a duplicate, if any, would come from one of these passes


def test_a_hanging_receiver_never_slows_a_rollback(
    apiserver: ApiServer, kubeconfig: str, receiver: Receiver, hanging: Receiver,
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, [
        {"name": "stuck", "type": "webhook", "url": hanging.url("hook"),
         "events": ["Promoted", "RolledBack"]},
        {"name": "fine", "type": "webhook", "url": receiver.url("hook")},
    ])
    settings = Settings(metrics_port=0, health_port=0, notifications_config=config)
    with running_cluster(apiserver, kubeconfig, settings=settings) as cluster:
        cluster.create(resource(promotion={"auto": False, "scaleDownDelaySeconds": 1}))
        cluster.wait_phase("Stable")
        wait_until(lambda: hanging.in_flight == 1, timeout=10)  # the Promoted POST hangs
        cluster.set_image("app:good2")
        cluster.wait_phase("AwaitingPromotion")
        started = time.monotonic()
        cluster.request("abort")
        cluster.wait_phase("RolledBack", timeout=10)
        took = time.monotonic() - started
        assert hanging.in_flight == 1 and hanging.events() == ["Promoted"]  # still hanging
        wait_until(lambda: receiver.events() == ["Promoted", "RolledBack"], timeout=5)
        print(f"\nabort -> RolledBack with a hanging receiver: {took:.2f}s")
        assert took < 5.0  # the POST timeout: the pass never waited for the receiver


def revision(image: str) -> str:
    import hashlib

    canonical = json.dumps(template(image), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]
