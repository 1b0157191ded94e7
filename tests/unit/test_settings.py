"""Operator settings from flags and the environment."""

from __future__ import annotations

import argparse

import pytest

from finnexus_operator.settings import Settings, add_run_arguments, settings_from


def parse(argv: list[str], env: dict[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return settings_from(parser.parse_args(argv), env or {})


def test_settings_flags_win_over_environment() -> None:
    env = {"FINNEXUS_PROMETHEUS_URL": "http://env:9090", "FINNEXUS_NAMESPACES": "a, b",
           "FINNEXUS_LOG_FORMAT": "json", "FINNEXUS_PROMETHEUS_TOKEN": "s3cret"}
    s = parse([], env)
    assert s.prometheus_url == "http://env:9090" and s.namespaces == ("a", "b")
    assert s.log_format == "json" and not s.clusterwide
    assert "s3cret" not in repr(s)  # a secret never reaches a log line
    s = parse(["--prometheus-url", "http://flag:9090", "-n", "c"], env)
    assert s.prometheus_url == "http://flag:9090" and s.namespaces == ("c",)
    assert parse(["--all-namespaces"], env).clusterwide
    assert parse([]).clusterwide and parse([]).metrics_port == 8080


@pytest.mark.parametrize("argv, env, message", [
    (["--prometheus-url", "ftp://x"], {}, "http(s)"),
    ([], {"FINNEXUS_PROMETHEUS_TIMEOUT": "soon"}, "not a number"),
    ([], {"FINNEXUS_LOG_FORMAT": "xml"}, "log format"),
])
def test_bad_settings_are_rejected_with_a_clear_message(
    argv: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(argv, env)


def test_api_load_settings_have_defaults_flags_and_variables() -> None:
    s = parse([])
    assert (s.api_qps, s.api_burst, s.workers, s.max_concurrent_probes, s.resync_seconds) == (
        100.0, 200, 8, 64, 3600.0)
    s = parse(["--api-qps", "5", "--workers", "2", "--resync-seconds", "0"],
              {"FINNEXUS_API_BURST": "7", "FINNEXUS_MAX_CONCURRENT_PROBES": "3",
               "FINNEXUS_WORKERS": "9"})
    assert (s.api_qps, s.api_burst, s.workers, s.max_concurrent_probes, s.resync_seconds) == (
        5.0, 7, 2, 3, 0.0)
    for argv in (["--workers", "0"], ["--api-burst", "0"], ["--resync-seconds", "-1"]):
        with pytest.raises(ValueError):
            parse(argv)
