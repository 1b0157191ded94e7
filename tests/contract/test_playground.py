"""``python -m finnexus_demo --fast --keep`` (`make playground`): the demo, then everything kept
running for a person to try; the real kubectl and ``kubectl finnexus`` work against it, and
Ctrl-C stops every process it started (exit 0, no child left, the work folder removed)."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from finnexus_kit.prometheus import find_prometheus
from tests.contract.plugin import ROOT
from tests.helpers import wait_until

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.slow,
    pytest.mark.skipif(find_prometheus() is None, reason="prometheus is not installed: run "
                       "scripts/ensure-prometheus.sh (root + apt-get), or set "
                       "FINNEXUS_PROMETHEUS_BIN"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this machine"),
]

TIMEOUT = 180.0


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_playground_serves_kubectl_and_stops_cleanly_on_ctrl_c() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINNEXUS_", "KUBECONFIG"))}
    env["PYTHONPATH"] = ROOT
    process = subprocess.Popen([sys.executable, "-m", "finnexus_demo", "--fast", "--keep"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=env, cwd=ROOT, start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)
    threading.Thread(target=read, daemon=True).start()
    exports: dict[str, str] = {}
    deadline = time.monotonic() + TIMEOUT
    try:
        while "PATH" not in exports:
            assert time.monotonic() < deadline, "".join(output)
            try:
                line = lines.get(timeout=1).strip()
            except queue.Empty:
                assert process.poll() is None, "".join(output)
                continue
            if line.startswith("export "):
                key, value = line.split()[1].split("=", 1)
                exports[key] = value
        assert "every expected outcome happened" in "".join(output)
        kubeconfig = exports["KUBECONFIG"]
        assert Path(kubeconfig).exists()
        user = dict(env, KUBECONFIG=kubeconfig,
                    PATH=exports["PATH"].replace("$PATH", os.environ["PATH"]))
        shown = subprocess.run(["kubectl", "get", "fnd"], capture_output=True, text=True,
                               env=user, timeout=60, check=False)
        assert shown.returncode == 0, shown.stderr
        header, row = shown.stdout.splitlines()
        assert header.split() == ["NAME", "PHASE", "ACTIVE", "STABLE", "CANDIDATE", "AGE"]
        assert row.split()[:3] == ["web", "RolledBack", "green"], shown.stdout  # v4 rejected
        listed = subprocess.run(["kubectl", "finnexus", "list"], capture_output=True,
                                text=True, env=user, timeout=60, check=False)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[1].split()[:3] == ["demo", "web", "RolledBack"]
        children = _descendants(process.pid)
        assert children, "the playground runs its processes as children"
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, "".join(output[-30:])
    try:  # a child's exit may still be on its way to being reaped by init
        wait_until(lambda: not any(_alive(pid) for pid in children), timeout=5)
    except AssertionError:
        pytest.fail(f"processes left running: {[p for p in children if _alive(p)]}")
    assert not Path(kubeconfig).parent.exists(), "the work folder was not removed"
