"""Fixtures shared by every test folder: the emulated Kubernetes API and its kubeconfig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from finnexus_kit.apiserver import ApiServer


@pytest.fixture()
def apiserver() -> Iterator[ApiServer]:
    """A fresh emulated Kubernetes API (namespace ``default``), stopped after the test."""
    with ApiServer() as server:
        yield server


@pytest.fixture()
def kubeconfig(apiserver: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kubeconfig for ``apiserver``, also exported as ``KUBECONFIG``."""
    path = apiserver.write_kubeconfig(tmp_path / "kubeconfig")
    monkeypatch.setenv("KUBECONFIG", path)
    return path
