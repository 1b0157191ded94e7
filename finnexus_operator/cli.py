"""``finnexus-operator run``: the operator, wrapping kopf (its only command)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from finnexus_operator import __version__
from finnexus_operator.adapters.metrics import PROVIDERS
from finnexus_operator.settings import add_run_arguments, settings_from

if TYPE_CHECKING:
    import kopf

__all__ = ["main"]


def _run(args: argparse.Namespace) -> int:
    import os

    if args.kubeconfig:  # kopf's login reads $KUBECONFIG: both clients use the same file
        os.environ["KUBECONFIG"] = args.kubeconfig
    import kopf

    from finnexus_operator.adapters.notify import load_config
    from finnexus_operator.controller.handlers import register
    from finnexus_operator.controller.runtime import Runtime
    from finnexus_operator.core.selector import LabelSelector
    from finnexus_operator.errors import ConfigError
    from finnexus_operator.logs import configure

    try:
        settings = settings_from(args, metric_providers=PROVIDERS)
        if settings.notifications_config:
            load_config(settings.notifications_config)  # a bad file exits 2 before anything
        LabelSelector.parse(settings.selector)  # a bad --selector exits 2 here
    except (ValueError, ConfigError) as exc:
        print(f"finnexus-operator: {exc}", file=sys.stderr)
        return 2
    configure(settings.log_format, settings.log_level)
    registry = kopf.OperatorRegistry()
    kubeconfig = settings.kubeconfig

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        # A fresh registry has no login handler: kopf's own would ignore --kubeconfig anyway.
        return _connection_info(kubeconfig)

    register(registry, Runtime(settings))
    liveness = (f"http://0.0.0.0:{settings.health_port}/healthz"
                if settings.health_port else None)
    kopf.run(
        registry=registry,
        standalone=True,  # leader election is the runtime's Lease, not kopf peering
        clusterwide=settings.clusterwide,
        namespaces=() if settings.clusterwide else settings.namespaces,
        liveness_endpoint=liveness,
    )
    return 0


def _connection_info(kubeconfig: str | None) -> kopf.ConnectionInfo:
    """kopf's credentials from the same kubeconfig / in-cluster config the operator uses."""
    import kopf

    from finnexus_operator.adapters.kube import load_api_client

    config = load_api_client(kubeconfig).configuration
    header = (config.get_api_key_with_prefix("BearerToken")
              or config.get_api_key_with_prefix("authorization"))
    parts = header.split(" ", 1) if header else []
    scheme, token = (None, None) if not parts else (
        (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1]))
    return kopf.ConnectionInfo(
        server=config.host, ca_path=config.ssl_ca_cert, insecure=not config.verify_ssl,
        username=config.username or None, password=config.password or None,
        scheme=scheme, token=token, certificate_path=config.cert_file,
        private_key_path=config.key_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="finnexus-operator",
        description="Blue-green releases for Kubernetes: health checks, an Ingress flip, "
        "Prometheus-gated promotion and automatic rollback.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the operator against a cluster")
    add_run_arguments(run, metric_providers=PROVIDERS)
    run.set_defaults(func=_run)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
