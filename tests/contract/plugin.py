"""Running ``kubectl finnexus`` as users do: a subprocess, its exit code, stdout and stderr."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = str(Path(__file__).resolve().parents[2])
PLUGIN = [sys.executable, "-m", "finnexus_operator.kubectl"]


@dataclasses.dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


def plugin_env(kubeconfig: str | None, **extra: str) -> dict[str, str]:
    """The environment of a plugin run: this checkout importable, no proxy, KUBECONFIG set
    (or removed, and HOME pointed at an empty folder, when ``kubeconfig`` is None)."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(PYTHONPATH=ROOT, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    if kubeconfig is not None:
        env["KUBECONFIG"] = kubeconfig
    env.update(extra)
    return env


def kubectl_finnexus(args: Sequence[str], kubeconfig: str | None, timeout: float = 60.0,
                     env: Mapping[str, str] | None = None) -> Run:
    done = subprocess.run([*PLUGIN, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(env) if env is not None else plugin_env(kubeconfig),
                          check=False)
    return Run(done.returncode, done.stdout, done.stderr)


def write_kubeconfig(path: Path, server: str, contexts: Mapping[str, str | None],
                     current: str | None) -> str:
    """A kubeconfig with one cluster and a context per (name -> namespace or None)."""
    config: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": name, "context": {"cluster": "c", "user": "u",
                                                **({"namespace": ns} if ns else {})}}
                     for name, ns in contexts.items()],
    }
    if current is not None:
        config["current-context"] = current
    path.write_text(json.dumps(config), encoding="utf-8")
    return str(path)
