"""The product wheel holds the operator and nothing else, and works on its own.

Builds the wheel from a copy of this checkout (``pip wheel --no-deps``: the build itself
fetches the ``[build-system]`` requirements from the package index), checks its file list,
then installs it with only the product's dependencies into a fresh virtualenv and runs the
console scripts there: the test kit, the demo and kmock must be absent. About 15 s, most of
it pip; pip's cache makes the downloads local after the first run. When the package index
cannot be reached the tests skip, or fail under ``make test`` (``FINNEXUS_REQUIRE_TOOLS=1``).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.packaging.tools import ROOT

pytestmark = pytest.mark.slow

NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", ".tools", ".mypy_cache", ".ruff_cache", ".pytest_cache",
    ".import_linter_cache", ".hypothesis", "__pycache__", "build", "dist", "*.egg-info",
)
# What pip says when it cannot reach (or find anything on) the package index.
UNREACHABLE = (
    "No matching distribution found", "Could not find a version that satisfies",
    "Failed to establish a new connection", "Temporary failure in name resolution",
    "Network is unreachable", "NewConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
    "ProxyError", "SSLError",
)
DIST_INFO = "finnexus_operator-0.1.0.dist-info/"


def _env() -> dict[str, str]:
    """No PYTHONPATH (it would put this checkout's packages in reach) and no venv leaks."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def pip(*args: str, cwd: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=240)
    if proc.returncode == 0:
        return
    output = proc.stdout + proc.stderr
    tail = "\n".join(output.strip().splitlines()[-15:])
    if any(sign in output for sign in UNREACHABLE):
        reason = f"pip {args[0]} could not get packages from the package index:\n{tail}"
        if os.environ.get("FINNEXUS_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{reason}\n(the packaging tests need the package index that "
                        "`make venv` uses)", pytrace=False)
        pytest.skip(reason)
    pytest.fail(f"pip {' '.join(args)} failed ({proc.returncode}):\n{tail}", pytrace=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The product wheel, built from a copy of the checkout (kit, demo, tests and all), so
    the build's egg-info and build/ folders never land in the working tree."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    assert (source / "finnexus_kit").is_dir() and (source / "finnexus_demo").is_dir()
    pip("wheel", "--no-deps", "-q", "-w", str(base / "out"), str(source), cwd=base)
    (built,) = (base / "out").glob("finnexus_operator-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel and the product's dependencies only (no extras)."""
    base = tmp_path_factory.mktemp("venv")
    env = base / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True,
                   env=_env(), timeout=60)
    pip("--python", str(env / "bin" / "python"), "install", "-q", str(wheel), cwd=base)
    return env


def run(venv: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """A command of the fresh venv, from a folder with no sources in it."""
    exe = argv[0] if os.sep in argv[0] else str(venv / "bin" / argv[0])
    return subprocess.run([exe, *argv[1:]], cwd=venv, env=_env(), capture_output=True,
                          text=True, timeout=60)


def test_the_wheel_holds_only_the_product(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        sources = {n: zf.read(n).decode() for n in names if n.endswith(".py")}
    outside = [n for n in names if not n.startswith(("finnexus_operator/", DIST_INFO))]
    assert not outside, outside
    assert "finnexus_operator/cli.py" in names and "finnexus_operator/py.typed" in names
    assert not [n for n in names if n.startswith("finnexus_operator/demo/")]
    for name, text in sources.items():
        imported = set()
        for node in ast.walk(ast.parse(text, name)):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
        assert not imported & {"kmock", "finnexus_kit", "finnexus_demo", "tests", "bench"}, name
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(DIST_INFO + "METADATA").decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert not [r for r in requires if "kmock" in r and "extra ==" not in r], requires
    assert "Provides-Extra: demo" not in metadata


def test_the_installed_cli_works_without_the_kit(venv: Path) -> None:
    for argv in (("finnexus-operator", "--help"), ("finnexus-operator", "run", "--help"),
                 (str(venv / "bin" / "python"), "-m", "finnexus_operator", "--help"),
                 ("kubectl-finnexus", "--help"), ("kubectl-finnexus", "status", "--help")):
        proc = run(venv, *argv)
        assert proc.returncode == 0, f"{argv}: {proc.stdout}{proc.stderr}"
        assert "usage:" in proc.stdout
    demo = run(venv, "finnexus-operator", "demo")
    assert demo.returncode == 2 and "invalid choice: 'demo'" in demo.stderr, demo.stderr


@pytest.mark.parametrize("module", ["kmock", "finnexus_kit", "finnexus_demo"])
def test_the_kit_and_its_dependencies_are_not_installed(venv: Path, module: str) -> None:
    proc = run(venv, str(venv / "bin" / "python"), "-c", f"import {module}")
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, proc.stderr
