"""--selector: the label selector grammar the API server accepts, matched client-side; and the
lease / sharding settings."""

from __future__ import annotations

import argparse

import pytest

from finnexus_operator.cli import main
from finnexus_operator.core.selector import LabelSelector
from finnexus_operator.settings import Settings, add_run_arguments, settings_from

SHARD_A = {"finnexus.ai/shard": "a", "team": "x"}
SHARD_B = {"finnexus.ai/shard": "b"}


@pytest.mark.parametrize(("selector", "a", "b", "none"), [
    ("", True, True, True),
    ("finnexus.ai/shard=a", True, False, False),
    ("finnexus.ai/shard==a", True, False, False),
    ("finnexus.ai/shard!=a", False, True, True),
    ("finnexus.ai/shard", True, True, False),
    ("!finnexus.ai/shard", False, False, True),
    ("finnexus.ai/shard in (a, b)", True, True, False),
    ("finnexus.ai/shard notin (a)", False, True, True),
    ("finnexus.ai/shard in (a,b),team=x", True, False, False),
    (" team in (x,y) , !legacy ", True, False, False),
])
def test_selectors_match_as_the_api_server_does(selector: str, a: bool, b: bool,
                                                none: bool) -> None:
    parsed = LabelSelector.parse(selector)
    assert (parsed.matches(SHARD_A), parsed.matches(SHARD_B), parsed.matches({})) == (a, b, none)
    assert parsed.matches(None) is none


@pytest.mark.parametrize("bad", ["a=b,", "a in ()", "a in (x", "=x", "a=b=c", "-a=b",
                                 "a b", "!a=b", "a in (x,,y)", "a=" + "x" * 64])
def test_a_bad_selector_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="label selector"):
        LabelSelector.parse(bad)


def settings(*argv: str, env: dict[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return settings_from(parser.parse_args(list(argv)), env or {})


def test_lease_and_shard_settings_from_flags_and_environment() -> None:
    s = settings()
    assert (s.lease_duration, s.lease_renew_deadline, s.lease_retry_period) == (15, 10, 2)
    assert s.lease_namespace is None and s.selector is None
    s = settings(env={"POD_NAMESPACE": "ops", "FINNEXUS_SELECTOR": "team=x",
                      "FINNEXUS_LEASE_DURATION": "30", "FINNEXUS_INSTANCE_ID": "pod-1"})
    assert (s.lease_namespace, s.selector, s.lease_duration, s.instance_id) == (
        "ops", "team=x", 30, "pod-1")
    s = settings("--lease-name", "x", "--lease-namespace", "y", "-l", "a in (b)",
                 "--lease-renew-deadline", "5", "--lease-retry-period", "1",
                 env={"POD_NAMESPACE": "ops", "FINNEXUS_SELECTOR": "team=x"})
    assert (s.lease_name, s.lease_namespace, s.selector, s.lease_renew_deadline,
            s.lease_retry_period) == ("x", "y", "a in (b)", 5, 1)
    with pytest.raises(ValueError, match="--lease-retry-period < --lease-renew-deadline"):
        settings("--lease-renew-deadline", "15")


@pytest.mark.parametrize(("argv", "message"), [
    (["--selector", "team in (x"], "label selector: cannot parse requirement"),
    (["--lease-retry-period", "0"], "leader election needs 0 < --lease-retry-period"),
])
def test_the_cli_exits_2_on_a_bad_selector_or_lease_timing(
        argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", *argv]) == 2
    assert message in capsys.readouterr().err
