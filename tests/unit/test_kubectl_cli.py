"""The plugin's edges without a server: durations, usage errors, kubeconfig resolution, error
translation, the answer Event of a request, and a closed stdout."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes.client import ApiException

from finnexus_operator import errors
from finnexus_operator.kubectl import cli, client
from finnexus_operator.kubectl.output import Output
from finnexus_operator.kubectl.requests import answer_of


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("1h", 3600),
                                               ("1h30m", 5400), ("45", 45), ("1.5s", 1.5)])
def test_durations(text: str, seconds: float) -> None:
    assert cli.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "10x", "m", "-5s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cli.parse_duration(text)


def test_a_usage_error_exits_4_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["frobnicate", "web"])
    assert exited.value.code == 4
    err = capsys.readouterr().err
    assert err.startswith("error: argument COMMAND: invalid choice") and err.count("\n") == 1


def test_flags_work_before_and_after_the_command() -> None:
    parser = cli.build_parser()
    after = parser.parse_args(["status", "web", "-n", "x", "--context", "c"])
    before = parser.parse_args(["-n", "x", "--context", "c", "status", "web"])
    assert (after.namespace, after.context) == (before.namespace, before.context) == ("x", "c")
    assert parser.parse_args(["status", "web"]).namespace is None
    assert parser.parse_args(["promote", "web"]).timeout == 30.0


def _kubeconfig(path: Path, current: str | None, **contexts: str | None) -> str:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "u",
                                             **({"namespace": ns} if ns else {})}}
                     for n, ns in contexts.items()],
        **({"current-context": current} if current else {})}))
    return str(path)


def test_kubeconfig_and_context_resolution(tmp_path: Path) -> None:
    assert client.kubeconfig_path("/a", {"KUBECONFIG": "/b"}) == "/a"
    assert client.kubeconfig_path(None, {"KUBECONFIG": "/b"}) == "/b"
    assert client.kubeconfig_path(None, {}).endswith("/.kube/config")
    kc = _kubeconfig(tmp_path / "kc", "one", one="team", two=None)
    connected = client.connect(kc)
    assert connected.connection.namespace == "team" and connected.connection.context == "one"
    assert client.connect(kc, "two").connection.namespace == "default"
    with pytest.raises(errors.ConfigError, match='context "three" not found'):
        client.connect(kc, "three")
    with pytest.raises(errors.ConfigError, match="current-context"):
        client.connect(_kubeconfig(tmp_path / "nocurrent", None, one=None))
    with pytest.raises(errors.ConfigError, match="no kubeconfig found at /nowhere"):
        client.connect("/nowhere/kc")
    (tmp_path / "broken").write_text("{not yaml: [")
    with pytest.raises(errors.ConfigError):
        client.connect(str(tmp_path / "broken"))


@pytest.mark.parametrize(("exc", "kind", "text"), [
    (ApiException(status=404, reason="Not Found"), errors.NotFound, "thing not found"),
    (ApiException(status=403, reason="Forbidden", body=json.dumps({"message": "no way"})),
     errors.ApiError, "forbidden: no way"),
    (ApiException(status=401, reason="Unauthorized"), errors.ApiError, "unauthorized"),
    (ApiException(status=503, reason="Unavailable"), errors.ApiUnavailable, "HTTP 503"),
    (ApiException(status=422, reason="Invalid"), errors.ApiError, "thing: HTTP 422"),
    (urllib3.exceptions.MaxRetryError(None, "/", ConnectionRefusedError(  # type: ignore[arg-type]
        "[Errno 111] Connection refused")), errors.ApiUnavailable,
     "cannot reach the Kubernetes API server at http://h (connection refused)"),
])
def test_foreign_errors_become_ours(exc: BaseException, kind: type[Exception], text: str) -> None:
    translated = client._translate("thing", "http://h", exc)
    assert type(translated) is kind and text in str(translated)


def _event(name: str, reason: str, message: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "reason": reason, "message": message}


def test_the_answer_is_a_new_request_event_about_the_verb() -> None:
    old = _event("e1", "Request", "promote request accepted")
    other = _event("e2", "Request", "abort request accepted")
    noise = _event("e3", "Promoted", "promote request accepted")
    refused = _event("e4", "RequestIgnored", "promote request ignored: no rollout in progress")
    assert answer_of([old, other, noise], {"e1"}, "promote") is None
    assert answer_of([old, other, noise, refused], {"e1"}, "promote") is refused


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError

    def fileno(self) -> int:
        raise io.UnsupportedOperation


def test_output_survives_a_closed_pipe() -> None:
    out = Output(_ClosedPipe(), io.StringIO())
    out.line("Stable: fine")
    assert out.closed
    out.line("more")  # quietly dropped
    err = io.StringIO()
    Output(io.StringIO(), err).error("boom")
    assert err.getvalue() == "error: boom\n"
