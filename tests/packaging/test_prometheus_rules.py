"""The chart's PrometheusRule: `promtool check rules`, and `promtool test rules` proving every
alert fires on a synthetic bad series and stays silent on a healthy one."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.packaging.tools import only, render, require_tool

JOB = "finnexus-finnexus-operator-metrics"  # the metrics Service of release "finnexus"
ALERTS = {
    "FinNexusReleaseRolledBack",
    "FinNexusReleaseFailed",
    "FinNexusOperatorDown",
    "FinNexusReconcileErrors",
    "HighErrorRate",
    "SlowResponseTime",
}


def promtool() -> str:
    return require_tool("promtool", Path("/usr/bin/promtool"))


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rule = only(
        render({"prometheusRule.enabled": "true", "prometheusRule.serviceAlerts.enabled": "true"}),
        "PrometheusRule",
    )
    path = tmp_path_factory.mktemp("rules") / "finnexus-rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    return path


def alerts_in(spec: dict[str, Any]) -> set[str]:
    return {r["alert"] for g in spec["groups"] for r in g["rules"]}


def test_alert_sets_follow_values() -> None:
    assert not [o for o in render() if o["kind"] == "PrometheusRule"]
    default = only(render({"prometheusRule.enabled": "true"}), "PrometheusRule")
    assert alerts_in(default["spec"]) == ALERTS - {"HighErrorRate", "SlowResponseTime"}
    full = only(
        render({"prometheusRule.enabled": "true", "prometheusRule.serviceAlerts.enabled": "true"}),
        "PrometheusRule",
    )
    assert alerts_in(full["spec"]) == ALERTS


def test_service_alert_expressions_are_the_agreed_ones() -> None:
    spec = only(
        render({"prometheusRule.enabled": "true", "prometheusRule.serviceAlerts.enabled": "true"}),
        "PrometheusRule",
    )["spec"]
    rules = {r["alert"]: r for g in spec["groups"] for r in g["rules"]}
    assert rules["HighErrorRate"]["expr"] == 'rate(http_requests_total{status=~"5.."}[5m]) > 0.01'
    assert rules["HighErrorRate"]["for"] == "2m"
    assert rules["SlowResponseTime"]["expr"].startswith("histogram_quantile(0.95, ")
    assert rules["SlowResponseTime"]["expr"].endswith(" > 0.5")
    assert rules["SlowResponseTime"]["for"] == "5m"
    scoped = only(
        render(
            {
                "prometheusRule.enabled": "true",
                "prometheusRule.serviceAlerts.enabled": "true",
                "prometheusRule.serviceAlerts.selector": 'namespace="trading"',
            }
        ),
        "PrometheusRule",
    )["spec"]
    exprs = {r["alert"]: r["expr"] for g in scoped["groups"] for r in g["rules"]}
    assert 'status=~"5..",namespace="trading"' in exprs["HighErrorRate"]
    assert 'http_request_duration_seconds_bucket{namespace="trading"}' in exprs["SlowResponseTime"]


def test_promtool_check_rules(rules_file: Path) -> None:
    proc = subprocess.run(
        [promtool(), "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in proc.stdout


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    sel = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{sel}}}", "values": values}


CR = {"namespace": "trading", "name": "backend"}
SVC = {"namespace": "trading", "service": "backend-green"}


def _buckets(counts_per_min: dict[str, int]) -> list[dict[str, str]]:
    return [
        _series("http_request_duration_seconds_bucket", {**SVC, "le": le}, f"0+{n}x40")
        for le, n in counts_per_min.items()
    ]


def _case(
    series: list[dict[str, str]], alert: str, at: str, fires: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {
                "eval_time": at,
                "alertname": alert,
                "exp_alerts": [{"exp_labels": labels} for labels in fires],
            }
        ],
    }


def test_cases() -> list[tuple[str, dict[str, Any]]]:
    rolled = {**CR, "result": "RolledBack"}
    failed = {**CR, "result": "Failed"}
    promoted = {**CR, "result": "Promoted"}
    ok_latency = {"0.1": 100, "0.5": 100, "1": 100, "+Inf": 100}
    slow_latency = {"0.1": 10, "0.5": 20, "1": 100, "+Inf": 100}
    return [
        # A second rollback of a resource that had rolled back before.
        (
            "rolled-back-again",
            _case(
                [_series("finnexus_rollouts_total", rolled, "1x20 2x20")],
                "FinNexusReleaseRolledBack",
                "25m",
                [{**CR, "severity": "warning"}],
            ),
        ),
        # The first rollback ever of a resource: the series is born with value 1.
        (
            "rolled-back-first",
            _case(
                [_series("finnexus_rollouts_total", rolled, "_x20 1x20")],
                "FinNexusReleaseRolledBack",
                "25m",
                [{**CR, "severity": "warning"}],
            ),
        ),
        (
            "rolled-back-long-ago",
            _case(
                [_series("finnexus_rollouts_total", rolled, "1x40")],
                "FinNexusReleaseRolledBack",
                "35m",
                [],
            ),
        ),
        (
            "promotions-only",
            _case(
                [_series("finnexus_rollouts_total", promoted, "1+1x40")],
                "FinNexusReleaseRolledBack",
                "30m",
                [],
            ),
        ),
        (
            "failed",
            _case(
                [_series("finnexus_rollouts_total", failed, "_x10 1x20")],
                "FinNexusReleaseFailed",
                "15m",
                [{**CR, "severity": "critical"}],
            ),
        ),
        (
            "not-failed",
            _case(
                [_series("finnexus_rollouts_total", promoted, "1+1x40")],
                "FinNexusReleaseFailed",
                "30m",
                [],
            ),
        ),
        (
            "operator-up-is-zero",
            _case(
                [_series("up", {"job": JOB}, "1x5 0x20")],
                "FinNexusOperatorDown",
                "15m",
                [{"job": JOB, "severity": "critical"}],
            ),
        ),
        (
            "operator-never-scraped",
            _case(
                [_series("up", {"job": "other"}, "1x20")],
                "FinNexusOperatorDown",
                "15m",
                [{"job": JOB, "severity": "critical"}],
            ),
        ),
        (
            "operator-up",
            _case([_series("up", {"job": JOB}, "1x30")], "FinNexusOperatorDown", "15m", []),
        ),
        (
            "one-of-two-replicas-down",
            _case(
                [
                    _series("up", {"job": JOB, "instance": "a"}, "1x30"),
                    _series("up", {"job": JOB, "instance": "b"}, "0x30"),
                ],
                "FinNexusOperatorDown",
                "15m",
                [],
            ),
        ),
        (
            "operator-down-briefly",
            _case([_series("up", {"job": JOB}, "1x5 0x2 1x20")], "FinNexusOperatorDown", "8m", []),
        ),
        (
            "reconcile-errors",
            _case(
                [_series("finnexus_reconcile_errors_total", CR, "0+2x40")],
                "FinNexusReconcileErrors",
                "25m",
                [{**CR, "severity": "warning"}],
            ),
        ),
        (
            "reconcile-errors-stopped",
            _case(
                [_series("finnexus_reconcile_errors_total", CR, "0+2x5 10x40")],
                "FinNexusReconcileErrors",
                "30m",
                [],
            ),
        ),
        (
            "high-error-rate",
            _case(  # 6 per minute = 0.1/s
                [_series("http_requests_total", {**SVC, "status": "500"}, "0+6x40")],
                "HighErrorRate",
                "15m",
                [{**SVC, "status": "500", "severity": "critical"}],
            ),
        ),
        (
            "low-error-rate",
            _case(  # 0.3 per minute = 0.005/s
                [
                    _series("http_requests_total", {**SVC, "status": "500"}, "0+0.3x40"),
                    _series("http_requests_total", {**SVC, "status": "200"}, "0+600x40"),
                ],
                "HighErrorRate",
                "15m",
                [],
            ),
        ),
        (
            "slow-p95",
            _case(
                _buckets(slow_latency), "SlowResponseTime", "20m", [{**SVC, "severity": "warning"}]
            ),
        ),
        ("fast-p95", _case(_buckets(ok_latency), "SlowResponseTime", "20m", [])),
    ]


CASES = test_cases()
del test_cases  # a helper, not a test


def test_every_alert_fires_and_stays_silent_somewhere() -> None:
    fired = {
        c["alert_rule_test"][0]["alertname"]
        for _, c in CASES
        if c["alert_rule_test"][0]["exp_alerts"]
    }
    silent = {
        c["alert_rule_test"][0]["alertname"]
        for _, c in CASES
        if not c["alert_rule_test"][0]["exp_alerts"]
    }
    assert fired == ALERTS and silent == ALERTS


def _promtool_test(
    rules_file: Path, cases: list[dict[str, Any]], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "finnexus-rules.test.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {"rule_files": [str(rules_file)], "evaluation_interval": "1m", "tests": cases}
        )
    )
    return subprocess.run(
        [promtool(), "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120
    )


def _strip_annotations(rules_file: Path, tmp_path: Path) -> Path:
    """promtool compares annotations too; these cases check labels and firing only."""
    spec = yaml.safe_load(rules_file.read_text())
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    out = tmp_path / "rules-no-annotations.yaml"
    out.write_text(yaml.safe_dump(spec))
    return out


def test_promtool_test_rules(rules_file: Path, tmp_path: Path) -> None:
    proc = _promtool_test(_strip_annotations(rules_file, tmp_path), [c for _, c in CASES], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_test_rules_catches_a_wrong_expectation(rules_file: Path, tmp_path: Path) -> None:
    """Swapping a firing and a silent expectation makes promtool fail: the cases bite."""
    firing = dict(CASES)["high-error-rate"]
    wrong = {**firing, "alert_rule_test": [{**firing["alert_rule_test"][0], "exp_alerts": []}]}
    proc = _promtool_test(_strip_annotations(rules_file, tmp_path), [wrong], tmp_path)
    assert proc.returncode != 0
    assert "HighErrorRate" in proc.stdout + proc.stderr


def test_annotations_render_with_labels(rules_file: Path, tmp_path: Path) -> None:
    series = [_series("finnexus_rollouts_total", {**CR, "result": "RolledBack"}, "_x5 1x10")]
    case = _case(series, "FinNexusReleaseRolledBack", "10m", [])
    case["alert_rule_test"][0]["exp_alerts"] = [
        {
            "exp_labels": {**CR, "severity": "warning"},
            "exp_annotations": {
                "summary": "Release of trading/backend was rolled back",
                "description": "The FinNexus operator rejected a candidate of trading/backend and "
                "returned traffic to the stable revision. See `kubectl -n trading describe fnd "
                "backend` for the reason.",
            },
        }
    ]
    proc = _promtool_test(rules_file, [case], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
