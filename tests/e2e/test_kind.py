"""End to end on kind: build and load the operator image and the demo app's image (the test
kit's finnexus_kit/Dockerfile), `helm install` the chart, apply examples/minimal.yaml, drive a
good release and a bad one, assert phases and the Ingress.

Needs kind, kubectl, helm and a working container engine (docker, or podman through
KIND_EXPERIMENTAL_PROVIDER=podman). Without them the tests skip and say why; with
FINNEXUS_E2E=1 (the CI workflow .github/workflows/e2e.yaml sets it) a missing tool fails
instead. FINNEXUS_E2E_KEEP=1 leaves the cluster up for debugging.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "finnexus-e2e"
IMAGE = "finnexus-operator:e2e"
APP_IMAGE = "finnexus-demo-app:e2e"  # the workload: the operator image holds no demo app
APP_NS = "e2e-apps"
NAME = "demo"


def _engine() -> str | None:
    """docker or podman, when one can actually run containers here."""
    for engine in ("docker", "podman"):
        exe = shutil.which(engine)
        if exe and subprocess.run([exe, "info"], capture_output=True, timeout=30).returncode == 0:
            return engine
    return None


def _missing() -> str | None:
    helm = ROOT / ".tools" / "bin" / "helm"
    tools = {
        "kind": shutil.which("kind"),
        "kubectl": shutil.which("kubectl"),
        "helm": str(helm) if helm.exists() else shutil.which("helm"),
    }
    absent = [name for name, path in tools.items() if not path]
    if _engine() is None:
        absent.insert(0, "a container engine (docker or podman)")
    return ", ".join(absent) if absent else None


def run(*cmd: str, stdin: str | None = None, timeout: float = 600) -> str:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def wait_until(what: str, probe: Callable[[], Any], timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    missing = _missing()
    if missing:
        reason = f"kind end-to-end tests need {missing}, which this machine lacks"
        if os.environ.get("FINNEXUS_E2E") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason + " (they run in .github/workflows/e2e.yaml)")
    engine = _engine()
    assert engine is not None
    env_provider = {"KIND_EXPERIMENTAL_PROVIDER": "podman"} if engine == "podman" else {}
    os.environ.update(env_provider)
    existing = run("kind", "get", "clusters").split()
    if CLUSTER not in existing:
        run("kind", "create", "cluster", "--name", CLUSTER, "--wait", "180s")
    context = f"kind-{CLUSTER}"
    try:
        run(engine, "build", "-t", IMAGE, str(ROOT), timeout=1200)
        run(engine, "build", "-t", APP_IMAGE, str(ROOT / "finnexus_kit"), timeout=1200)
        for image in (IMAGE, APP_IMAGE):
            if engine == "podman":
                archive = ROOT / ".tools" / f"{image.replace(':', '-')}.tar"
                run("podman", "save", "-o", str(archive), image)
                run("kind", "load", "image-archive", str(archive), "--name", CLUSTER)
            else:
                run("kind", "load", "docker-image", image, "--name", CLUSTER)
        yield context
    finally:
        if os.environ.get("FINNEXUS_E2E_KEEP") != "1":
            run("kind", "delete", "cluster", "--name", CLUSTER)


@pytest.fixture(scope="module")
def operator(cluster: str) -> str:
    helm = ROOT / ".tools" / "bin" / "helm"
    run(
        str(helm) if helm.exists() else "helm",
        "upgrade",
        "--install",
        "finnexus",
        str(ROOT / "charts" / "finnexus-operator"),
        "--kube-context",
        cluster,
        "--namespace",
        "finnexus-system",
        "--create-namespace",
        "--set",
        "image.repository=finnexus-operator",
        "--set",
        "image.tag=e2e",
        "--set",
        "image.pullPolicy=Never",
        "--set",
        "log.level=debug",
        "--set",
        "resources.requests.cpu=100m",
        "--set",
        "resources.requests.memory=128Mi",
        "--wait",
        "--timeout",
        "5m",
    )
    return cluster


def kubectl(context: str, *args: str, stdin: str | None = None) -> str:
    return run("kubectl", "--context", context, *args, stdin=stdin)


def fnd(context: str) -> dict[str, Any]:
    return dict(json.loads(kubectl(context, "-n", APP_NS, "get", "fnd", NAME, "-o", "json")))


def ingress_backend(context: str) -> str:
    ing = json.loads(kubectl(context, "-n", APP_NS, "get", "ingress", NAME, "-o", "json"))
    return str(ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"])


def apply_example(context: str, version: str, unhealthy: bool = False) -> None:
    obj = yaml.safe_load((ROOT / "examples" / "minimal.yaml").read_text())
    (app,) = obj["spec"]["template"]["spec"]["containers"]
    app["image"] = APP_IMAGE
    app["imagePullPolicy"] = "Never"
    app["args"] = [a for a in app["args"] if not a.startswith("--version=")]
    app["args"] += [f"--version={version}"] + (["--unhealthy"] if unhealthy else [])
    obj["spec"]["healthCheck"] = {
        "intervalSeconds": 2,
        "successThreshold": 2,
        "failureThreshold": 3,
    }
    obj["spec"]["promotion"] = {"scaleDownDelaySeconds": 5}
    kubectl(context, "-n", APP_NS, "apply", "-f", "-", stdin=yaml.safe_dump(obj))


def settled(context: str, phase: str) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        obj = fnd(context)
        status = obj.get("status") or {}
        current = status.get("observedGeneration") == obj["metadata"]["generation"]
        return status if current and status.get("phase") == phase else None

    return probe


def test_good_release_then_bad_release(operator: str) -> None:
    ctx = operator
    kubectl(ctx, "create", "namespace", APP_NS)

    apply_example(ctx, "v1")
    first = wait_until("the first revision to become Stable", settled(ctx, "Stable"))
    assert first["activeColor"] == "blue"
    assert ingress_backend(ctx) == f"{NAME}-blue"

    apply_example(ctx, "v2")
    good = wait_until("the good release to be promoted", settled(ctx, "Stable"))
    assert good["activeColor"] == "green"
    assert good["stableRevision"] != first["stableRevision"]
    assert ingress_backend(ctx) == f"{NAME}-green"

    apply_example(ctx, "v3", unhealthy=True)
    bad = wait_until("the bad release to be rolled back", settled(ctx, "RolledBack"))
    assert bad["activeColor"] == "green"
    assert bad["stableRevision"] == good["stableRevision"]
    assert bad["rejectedRevision"] and bad["rejectedRevision"] != good["stableRevision"]
    assert ingress_backend(ctx) == f"{NAME}-green"
    history = bad.get("history") or []
    assert {"revision": bad["rejectedRevision"], "result": "RolledBack"}.items() <= next(
        h for h in history if h["revision"] == bad["rejectedRevision"]
    ).items()
