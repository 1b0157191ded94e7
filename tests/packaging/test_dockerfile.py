"""The Dockerfile: hadolint clean, and the properties the chart and the issue rely on."""

from __future__ import annotations

import json
import re
import subprocess

from tests.packaging.tools import ROOT, VENV_BIN, require_tool

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def test_hadolint_is_clean() -> None:
    exe = require_tool("hadolint", VENV_BIN / "hadolint")
    proc = subprocess.run(
        [exe, "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_really_checks() -> None:
    exe = require_tool("hadolint", VENV_BIN / "hadolint")
    proc = subprocess.run(
        [exe, "-"],
        input="FROM python\nRUN apt-get install gcc\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "DL3006" in proc.stdout


def test_multi_stage_with_the_base_chosen_by_arg() -> None:
    steps = instructions()
    assert steps[0][0] == "ARG" and steps[0][1].startswith("PYTHON_IMAGE=python:")
    assert "-slim" in steps[0][1]
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) >= 2
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)


def test_final_stage_non_root_numeric_user_entrypoint_and_labels() -> None:
    stage = final_stage()
    users = [args for word, args in stage if word == "USER"]
    assert users and re.fullmatch(r"\d+(:\d+)?", users[-1]), users
    assert int(users[-1].split(":")[0]) != 0
    (entrypoint,) = [args for word, args in stage if word == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["finnexus-operator", "run"]
    labels = " ".join(args for word, args in stage if word == "LABEL")
    for key in ("title", "description", "version", "revision", "created", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_no_compilers_or_sources_in_the_final_stage() -> None:
    stage = final_stage()
    runs = " ".join(args for word, args in stage if word == "RUN")
    for tool in ("gcc", "build-essential", "make", "apt-get install", "pip install"):
        assert tool not in runs, f"final stage runs {tool!r}"
    copies = [args for word, args in stage if word == "COPY"]
    assert copies and all(c.startswith("--from=") for c in copies), copies
    # The build stage refuses source distributions, so no compiler is ever needed.
    build_runs = " ".join(args for word, args in instructions() if word == "RUN")
    assert "--only-binary=:all:" in build_runs


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "finnexus_operator"}
    copied: set[str] = set()
    for word, args in instructions():
        if word == "COPY" and not args.startswith("--from="):
            copied.update(p.rstrip("/").removeprefix("./") for p in args.split()[:-1])
    assert copied <= allowed, copied - allowed
