"""The Grafana dashboard: every panel query parses (promtool check rules) and every metric it
names is one the operator exports on /metrics."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import finnexus_operator.controller.telemetry  # noqa: F401  (registers the operator's metrics)
from tests.packaging.tools import CHART, require_tool

DASHBOARD = CHART / "dashboards" / "finnexus.json"
# Grafana's variables, as Grafana substitutes them before the query reaches Prometheus
VARIABLES = {"$__rate_interval": "2m", "$__interval": "1m", "$__range": "6h",
             "$namespace": ".*", "$name": ".*"}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count",
                                                             "_created"),
            "gauge": ("",), "info": ("_info",), "summary": ("_sum", "_count", "_created")}
REQUIRED = {  # what the dashboard is for (issue 10 item 4)
    "finnexus_rollouts_total", "finnexus_phase", "finnexus_analysis_metric_value",
    "finnexus_analysis_metric_bound", "finnexus_breach_to_rollback_seconds_bucket",
    "finnexus_rollbacks_total", "finnexus_health_rounds_total",
    "finnexus_reconcile_duration_seconds_bucket", "finnexus_reconcile_errors_total",
}


def panels(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for panel in items:
        out.append(panel)
        out += panels(panel.get("panels", []))
    return out


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def queries(dash: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expr) of every panel target."""
    return [(f"panel {p['id']} {p['title']!r} target {t['refId']}", t["expr"])
            for p in panels(dash["panels"]) for t in p.get("targets", [])]


def substituted(expr: str) -> str:
    for name in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, VARIABLES[name])
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def exported_names() -> set[str]:
    """Every sample name the operator's /metrics text declares (HELP/TYPE and samples)."""
    text = generate_latest(REGISTRY).decode()
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + s for s in SUFFIXES.get(family.type, ("",)))
        names.update(s.name for s in family.samples)
    return names


def metric_names(text: str) -> set[str]:
    return set(re.findall(r"\bfinnexus_[a-z0-9_]+\b", text))


def test_dashboard_is_well_formed() -> None:
    dash = dashboard()
    assert dash["uid"] == "finnexus-operator" and dash["title"]
    ids = [p["id"] for p in panels(dash["panels"])]
    assert len(ids) == len(set(ids))
    for panel in panels(dash["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel["targets"], panel["id"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert variables == {"datasource", "namespace", "name"}


def test_every_panel_query_parses_with_promtool(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    rules = [{"record": f"finnexus:dashboard:{i}", "expr": substituted(expr)}
             for i, (_, expr) in enumerate(queries(dashboard()))]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(rules)} rules found" in proc.stdout + proc.stderr


def test_promtool_really_rejects_a_broken_query(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [
        {"record": "x:y", "expr": "sum by (le (rate(finnexus_rollouts_total[5m]))"}]}]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0


def test_every_metric_the_dashboard_names_is_exported_by_the_operator() -> None:
    dash = dashboard()
    used = set().union(*(metric_names(expr) for _, expr in queries(dash)))
    used |= metric_names(json.dumps(dash["templating"]))
    exported = exported_names()
    assert used - exported == set(), f"not on the operator's /metrics: {used - exported}"
    assert used >= REQUIRED, f"the dashboard does not show {REQUIRED - used}"


@pytest.mark.parametrize("bad", ["finnexus_rollout_total", "finnexus_breach_seconds_bucket"])
def test_the_name_check_catches_a_misspelt_metric(bad: str) -> None:
    assert bad not in exported_names()
