"""`python -m finnexus_demo --fast` (`make demo`) end to end: every process real, on loopback.

The demo starts an emulated API, the operator as a subprocess, app processes and Debian's
Prometheus, and exits 0 only when it observed each expected outcome itself. This test runs it as
a user would and checks the exit code and that the output names each outcome. About 30 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from finnexus_kit.prometheus import find_prometheus

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.slow,
    pytest.mark.skipif(
        find_prometheus() is None,
        reason="prometheus is not installed: run "
        "scripts/ensure-prometheus.sh (root + apt-get), or set "
        "FINNEXUS_PROMETHEUS_BIN",
    ),
]

TIMEOUT = 150.0  # the --fast run takes about 30 s


def test_demo_fast_shows_every_outcome() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "finnexus_demo", "--fast"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # the demo stops all of its processes on SIGTERM
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        pytest.fail(f"the demo did not finish within {TIMEOUT:g}s:\n{output}")
    assert process.returncode == 0, output
    assert "every expected outcome happened" in output
    summary = output.split("Summary (status.history):", 1)[1]
    rows = {
        line.split()[0]: line
        for line in summary.splitlines()
        if line.strip().startswith(("v1", "v2", "v3", "v4"))
    }
    assert " Promoted " in rows["v1"]
    assert " RolledBack " in rows["v2"] and "error-rate" in rows["v2"]
    assert " Promoted " in rows["v3"] and "analysis passed" in rows["v3"]
    assert " RolledBack " in rows["v4"] and "health checks failed" in rows["v4"]
    assert "[ok] v4: traffic never moved to it" in output
    assert "[ok] v3: old colour blue scaled to 0 after the delay" in output
    assert "MISSING" not in output
