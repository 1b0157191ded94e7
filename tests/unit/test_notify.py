"""Notifications: the config file (every mistake exits 2 naming it), the bodies (pure), the
queue and the retries of the sender (a fake poster next to the code it stands in for)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from finnexus_operator import cli, errors
from finnexus_operator.adapters.notify import Receiver, WebhookPoster, load_config
from finnexus_operator.controller.notifier import Notifier
from finnexus_operator.core import notices
from finnexus_operator.models.spec import FinNexusDeploymentSpec
from finnexus_operator.models.status import AnalysisStatus, MetricStatus

URL = "https://hooks.example/services/T000/B000/s3cr3t"


def config(tmp_path: Path, receivers: Any, *, url: str = URL) -> str:
    (tmp_path / "url").write_text(url + "\n")
    path = tmp_path / "notify.yaml"
    path.write_text(yaml.safe_dump({"receivers": receivers}) if not isinstance(receivers, str)
                    else receivers)
    return str(path)


def test_a_valid_config_with_default_events(tmp_path: Path) -> None:
    path = config(tmp_path, [{"name": "ops", "type": "slack", "urlFile": str(tmp_path / "url")},
                             {"name": "audit", "type": "webhook", "events": ["Promoted"],
                              "urlFile": str(tmp_path / "url")}])
    ops, audit = load_config(path)
    assert ops == Receiver("ops", "slack", str(tmp_path / "url"),
                           frozenset({"RolledBack", "Failed", "Promoted", "Invalid"}))
    assert audit.events == {"Promoted"} and audit.url() == URL


@pytest.mark.parametrize(("receivers", "says"), [
    ("receivers: [", "not valid YAML"),
    ("[]", "expected a mapping with one key, `receivers`"),
    ({"receiver": []}, "expected a mapping with one key"),
    ([{"name": "a", "type": "teams", "urlFile": "URL"}], "unknown type 'teams'; known: webhook"),
    ([{"name": "a", "type": "webhook"}], "`urlFile` is required"),
    ([{"name": "a", "type": "webhook", "urlFile": "/nonexistent/url"}], "cannot be read"),
    ([{"type": "webhook", "urlFile": "URL"}], "`name` is required"),
    ([{"name": "a", "type": "webhook", "urlFile": "URL", "url": "http://x"}],
     "unknown keys ['url']"),
    ([{"name": "a", "type": "webhook", "urlFile": "URL", "events": ["Deployed"]}],
     "`events` must be a non-empty list"),
    ([{"name": "a", "type": "webhook", "urlFile": "URL"}] * 2, "must be unique"),
])
def test_every_config_mistake_is_a_config_error_naming_it(
    tmp_path: Path, receivers: Any, says: str,
) -> None:
    if isinstance(receivers, list):
        receivers = [{k: (str(tmp_path / "url") if v == "URL" else v) for k, v in r.items()}
                     for r in receivers]
    if isinstance(receivers, dict):
        receivers = yaml.safe_dump(receivers)
    path = config(tmp_path, receivers)
    with pytest.raises(errors.ConfigError, match=None) as info:
        load_config(path)
    assert says in str(info.value)
    assert "s3cr3t" not in str(info.value)


def test_a_url_file_without_a_url_is_an_error_that_does_not_print_it(tmp_path: Path) -> None:
    path = config(tmp_path, [{"name": "a", "type": "webhook", "urlFile": str(tmp_path / "url")}],
                  url="s3cr3t-not-a-url")
    with pytest.raises(errors.ConfigError) as info:
        load_config(path)
    assert "does not hold one http(s) URL" in str(info.value)
    assert "s3cr3t" not in str(info.value)


def test_the_operator_exits_2_on_a_bad_config_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = config(tmp_path, [{"name": "a", "type": "pager", "urlFile": str(tmp_path / "url")}])
    assert cli.main(["run", "--notifications-config", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith("finnexus-operator: --notifications-config ")
    assert "unknown type 'pager'" in err


SPEC = FinNexusDeploymentSpec.model_validate({
    "template": {"spec": {"containers": [{"name": "w", "image": "x",
                                          "ports": [{"name": "http", "containerPort": 80}]}]}},
    "analysis": {"failureLimit": 1, "metrics": [
        {"name": "latency", "query": "q1", "max": 0.2},
        {"name": "errors", "query": "q2", "min": 0, "max": 0.001}]},
})


def test_breach_of_names_the_metric_its_value_and_the_bound_crossed() -> None:
    analysis = AnalysisStatus(metrics=[
        MetricStatus(name="latency", value=0.3, verdict="Fail", failures=1),  # tolerated
        MetricStatus(name="errors", value=0.05, verdict="Fail", failures=2)])
    assert notices.breach_of(SPEC, analysis) == notices.Breach("errors", 0.05, 0.001, "max")
    low = AnalysisStatus(metrics=[MetricStatus(name="errors", value=-1.0, failures=2)])
    assert notices.breach_of(SPEC, low) == notices.Breach("errors", -1.0, 0, "min")
    no_data = AnalysisStatus(metrics=[MetricStatus(name="latency", no_data=4)])
    assert notices.breach_of(SPEC, no_data) == notices.Breach("latency", None, 0.2, "max")
    assert notices.breach_of(SPEC, AnalysisStatus(metrics=[
        MetricStatus(name="latency", value=0.3, failures=1)])) is None
    assert notices.breach_of(None, analysis) is None


OUTCOME = notices.Outcome(
    event="RolledBack", namespace="trading", name="backend", phase="RollingBack",
    revision="7f0e2c4d9a", stable_revision="5d8c7f9a1b",
    reason="errors 0.05 > 0.001 (round 3, failureLimit 1)", reason_kind="metric",
    started_at="2026-12-02T06:00:00.000000Z", finished_at="2026-12-02T06:01:30.500000Z",
    breach=notices.Breach("errors", 0.05, 0.001, "max"))


def test_the_webhook_body_is_the_contract() -> None:
    assert notices.webhook_body(OUTCOME) == {
        "event": "RolledBack", "namespace": "trading", "name": "backend",
        "phase": "RollingBack", "revision": "7f0e2c4d9a", "stableRevision": "5d8c7f9a1b",
        "reason": "errors 0.05 > 0.001 (round 3, failureLimit 1)", "metric": "errors",
        "value": 0.05, "bound": 0.001, "startedAt": "2026-12-02T06:00:00.000000Z",
        "finishedAt": "2026-12-02T06:01:30.500000Z",
        "command": "kubectl finnexus get backend -n trading"}
    assert OUTCOME.duration_seconds == 90.5


def test_the_slack_body_reads_like_an_incident_alert() -> None:
    body = notices.slack_body(OUTCOME)
    assert body["text"].startswith(":rotating_light: trading/backend: rolled back -- errors "
                                   "0.05 > 0.001 (max bound)")
    section = body["blocks"][1]["text"]["text"]
    assert section.splitlines() == [
        "*Service:* trading/backend",
        "*Status:* RolledBack (phase RollingBack)",
        "*Impact:* production traffic is back on the stable revision 5d8c7f9a1b; "
        "7f0e2c4d9a is rejected and scaled down",
        "*Started:* 2026-12-02T06:00:00.000000Z",
        "*Reason:* errors 0.05 > 0.001 (max bound) -- errors 0.05 > 0.001 (round 3, "
        "failureLimit 1)",
        "*Revision:* 7f0e2c4d9a (stable 5d8c7f9a1b)",
    ]
    assert "`kubectl finnexus get backend -n trading`" in str(body["blocks"][2])


class FakePoster:
    """Fails the first ``failures`` POSTs per receiver, then takes them."""

    def __init__(self, failures: int = 0, hang: bool = False) -> None:
        self.failures, self.hang = failures, hang
        self.calls: list[tuple[str, str]] = []

    async def post(self, receiver: Receiver, body: Any) -> None:
        self.calls.append((receiver.name, body["event"]))
        if self.hang:
            await asyncio.Event().wait()
        if len(self.calls) <= self.failures:
            raise errors.NotificationFailed(f"receiver {receiver.name!r} answered HTTP 500")

    async def close(self) -> None:
        pass


def receiver(name: str = "ops", events: tuple[str, ...] = notices.EVENTS) -> Receiver:
    return Receiver(name, "webhook", "/unused", frozenset(events))


async def test_a_failed_post_is_retried_with_backoff_then_delivered() -> None:
    poster = FakePoster(failures=2)
    notifier = Notifier([receiver()], poster=poster, backoff=(0.01, 0.02, 0.04))
    await notifier.start()
    notifier.post([OUTCOME])
    for _ in range(200):
        if notifier.sent:
            break
        await asyncio.sleep(0.01)
    await notifier.stop()
    assert poster.calls == [("ops", "RolledBack")] * 3 and notifier.sent == 1


async def test_retries_are_bounded_then_the_notification_is_dropped() -> None:
    poster = FakePoster(failures=99)
    notifier = Notifier([receiver()], poster=poster, backoff=(0.01, 0.01, 0.01))
    await notifier.start()
    notifier.post([OUTCOME])
    for _ in range(200):
        if notifier.dropped:
            break
        await asyncio.sleep(0.01)
    await notifier.stop()
    assert len(poster.calls) == 4 and notifier.dropped == 1 and notifier.sent == 0


async def test_only_subscribed_events_are_queued_and_a_full_queue_drops() -> None:
    poster = FakePoster(hang=True)
    notifier = Notifier([receiver("ops", ("RolledBack",)), receiver("all")], poster=poster,
                        queue_size=2)
    promoted = notices.Outcome(**{**OUTCOME.__dict__, "event": "Promoted", "breach": None})
    notifier.post([promoted])  # not for "ops"
    assert notifier.pending() == {"ops": 0, "all": 1}
    notifier.post([OUTCOME] * 3)  # post never blocks: what does not fit is dropped
    assert notifier.pending() == {"ops": 2, "all": 2}
    assert notifier.dropped == 3  # "ops": 3 posted, 2 fit; "all": 4 posted, 2 fit
    await notifier.stop()


async def test_the_real_poster_names_the_receiver_never_the_url(tmp_path: Path) -> None:
    (tmp_path / "url").write_text("http://127.0.0.1:9/hook/s3cr3t\n")  # discard port: refused
    poster = WebhookPoster(timeout=1.0)
    with pytest.raises(errors.NotificationFailed) as info:
        await poster.post(Receiver("ops", "webhook", str(tmp_path / "url"), frozenset()), {})
    await poster.close()
    assert str(info.value) == "receiver 'ops' unreachable (ClientConnectorError)"


def test_the_config_path_comes_from_the_flag_or_the_environment() -> None:
    import argparse

    from finnexus_operator.settings import add_run_arguments, settings_from

    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    env = {"FINNEXUS_NOTIFICATIONS_CONFIG": "/etc/env.yaml"}
    assert settings_from(parser.parse_args([]), {}).notifications_config is None
    assert settings_from(parser.parse_args([]), env).notifications_config == "/etc/env.yaml"
    flag = parser.parse_args(["--notifications-config", "/etc/flag.yaml"])
    assert settings_from(flag, env).notifications_config == "/etc/flag.yaml"


def test_breach_of_a_relative_bound_names_the_bound_computed_from_the_baseline() -> None:
    spec = FinNexusDeploymentSpec.model_validate({
        "template": SPEC.template, "analysis": {"metrics": [
            {"name": "p95", "query": "q", "relative": {"maxIncrease": 0.2}}]}})
    analysis = AnalysisStatus(metrics=[MetricStatus(
        name="p95", value=0.31, verdict="Fail", failures=1, baseline=0.2, bound=0.24)])
    assert notices.breach_of(spec, analysis) == notices.Breach("p95", 0.31, 0.24, "max")
