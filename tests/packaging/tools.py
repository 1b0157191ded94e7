"""Finding the real tools the packaging tests drive, and running helm hermetically.

Under ``make test`` (``FINNEXUS_REQUIRE_TOOLS=1``) a missing tool is a failure, not a skip:
the Makefile installs helm itself (scripts/get-helm.py), so its absence is a broken setup.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "finnexus-operator"
EXAMPLES = ROOT / "examples"
CRD_FILE = ROOT / "crds" / "finnexusdeployments.finnexus.ai.yaml"
VENV_BIN = Path(sys.executable).parent


def require_tool(name: str, *candidates: Path) -> str:
    """Path of a tool: the first existing candidate, else PATH; skip or fail when missing."""
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which(name)
    if found:
        return found
    reason = f"{name} not found (looked in {', '.join(map(str, candidates)) or '-'} and PATH)"
    if os.environ.get("FINNEXUS_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{reason}; `make tools` installs it", pytrace=False)
    pytest.skip(reason)


def helm_binary() -> str:
    return require_tool("helm", ROOT / ".tools" / "bin" / "helm")


@cache
def _helm_env() -> dict[str, str]:
    base = Path(tempfile.mkdtemp(prefix="finnexus-helm-"))
    atexit.register(shutil.rmtree, base, True)
    env = dict(os.environ)
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        (base / var).mkdir()
        env[var] = str(base / var)
    env.pop("KUBECONFIG", None)
    return env


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm with private cache/config/data folders; never touches a cluster."""
    proc = subprocess.run(
        [helm_binary(), *args], capture_output=True, text=True, env=_helm_env(), timeout=60
    )
    if check and proc.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def set_args(values: dict[str, str] | None) -> list[str]:
    return [a for k, v in (values or {}).items() for a in ("--set", f"{k}={v}")]


@cache
def _render(sets: tuple[tuple[str, str], ...], files: tuple[str, ...], crds: bool) -> str:
    args = ["template", "finnexus", str(CHART), "--namespace", "finnexus-system"]
    args += ["--include-crds"] if crds else []
    for f in files:
        args += ["-f", f]
    args += set_args(dict(sets))
    return helm(*args).stdout


def render_text(
    values: dict[str, str] | None = None, files: tuple[str, ...] = (), crds: bool = False
) -> str:
    """``helm template`` output (cached per arguments)."""
    return _render(tuple(sorted((values or {}).items())), files, crds)


def render(
    values: dict[str, str] | None = None, files: tuple[str, ...] = (), crds: bool = False
) -> list[dict[str, Any]]:
    """The rendered manifests as objects."""
    return [d for d in yaml.safe_load_all(render_text(values, files, crds)) if d]


def only(objs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    matches = [o for o in objs if o["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, got {len(matches)}"
    return matches[0]


def of_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]
