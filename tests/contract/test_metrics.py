"""The operator's own metrics after real releases: names, labels, values; gone after delete.

The real operator (kopf, real HTTP, in a thread) against the emulated API, with a real
Prometheus answering the analysis queries. The operator runs in this process, so its
``/metrics`` text is the process registry's exposition (``generate_latest``), parsed back with
prometheus_client's own parser: what a scrape would see.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from finnexus_kit.apiserver import ApiServer
from finnexus_operator import __version__
from finnexus_operator.settings import Settings
from tests.contract.cluster import NS, Cluster, resource, running_cluster, template
from tests.helpers import wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
NAME = "metered"


def scrape() -> Samples:
    """Every sample of the operator's /metrics text, keyed by (sample name, labels)."""
    text = generate_latest(REGISTRY).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, metric: str, /, **labels: str) -> float | None:
    return samples.get((metric, frozenset(labels.items())))


def of_resource(samples: Samples, name: str = NAME) -> list[tuple[str, dict[str, str]]]:
    return [(metric, dict(labels)) for metric, labels in samples
            if ("name", name) in labels and ("namespace", NS) in labels]


def analysis(measured: float) -> dict[str, Any]:
    return {"intervalSeconds": 1, "checks": 2, "failureLimit": 0, "metrics": [
        {"name": "error-rate", "query": f"vector({measured})", "min": 0, "max": 0.001}]}


@pytest.fixture()
def metered(apiserver: ApiServer, kubeconfig: str, prometheus_url: str) -> Iterator[Cluster]:
    settings = Settings(metrics_port=0, health_port=0, prometheus_url=prometheus_url)
    with running_cluster(apiserver, kubeconfig, settings=settings) as rig:
        yield rig


def test_metrics_after_a_promoted_and_a_rolled_back_release_and_gone_after_delete(
    metered: Cluster,
) -> None:
    cluster = metered
    before = scrape()
    breach_count = value(before, "finnexus_breach_to_rollback_seconds_count") or 0.0
    promoted_durations = value(before, "finnexus_rollout_duration_seconds_count",
                               result="Promoted") or 0.0
    cluster.create(resource(NAME, analysis=analysis(0.0002)))
    cluster.wait_phase("Stable", NAME)  # the first revision: no analysis
    cluster.set_image("app:good2", NAME)  # analysed: 0.0002 within [0, 0.001] -> promoted
    cluster.wait_phase("Stable", NAME, timeout=30,
                       stableRevision=_revision("app:good2"))
    cluster.wait_passes(name=NAME)
    after_promotion = scrape()
    labels = {"namespace": NS, "name": NAME}
    assert value(after_promotion, "finnexus_rollouts_total", **labels, result="Promoted") == 2
    assert value(after_promotion, "finnexus_analysis_metric_value", **labels,
                 metric="error-rate") == pytest.approx(0.0002)
    assert value(after_promotion, "finnexus_analysis_metric_bound", **labels,
                 metric="error-rate", bound="min") == 0
    assert value(after_promotion, "finnexus_analysis_metric_bound", **labels,
                 metric="error-rate", bound="max") == 0.001
    assert (value(after_promotion, "finnexus_health_rounds_total", **labels, result="Pass")
            or 0) >= 4  # successThreshold 2, two candidates
    assert value(after_promotion, "finnexus_phase", **labels, phase="Stable") == 1
    assert value(after_promotion, "finnexus_phase", **labels, phase="Analyzing") == 0
    assert value(after_promotion, "finnexus_rollout_duration_seconds_count",
                 result="Promoted") == promoted_durations + 2
    assert value(after_promotion, "finnexus_build_info", version=__version__) == 1

    # A breach: 0.05 > 0.001 on the first round (failureLimit 0) -> rolled back
    cluster.patch_spec(NAME, template=template("app:good3"), analysis=analysis(0.05))
    st = cluster.wait_phase("RolledBack", NAME, timeout=30)
    assert st["history"][-1]["reasonKind"] == "metric"
    cluster.wait_passes(name=NAME)
    rolled = scrape()
    assert value(rolled, "finnexus_rollbacks_total", **labels, reason="metric") == 1
    assert value(rolled, "finnexus_rollouts_total", **labels, result="RolledBack") == 1
    assert value(rolled, "finnexus_rollouts_total", **labels, result="Promoted") == 2
    assert value(rolled, "finnexus_analysis_metric_value", **labels,
                 metric="error-rate") == pytest.approx(0.05)
    assert value(rolled, "finnexus_breach_to_rollback_seconds_count") == breach_count + 1
    breach_sum = value(rolled, "finnexus_breach_to_rollback_seconds_sum") or 0.0
    breach_seconds = breach_sum - (value(before, "finnexus_breach_to_rollback_seconds_sum") or 0)
    print(f"\nbreach -> route accepted (finnexus_breach_to_rollback_seconds): "
          f"{breach_seconds * 1000:.1f} ms")
    assert 0 <= breach_seconds < 5
    assert value(rolled, "finnexus_phase", **labels, phase="RolledBack") == 1
    for metric, series_labels in of_resource(rolled):  # never a revision hash as a label
        for key, label in series_labels.items():
            assert _revision("app:good3") not in label and key != "revision", metric

    cluster.api.delete(cluster.cr_path(NAME))
    wait_until(lambda: not of_resource(scrape()), timeout=10,
               message=f"series of {NAME} still exported after delete")
    gone = scrape()
    assert value(gone, "finnexus_build_info", version=__version__) == 1  # not per resource
    assert not math.isnan(value(gone, "finnexus_breach_to_rollback_seconds_count") or 0)


def _revision(image: str) -> str:
    import hashlib
    import json

    canonical = json.dumps(template(image), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]
