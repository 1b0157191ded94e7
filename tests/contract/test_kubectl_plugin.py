"""``kubectl finnexus`` as users run it (a subprocess) against the emulated API and the real
operator: every command, every error and every exit code of DESIGN §4."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from finnexus_kit.apiserver import path_for
from finnexus_kit.kubeapi.hooks import Call, Fault
from finnexus_operator.kubectl import cli
from finnexus_operator.kubectl.cli import COMMANDS
from tests.contract.cluster import Cluster, resource, template
from tests.contract.plugin import (
    PLUGIN,
    Run,
    kubectl_finnexus,
    plugin_env,
    write_kubeconfig,
)
from tests.helpers import wait_until


def in_process(args: list[str], kubeconfig: str, capsys: pytest.CaptureFixture[str]) -> Run:
    """The plugin's main() in this process (the same code without an interpreter start: for
    the long matrices; every command and exit code also runs as a subprocess below)."""
    capsys.readouterr()
    try:
        code = cli.main([*args, "--kubeconfig", kubeconfig] if "--help" not in args else args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return Run(code, out, err)


def _one_clean_line(err: str) -> None:
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("error: "), err


def test_manual_promotion_round_trip(cluster: Cluster) -> None:
    kc = cluster.kubeconfig
    cluster.create(resource(promotion={"auto": False, "scaleDownDelaySeconds": 1}))
    cluster.wait_phase("Stable")
    run = kubectl_finnexus(["status", "web"], kc)
    assert run.code == 0 and run.out.startswith("Stable: "), run
    cluster.set_image("app:good2")
    cluster.wait_phase("AwaitingPromotion")
    run = kubectl_finnexus(["status", "web"], kc)
    assert run.code == 2 and run.out.startswith("AwaitingPromotion: "), run  # undecided
    run = kubectl_finnexus(["get", "web"], kc)
    assert run.code == 0, run
    assert "waiting for a promote request (kubectl finnexus promote web -n default)" in run.out
    green = next(line for line in run.out.splitlines() if "green: web-green" in line)
    assert "preview,candidate" in green and "2/2" in green and "app:good2" in green, run.out
    blue = next(line for line in run.out.splitlines() if "blue: web-blue" in line)
    assert "active,stable" in blue and "app:good " in blue + " ", run.out
    assert "backend web-blue" in run.out and "AwaitingPromotion" in run.out
    assert "Events (last " in run.out and "AwaitingPromotion   " in run.out
    run = kubectl_finnexus(["promote", "web"], kc)
    assert run.code == 0 and "accepted" in run.out, run
    run = kubectl_finnexus(["status", "web", "--watch", "--timeout", "30s"], kc)
    assert run.code == 0 and run.out.splitlines()[-1].startswith("Stable: "), run
    assert cluster.status()["activeColor"] == "green"
    run = kubectl_finnexus(["history", "web"], kc)
    assert run.code == 0, run
    results = [line.split()[2] for line in run.out.splitlines()[1:]]
    assert results == ["Promoted", "Promoted"], run
    run = kubectl_finnexus(["history", "web", "-o", "json"], kc)
    assert [h["result"] for h in json.loads(run.out)] == ["Promoted", "Promoted"]


def test_a_refused_promote_exits_1_with_the_reason_and_status_times_out(
        cluster: Cluster) -> None:
    kc = cluster.kubeconfig
    cluster.create(resource(image="app:never"))  # its pods never become Ready
    cluster.wait_phase("Deploying")
    run = kubectl_finnexus(["promote", "web"], kc)
    assert run.code == 1, run
    assert "refused by the operator: candidate is Deploying; not healthy yet" in run.err, run
    _one_clean_line(run.err)
    assert "finnexus.ai/request" not in (cluster.cr()["metadata"].get("annotations") or {})
    started = time.monotonic()
    run = kubectl_finnexus(["status", "web", "--timeout", "2s"], kc)
    assert run.code == 2 and "timed out after 2s" in run.err, run
    assert time.monotonic() - started < 15
    run = kubectl_finnexus(["get", "web"], kc)
    assert "candidate blue pods Ready (0/2)" in run.out, run


def test_status_watch_ends_on_a_rollback_with_exit_1(cluster: Cluster) -> None:
    cluster.create(resource())
    cluster.wait_phase("Stable")
    cluster.patch_spec(paused=True, template=template("app:bad"))  # waits for paused=false
    wait_until(lambda: "waits for spec.paused=false" in cluster.status()["message"])
    process = _popen(["status", "web", "--watch", "--timeout", "60s"], cluster.kubeconfig)
    assert process.stdout is not None
    first = process.stdout.readline()
    # "Stable", but not for the template of the spec: undecided, it keeps watching
    assert first.startswith("Stable: paused: revision "), first
    cluster.patch_spec(paused=False)
    rest, err = process.communicate(timeout=60)
    assert process.returncode == 1, (first, rest, err)
    assert rest.splitlines()[-1].startswith("RolledBack: "), rest


def test_a_request_without_an_operator_times_out_with_exit_2(cluster: Cluster) -> None:
    cluster.create(resource())
    cluster.wait_phase("Stable")
    cluster.stop_operator()
    run = kubectl_finnexus(["abort", "web", "--timeout", "1s"], cluster.kubeconfig)
    assert run.code == 2 and "still pending (is the operator running?)" in run.err, run


def test_abort_retry_undo_are_accepted(cluster: Cluster) -> None:
    kc = cluster.kubeconfig
    cluster.create(resource(promotion={"auto": False, "scaleDownDelaySeconds": 30}))
    cluster.wait_phase("Stable")
    cluster.set_image("app:good2")
    cluster.wait_phase("AwaitingPromotion")
    assert kubectl_finnexus(["abort", "web"], kc).code == 0
    cluster.wait_phase("RolledBack")
    assert kubectl_finnexus(["status", "web"], kc).code == 1
    run = kubectl_finnexus(["retry", "web"], kc)
    assert run.code == 0, run
    cluster.wait_phase("AwaitingPromotion")
    assert kubectl_finnexus(["promote", "web"], kc).code == 0
    cluster.wait_phase("Stable", activeColor="green")
    run = kubectl_finnexus(["undo", "web"], kc)
    assert run.code == 0, run
    cluster.wait_phase("Stable", activeColor="blue")
    run = kubectl_finnexus(["undo", "nope"], kc)
    assert run.code == 3, run


def test_not_found_is_exit_3_for_every_command(cluster: Cluster,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    run = kubectl_finnexus(["status", "nope"], cluster.kubeconfig)
    assert run.code == 3 and "finnexusdeployment default/nope not found" in run.err, run
    _one_clean_line(run.err)
    for args in (["get", "nope"], ["get", "nope", "-w"], ["promote", "nope"], ["pause", "nope"],
                 ["resume", "nope"], ["history", "nope"], ["status", "nope", "--watch"]):
        run = in_process(args, cluster.kubeconfig, capsys)  # same code, no interpreter start
        assert run.code == 3 and "finnexusdeployment default/nope not found" in run.err, run
        _one_clean_line(run.err)


def test_pause_resume_and_list(cluster: Cluster) -> None:
    kc = cluster.kubeconfig
    cluster.create(resource())
    cluster.wait_phase("Stable")
    assert kubectl_finnexus(["pause", "web"], kc).code == 0
    assert cluster.cr()["spec"]["paused"] is True
    assert "(paused)" in kubectl_finnexus(["get", "web"], kc).out
    assert kubectl_finnexus(["resume", "web"], kc).code == 0
    assert cluster.cr()["spec"]["paused"] is False
    run = kubectl_finnexus(["list"], kc)
    header, row = run.out.splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "PHASE", "ACTIVE", "STABLE", "CANDIDATE",
                              "AGE"]
    assert row.split()[:5] == ["default", "web", "Stable", "blue",
                               cluster.status()["stableRevision"]], run


def test_namespace_comes_from_the_context_and_flags(cluster: Cluster, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    cluster.api.create("/api/v1/namespaces", {"metadata": {"name": "team"}})
    body = resource(name="api")
    body["metadata"]["namespace"] = "team"
    cluster.api.create(path_for("finnexus.ai/v1alpha1", "finnexusdeployments", "team"), body)
    kc = write_kubeconfig(tmp_path / "kc", cluster.api.url,
                          {"team-ctx": "team", "bare": None}, current="team-ctx")
    run = kubectl_finnexus(["status", "api"], kc)  # $KUBECONFIG, its current context's ns
    assert run.code == 2 and run.out.startswith(("Pending: ", "Deploying: ")), run  # undecided
    run = kubectl_finnexus(["list", "--kubeconfig", kc], None)  # the flag, no $KUBECONFIG
    assert [line.split()[:2] for line in run.out.splitlines()[1:]] == [["team", "api"]], run
    assert in_process(["status", "api", "--context", "bare"], kc, capsys).code == 3  # default
    assert in_process(["status", "api", "--context", "bare", "-n", "team"], kc,
                      capsys).code == 2
    assert in_process(["-n", "default", "status", "api"], kc, capsys).code == 3
    run = in_process(["list", "-A", "--context", "bare"], kc, capsys)
    assert [line.split()[:2] for line in run.out.splitlines()[1:]] == [["team", "api"]], run
    run = in_process(["list", "--context", "bare"], kc, capsys)
    assert run.code == 0 and "NAMESPACE" not in run.out, run
    assert "No resources found in default namespace." in run.err
    run = in_process(["status", "api", "--context", "missing"], kc, capsys)
    assert run.code == 4 and 'context "missing" not found' in run.err, run
    _one_clean_line(run.err)


def test_no_kubeconfig_unreachable_api_and_forbidden_exit_4(cluster: Cluster,
                                                             tmp_path: Path) -> None:
    env = plugin_env(None, HOME=str(tmp_path))
    run = kubectl_finnexus(["status", "web"], None, env=env)
    assert run.code == 4 and "no kubeconfig found" in run.err, run
    _one_clean_line(run.err)
    dead = write_kubeconfig(tmp_path / "dead", "http://127.0.0.1:9", {"x": None}, "x")
    run = kubectl_finnexus(["status", "web"], dead)
    assert run.code == 4 and "cannot reach the Kubernetes API server at http://127.0.0.1:9 " \
        "(connection refused)" in run.err, run
    _one_clean_line(run.err)

    class Forbid:
        def before(self, call: Call) -> Fault | None:
            return Fault(403, "Forbidden", 'finnexusdeployments.finnexus.ai "web" is forbidden'
                         ) if call.user_agent.startswith("kubectl-finnexus") else None

        def after(self, call: Call, status: int) -> None:
            pass

    cluster.api.add_hook(Forbid())
    run = kubectl_finnexus(["status", "web"], cluster.kubeconfig)
    assert run.code == 4 and "forbidden: " in run.err, run
    _one_clean_line(run.err)


def test_help_usage_and_version(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    run = in_process(["--help"], cluster.kubeconfig, capsys)
    assert run.code == 0 and "exit codes:" in run.out and "3  the FinNexusDeployment" in run.out
    for command in COMMANDS:
        run = in_process([command, "--help"], cluster.kubeconfig, capsys)
        assert run.code == 0 and "exit codes:" in run.out and COMMANDS[command][0][1:20] in run.out
    run = in_process(["status", "--help"], cluster.kubeconfig, capsys)
    assert "2 while still in progress" in run.out and "--timeout D" in run.out
    run = in_process(["promote"], cluster.kubeconfig, capsys)
    assert run.code == 4 and "required: NAME" in run.err, run
    run = kubectl_finnexus(["status", "web", "--timeout", "soon"], cluster.kubeconfig)
    assert run.code == 4 and "invalid duration 'soon'" in run.err, run
    _one_clean_line(run.err)
    cluster.api.create("/api/v1/namespaces", {"metadata": {"name": "finnexus-system"}})
    cluster.api.create(path_for("apps/v1", "deployments", "finnexus-system"), {
        "metadata": {"name": "finnexus-operator", "labels": {
            "app.kubernetes.io/name": "finnexus-operator", "app.kubernetes.io/version": "9.9.9"}},
        "spec": {"replicas": 1, "selector": {}, "template": {"spec": {"containers": [
            {"name": "operator", "image": "finnexus-operator:9.9.9"}]}}}})
    run = kubectl_finnexus(["version"], cluster.kubeconfig)
    assert run.code == 0 and run.out.splitlines() == [
        "kubectl-finnexus 0.1.0",
        "operator: finnexus-system/finnexus-operator 9.9.9 (finnexus-operator:9.9.9)"], run


def _popen(args: list[str], kubeconfig: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*PLUGIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=plugin_env(kubeconfig))


def test_a_closed_pipe_is_no_error_and_keeps_the_exit_code(cluster: Cluster) -> None:
    cluster.create(resource())
    cluster.wait_phase("Stable")
    for args, code in ((["status", "web"], 0), (["get", "web"], 0), (["history", "web"], 0)):
        process = _popen(args, cluster.kubeconfig)
        assert process.stdout is not None
        process.stdout.close()  # the reader is gone before the plugin writes: `| head -0`
        _, err = process.communicate(timeout=30)
        assert process.returncode == code and err == "", (args, process.returncode, err)


def test_get_watch_redraws_on_change_and_exits_0_on_ctrl_c(cluster: Cluster) -> None:
    cluster.create(resource(promotion={"auto": False, "scaleDownDelaySeconds": 1}))
    cluster.wait_phase("Stable")
    process = _popen(["get", "web", "-w"], cluster.kubeconfig)
    assert process.stdout is not None
    lines: list[str] = []

    def saw(text: str) -> Any:
        def check() -> bool:
            line = process.stdout.readline()  # type: ignore[union-attr]
            lines.append(line)
            return text in line
        return check
    wait_until(saw("Phase:       ✔ Stable"), timeout=20, interval=0)
    cluster.set_image("app:good2")
    wait_until(saw("AwaitingPromotion"), timeout=20, interval=0)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=15)
    assert process.returncode == 0 and "Traceback" not in err, err
