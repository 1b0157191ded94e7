"""What the demo deploys: its settings, the four releases and the printed settings banner.

`DemoSettings` holds every knob (fast and normal modes) and builds the FinNexusDeployment
spec from them; `Release` is one revision of the story, its simulated "image" (container env
read by the demo app) and the outcome expected of it; `RELEASES` is the story in order:
v1 Stable, v2 rolled back by the metrics, v3 promoted by hand (``kubectl finnexus promote``)
after a manual gate, v4 rejected by its health checks.
`settings_lines` describes all of it, for the banner printed before the demo starts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from finnexus_operator.core.revision import revision_of

__all__ = [
    "NAME",
    "NAMESPACE",
    "RELEASES",
    "DemoSettings",
    "Obj",
    "Release",
    "settings_lines",
]

Obj = dict[str, Any]
NAME, NAMESPACE = "web", "demo"

ERROR_QUERY = (
    'sum(rate(http_requests_total{{service="{{{{service}}}}",status=~"5.."}}[{w}])) '
    '/ sum(rate(http_requests_total{{service="{{{{service}}}}"}}[{w}]))'
)
P95_QUERY = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(http_request_duration_seconds_bucket{{service="{{{{service}}}}"}}[{w}])))'
)


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """Every knob of the demo (printed at startup)."""

    fast: bool
    replicas: int = 2
    scrape_interval: str = "1s"
    rate_window: str = "5s"
    analysis_interval: int = 2
    checks: int = 5
    failure_limit: int = 0
    no_data_limit: int = 3
    max_error_ratio: float = 0.01
    max_p95: float = 0.2
    health_interval: int = 1
    health_timeout: int = 1
    success_threshold: int = 2
    failure_threshold: int = 3
    scale_down_delay: int = 3
    progress_deadline: int = 60
    rps: float = 40.0
    pause: float = 3.0  # seconds of steady traffic between releases, for the viewer
    step_timeout: float = 60.0

    @classmethod
    def for_mode(cls, fast: bool) -> DemoSettings:
        if fast:
            return cls(fast=True, analysis_interval=1, pause=1.0, step_timeout=45.0)
        return cls(fast=False)

    def analysis(self) -> Obj:
        w = self.rate_window
        return {
            "intervalSeconds": self.analysis_interval,
            "checks": self.checks,
            "failureLimit": self.failure_limit,
            "noDataLimit": self.no_data_limit,
            "metrics": [
                {
                    "name": "error-rate",
                    "query": ERROR_QUERY.format(w=w),
                    "max": self.max_error_ratio,
                },
                {"name": "latency-p95", "query": P95_QUERY.format(w=w), "max": self.max_p95},
            ],
        }

    def promotion(self, release: Release) -> Obj:
        return {"auto": not release.manual, "scaleDownDelaySeconds": self.scale_down_delay}

    def spec(self, release: Release) -> Obj:
        template = release.template()
        return {
            "replicas": self.replicas,
            "template": template,
            "service": {"port": 80, "targetPort": "http"},
            "ingress": {"host": "web.demo.local", "path": "/"},
            "healthCheck": {
                "path": "/health",
                "intervalSeconds": self.health_interval,
                "timeoutSeconds": self.health_timeout,
                "successThreshold": self.success_threshold,
                "failureThreshold": self.failure_threshold,
            },
            "analysis": self.analysis(),
            "promotion": self.promotion(release),
            "progressDeadlineSeconds": self.progress_deadline,
        }


@dataclasses.dataclass(frozen=True)
class Release:
    """One revision of the story: its simulated image and what should happen to it."""

    label: str
    env: tuple[tuple[str, str], ...]
    expect: str  # Stable | MetricsRollback | Promoted | HealthReject
    manual: bool = False  # promotion.auto: false -> promoted with `kubectl finnexus promote`

    def template(self) -> Obj:
        return {
            "metadata": {"labels": {"app": NAME}},
            "spec": {
                "containers": [
                    {
                        "name": NAME,
                        "image": f"demo/{NAME}:{self.label}",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "env": [{"name": k, "value": v} for k, v in self.env],
                    }
                ]
            },
        }

    @property
    def revision(self) -> str:
        return revision_of(self.template())

    @property
    def expectation(self) -> str:
        return {
            "Stable": "first revision: deployed, health-checked, switched to -> Stable",
            "MetricsRollback": "Prometheus analysis sees the error rate -> RolledBack",
            "ManualPromoted": "promotion.auto: false -> AwaitingPromotion; `kubectl finnexus "
            "promote` -> bake -> Promoted, old colour to 0",
            "HealthReject": "/health fails -> rejected before any traffic moves",
        }[self.expect]


RELEASES = (
    Release("v1", (("LATENCY", "0.02"),), "Stable"),
    Release("v2", (("ERROR_RATIO", "0.05"), ("LATENCY", "0.02")), "MetricsRollback"),
    Release("v3", (("LATENCY", "0.02"),), "ManualPromoted", manual=True),
    Release("v4", (("HEALTHY", "false"), ("LATENCY", "0.02")), "HealthReject"),
)


def settings_lines(s: DemoSettings) -> list[str]:
    """The settings banner, one printed line per item."""
    a = s.analysis()
    lines = [
        f"FinNexus demo{' (--fast)' if s.fast else ''}: emulated Kubernetes API, pod "
        "simulator, the operator (subprocess), app processes, a real Prometheus, traffic.",
        "Settings:",
        f"  FinNexusDeployment {NAMESPACE}/{NAME}: replicas {s.replicas}, Ingress host "
        f"web.demo.local; colours blue/green",
        f"  Prometheus: scrape interval {s.scrape_interval}, rate window [{s.rate_window}]",
        f"  analysis: intervalSeconds {a['intervalSeconds']}, checks {a['checks']}, "
        f"failureLimit {a['failureLimit']}, noDataLimit {a['noDataLimit']}",
    ]
    for metric in a["metrics"]:
        lines.append(f"    {metric['name']} <= {metric['max']:g}: {metric['query']}")
    lines += [
        f"    (error-rate max {s.max_error_ratio:g} = 1 %: loose for production, where 0.1 % is "
        "usual, but at",
        f"     {s.rps:g} req/s a [{s.rate_window}] window holds ~{s.rps * 5:.0f} requests, so "
        "0.1 % would be under one error;",
        "     1 % keeps the good release (0 %) clearly inside and the bad one (5 %) clearly "
        "outside)",
        f"  healthCheck: GET /health every {s.health_interval}s (timeout {s.health_timeout}s), "
        f"successThreshold {s.success_threshold}, failureThreshold {s.failure_threshold}",
        f"  promotion: auto (v3: auto false, promoted by hand), scaleDownDelaySeconds "
        f"{s.scale_down_delay}; "
        f"progressDeadlineSeconds {s.progress_deadline}",
        f"  traffic: {s.rps:g} req/s through the Ingress (re-resolved every 200 ms); "
        f"pause between releases {s.pause:g}s",
        "Releases (image tag = version; container env = behaviour):",
    ]
    for release in RELEASES:
        env = " ".join(f"{k}={v}" for k, v in release.env)
        lines.append(f"  {release.label}  {env:<32} -> {release.expectation}")
    return lines
