"""The Dockerfile: hadolint clean, and the properties the chart and the issue rely on."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys

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


def _dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, regex) per .dockerignore line, in order, with Docker's matching rules:
    ``*`` and ``?`` stay within one path element, ``**`` spans any number of them."""
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/").removeprefix("./")
        regex = ""
        for part in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                part, re.escape(part))
        rules.append((excludes, re.compile(regex)))
    return rules


def build_context() -> set[str]:
    """The files of this checkout that ``docker build .`` sends, by the rules of .dockerignore
    (the last matching line wins; a line matching a folder matches everything in it)."""
    rules = _dockerignore_rules()
    literal_includes = [r.pattern.replace("\\", "") for excl, r in rules if not excl]

    def excluded(rel: str) -> bool:
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for excludes, regex in rules:
            if any(regex.fullmatch(p) for p in prefixes):
                result = excludes
        return result

    context: set[str] = set()
    for folder, dirs, files in os.walk(ROOT):
        rel_dir = os.path.relpath(folder, ROOT)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirs[:] = [d for d in dirs if not excluded(rel_dir + d) or any(
            inc.startswith(rel_dir + d + "/") for inc in literal_includes)]
        context.update(rel_dir + f for f in files if not excluded(rel_dir + f))
    return context


def _imports(source: str, name: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_the_image_holds_only_the_product() -> None:
    """The build context is the product's sources only (no test kit, demo, tests or bench, no
    module importing kmock); the build stage installs that as a wheel; the final stage copies
    only the resulting virtualenv."""
    context = build_context()
    assert "finnexus_operator/cli.py" in context and "pyproject.toml" in context
    strays = sorted(p for p in context
                    if p not in ("pyproject.toml", "README.md")
                    and not p.startswith("finnexus_operator/"))
    assert not strays, strays
    for top in ("finnexus_kit", "finnexus_demo", "tests", "bench", "scripts", "charts"):
        assert (ROOT / top).is_dir() and not any(p.startswith(top + "/") for p in context), top
    for path in sorted(p for p in context if p.endswith(".py")):
        imported = _imports((ROOT / path).read_text(), path)
        assert not imported & {"kmock", "finnexus_kit", "finnexus_demo", "tests"}, path
    build_runs = [args for word, args in instructions()[: len(instructions()) - len(
        final_stage())] if word == "RUN"]
    assert any(re.search(r"\bpip install\b[^&]* \.(\s|$)", run) for run in build_runs), build_runs
    copies = [args for word, args in final_stage() if word == "COPY"]
    assert copies == ["--from=build /opt/finnexus /opt/finnexus"], copies


APP_DOCKERFILE = ROOT / "finnexus_kit" / "Dockerfile"


def test_the_demo_app_image_is_the_app_alone() -> None:
    """finnexus_kit/Dockerfile (the workload of examples/minimal.yaml and tests/e2e, since the
    operator image holds no kit) is hadolint clean and ships app.py with its two dependencies
    only: app.py imports nothing else, neither the product nor the rest of the kit."""
    exe = require_tool("hadolint", VENV_BIN / "hadolint")
    proc = subprocess.run([exe, "--failure-threshold", "style", str(APP_DOCKERFILE)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ignore = (APP_DOCKERFILE.parent / ".dockerignore").read_text().splitlines()
    assert "*" in ignore
    assert {line[1:] for line in ignore if line.startswith("!")} == {"__init__.py", "app.py"}
    text = re.sub(r"\\\n", " ", APP_DOCKERFILE.read_text())
    assert "COPY __init__.py app.py /opt/demo/finnexus_kit/" in text
    assert 'ENTRYPOINT ["python", "-m", "finnexus_kit.app"]' in text
    allowed = set(sys.stdlib_module_names) | {"aiohttp", "prometheus_client"}
    for name in ("__init__.py", "app.py"):
        path = APP_DOCKERFILE.parent / name
        assert _imports(path.read_text(), name) <= allowed, name
    example = (ROOT / "examples" / "minimal.yaml").read_text()
    assert "command: [python, -m, finnexus_kit.app]" in example
