"""One settings object, from command-line flags and ``FINNEXUS_*`` environment variables.

Flags win over environment variables, which win over defaults. The Prometheus endpoint is
operator configuration only: a CR author can never make the operator call a URL. The metric
backend is chosen by name; the CLI passes the names of its registry
(:data:`~finnexus_operator.adapters.metrics.PROVIDERS`) in, so an unknown name is rejected here
and the CLI exits 2 before anything starts. This module sits at the bottom of the layers: it
imports nothing of the operator's.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Settings", "add_run_arguments", "settings_from"]

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """How the operator runs."""

    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    metrics_provider: str = "prometheus"  # a name in adapters.metrics.PROVIDERS
    prometheus_url: str | None = None
    prometheus_token: str | None = field(default=None, repr=False)  # a secret: never logged
    prometheus_token_file: str | None = None
    prometheus_ca_file: str | None = None
    prometheus_insecure_skip_verify: bool = False
    prometheus_timeout: float = 5.0
    prometheus_max_bytes: int = 1024 * 1024  # a larger answer is an Error, never read whole
    prometheus_max_series: int = 100  # an answer with more series is an Error, never decoded
    log_format: str = "auto"  # auto | json | console
    log_level: str = "info"
    metrics_port: int = 8080  # 0 disables the operator's own /metrics
    health_port: int = 8081  # kopf liveness endpoint /healthz; 0 disables
    leader_election: bool = False
    kubeconfig: str | None = None
    api_qps: float = 100.0  # client-side rate limit of the operator's own API client
    api_burst: int = 200
    workers: int = 8  # passes running at once (a fixed pool, like Argo Rollouts' workers)
    max_concurrent_probes: int = 64  # health-probe requests in flight, whole operator
    resync_seconds: float = 3600.0  # every pass again, from the caches; 0 disables
    notifications_config: str | None = None  # YAML receivers (adapters.notify); URLs in files
    # -- leader election on a Lease and sharding (issue 9 items 6-7; controller.leader) --
    lease_name: str | None = None  # None: derived from the shard (leader.lease_name)
    lease_namespace: str | None = None  # None: $POD_NAMESPACE, else "default"
    lease_duration: float = 15.0
    lease_renew_deadline: float = 10.0
    lease_retry_period: float = 2.0
    instance_id: str | None = None  # holder identity and User-Agent; None: $POD_NAME-<random>
    selector: str | None = None  # label selector on the resource: this instance's shard

    @property
    def clusterwide(self) -> bool:
        return self.all_namespaces or not self.namespaces


def add_run_arguments(parser: argparse.ArgumentParser, *,
                      metric_providers: Collection[str] = ()) -> None:
    """The flags of ``finnexus-operator run`` (``metric_providers``: names for the help)."""
    add = parser.add_argument
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--namespace", "-n", action="append", dest="namespaces",
                       metavar="NS", help="watch this namespace (repeatable) "
                       "[FINNEXUS_NAMESPACES, comma-separated]")
    scope.add_argument("--all-namespaces", "-A", action="store_true", default=None,
                       help="watch every namespace (the default when no namespace is given) "
                       "[FINNEXUS_ALL_NAMESPACES]")
    known = f"one of: {', '.join(sorted(metric_providers))} " if metric_providers else ""
    add("--metrics-provider", help=f"metric backend for analysis, {known}(default prometheus) "
        "[FINNEXUS_METRICS_PROVIDER]")
    add("--prometheus-url", help="Prometheus base URL for analysis [FINNEXUS_PROMETHEUS_URL]")
    add("--prometheus-token-file", help="file with a bearer token for Prometheus, re-read on "
        "each query [FINNEXUS_PROMETHEUS_TOKEN_FILE; or the token in FINNEXUS_PROMETHEUS_TOKEN]")
    add("--prometheus-ca-file", help="CA bundle to verify Prometheus's TLS certificate "
        "[FINNEXUS_PROMETHEUS_CA_FILE]")
    add("--prometheus-insecure-skip-verify", action="store_true", default=None,
        help="do not verify Prometheus's TLS certificate (not recommended) "
        "[FINNEXUS_PROMETHEUS_INSECURE_SKIP_VERIFY]")
    add("--prometheus-timeout", type=float, help="seconds per query (default 5) "
        "[FINNEXUS_PROMETHEUS_TIMEOUT]")
    add("--prometheus-max-bytes", type=int, help="largest Prometheus answer read, in bytes; "
        "a larger one is an Error (default 1048576 = 1 MiB) [FINNEXUS_PROMETHEUS_MAX_BYTES]")
    add("--prometheus-max-series", type=int, help="most series in a Prometheus answer before "
        "it is an Error without decoding (default 100) [FINNEXUS_PROMETHEUS_MAX_SERIES]")
    add("--log-format", choices=["auto", "json", "console"],
        help="auto: console on a terminal, JSON otherwise [FINNEXUS_LOG_FORMAT]")
    add("--log-level", choices=["debug", "info", "warning", "error"],
        help="[FINNEXUS_LOG_LEVEL] (default info)")
    add("--metrics-port", type=int, help="port of the operator's own /metrics, 0 disables "
        "(default 8080) [FINNEXUS_METRICS_PORT]")
    add("--health-port", type=int, help="port of the liveness endpoint /healthz, 0 disables "
        "(default 8081) [FINNEXUS_HEALTH_PORT]")
    add("--leader-election", action="store_true", default=None,
        help="run several replicas, one active: a coordination.k8s.io/v1 Lease "
        "[FINNEXUS_LEADER_ELECTION]")
    # -- leader election on a Lease and sharding (issue 9 items 6-7) --
    add("--lease-name", help="the Lease (default finnexus-operator, or one derived from "
        "--selector/--namespace for a shard) [FINNEXUS_LEASE_NAME]")
    add("--lease-namespace", help="namespace of the Lease (default $POD_NAMESPACE, else "
        "default) [FINNEXUS_LEASE_NAMESPACE]")
    add("--lease-duration", type=float, help="seconds a standby waits after the last renewal "
        "it saw before taking over (default 15) [FINNEXUS_LEASE_DURATION]")
    add("--lease-renew-deadline", type=float, help="seconds the leader keeps acting without a "
        "renewal; then it stops (default 10) [FINNEXUS_LEASE_RENEW_DEADLINE]")
    add("--lease-retry-period", type=float, help="seconds between Lease attempts (default 2) "
        "[FINNEXUS_LEASE_RETRY_PERIOD]")
    add("--instance-id", help="this instance's name in the Lease and its User-Agent (default "
        "$POD_NAME plus a random suffix) [FINNEXUS_INSTANCE_ID]")
    add("--selector", "-l", help="act only on resources with these labels, a Kubernetes label "
        "selector such as 'finnexus.ai/shard=a' or 'team in (x,y)' [FINNEXUS_SELECTOR]")
    add("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")
    add("--api-qps", type=float, help="requests per second to the Kubernetes API, on "
        "average (token bucket; 0: unlimited; default 100) [FINNEXUS_API_QPS]")
    add("--api-burst", type=int, help="requests above --api-qps allowed in a burst "
        "(default 200) [FINNEXUS_API_BURST]")
    add("--workers", type=int, help="reconcile passes running at once (default 8) "
        "[FINNEXUS_WORKERS]")
    add("--max-concurrent-probes", type=int, help="health-check requests in flight for the "
        "whole operator (default 64) [FINNEXUS_MAX_CONCURRENT_PROBES]")
    add("--resync-seconds", type=float, help="run every resource's pass again this often, "
        "from the caches (no API reads); 0 disables (default 3600) [FINNEXUS_RESYNC_SECONDS]")
    add("--notifications-config", metavar="FILE", help="YAML file of notification receivers "
        "(webhook|slack; each URL read from its urlFile) [FINNEXUS_NOTIFICATIONS_CONFIG]")


def settings_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None, *,
                  metric_providers: Collection[str] | None = None) -> Settings:
    """Merge parsed flags with ``FINNEXUS_*`` variables; raises ValueError on bad values
    (a ``--metrics-provider`` not in ``metric_providers``, when those are given)."""
    env = os.environ if environ is None else environ

    def pick(flag: object, name: str) -> str | None:
        if flag is not None:
            return str(flag)
        value = env.get(f"FINNEXUS_{name}")
        return value if value not in (None, "") else None

    def boolean(flag: object, name: str) -> bool:
        value = pick(flag, name)
        return value is not None and value.lower() in _TRUE

    def number(flag: object, name: str, default: float) -> float:
        value = pick(flag, name)
        try:
            return default if value is None else float(value)
        except ValueError:
            raise ValueError(f"FINNEXUS_{name} / --{name.lower().replace('_', '-')}: "
                             f"{value!r} is not a number") from None

    namespaces: Sequence[str] = args.namespaces or [
        n.strip() for n in (env.get("FINNEXUS_NAMESPACES") or "").split(",") if n.strip()]
    all_ns = boolean(args.all_namespaces, "ALL_NAMESPACES")
    if all_ns and args.namespaces is None:
        namespaces = ()
    settings = Settings(
        namespaces=tuple(namespaces),
        all_namespaces=all_ns,
        metrics_provider=pick(args.metrics_provider, "METRICS_PROVIDER") or "prometheus",
        prometheus_url=pick(args.prometheus_url, "PROMETHEUS_URL"),
        prometheus_token=env.get("FINNEXUS_PROMETHEUS_TOKEN") or None,
        prometheus_token_file=pick(args.prometheus_token_file, "PROMETHEUS_TOKEN_FILE"),
        prometheus_ca_file=pick(args.prometheus_ca_file, "PROMETHEUS_CA_FILE"),
        prometheus_insecure_skip_verify=boolean(
            args.prometheus_insecure_skip_verify, "PROMETHEUS_INSECURE_SKIP_VERIFY"),
        prometheus_timeout=number(args.prometheus_timeout, "PROMETHEUS_TIMEOUT", 5.0),
        prometheus_max_bytes=int(number(args.prometheus_max_bytes, "PROMETHEUS_MAX_BYTES",
                                        1024 * 1024)),
        prometheus_max_series=int(number(args.prometheus_max_series, "PROMETHEUS_MAX_SERIES",
                                         100)),
        log_format=pick(args.log_format, "LOG_FORMAT") or "auto",
        log_level=pick(args.log_level, "LOG_LEVEL") or "info",
        metrics_port=int(number(args.metrics_port, "METRICS_PORT", 8080)),
        health_port=int(number(args.health_port, "HEALTH_PORT", 8081)),
        leader_election=boolean(args.leader_election, "LEADER_ELECTION"),
        kubeconfig=args.kubeconfig,
        api_qps=number(getattr(args, "api_qps", None), "API_QPS", 100.0),
        api_burst=int(number(getattr(args, "api_burst", None), "API_BURST", 200)),
        workers=int(number(getattr(args, "workers", None), "WORKERS", 8)),
        max_concurrent_probes=int(number(getattr(args, "max_concurrent_probes", None),
                                         "MAX_CONCURRENT_PROBES", 64)),
        resync_seconds=number(getattr(args, "resync_seconds", None), "RESYNC_SECONDS",
                              3600.0),
        notifications_config=pick(getattr(args, "notifications_config", None),
                                  "NOTIFICATIONS_CONFIG"),
        lease_name=pick(args.lease_name, "LEASE_NAME"),
        lease_namespace=pick(args.lease_namespace, "LEASE_NAMESPACE")
        or env.get("POD_NAMESPACE") or None,
        lease_duration=number(args.lease_duration, "LEASE_DURATION", 15.0),
        lease_renew_deadline=number(args.lease_renew_deadline,
                                    "LEASE_RENEW_DEADLINE", 10.0),
        lease_retry_period=number(args.lease_retry_period,
                                  "LEASE_RETRY_PERIOD", 2.0),
        instance_id=pick(args.instance_id, "INSTANCE_ID"),
        selector=pick(args.selector, "SELECTOR"),
    )
    if settings.log_format not in ("auto", "json", "console"):
        raise ValueError(f"log format {settings.log_format!r}: expected auto, json or console")
    if metric_providers is not None and settings.metrics_provider not in metric_providers:
        raise ValueError(f"unknown --metrics-provider {settings.metrics_provider!r}; "
                         f"known: {', '.join(sorted(metric_providers))}")
    if settings.prometheus_url and not settings.prometheus_url.startswith(("http://", "https://")):
        raise ValueError(f"--prometheus-url {settings.prometheus_url!r}: expected http(s)://...")
    if settings.prometheus_timeout <= 0:
        raise ValueError("--prometheus-timeout must be positive")
    if settings.prometheus_max_bytes < 1:
        raise ValueError("--prometheus-max-bytes must be positive")
    if settings.api_qps < 0 or settings.api_burst < 1:
        raise ValueError("--api-qps must be >= 0 and --api-burst >= 1")
    if settings.workers < 1 or settings.max_concurrent_probes < 1:
        raise ValueError("--workers and --max-concurrent-probes must be >= 1")
    if settings.resync_seconds < 0:
        raise ValueError("--resync-seconds must be >= 0 (0 disables)")
    if settings.prometheus_max_series < 1:
        raise ValueError("--prometheus-max-series must be positive")
    if not 0 < settings.lease_retry_period < settings.lease_renew_deadline \
            < settings.lease_duration:
        raise ValueError("leader election needs 0 < --lease-retry-period < "
                         "--lease-renew-deadline < --lease-duration")
    return settings
