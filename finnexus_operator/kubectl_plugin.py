"""``kubectl finnexus status|promote|abort|retry|undo|history NAME [-n NS]`` — a kubectl plugin.

Installed as ``kubectl-finnexus`` on PATH, so ``kubectl finnexus ...`` finds it. Requests set the
``finnexus.ai/request`` annotation; the operator acts once, removes it and records an Event.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from finnexus_operator import constants, errors
from finnexus_operator.adapters.kube import KubeClient, api_path, load_api_client

__all__ = ["format_history", "format_status", "main"]


def format_status(body: Mapping[str, Any]) -> str:
    """A human summary of one FinNexusDeployment."""
    meta, st = body.get("metadata") or {}, body.get("status") or {}
    lines = [
        f"{meta.get('namespace')}/{meta.get('name')}: {st.get('phase', 'Pending')}",
        f"  message:    {st.get('message', '')}",
        f"  active:     {st.get('activeColor') or '-'} (stable {st.get('stableRevision') or '-'})",
        f"  candidate:  {st.get('candidateColor') or '-'} "
        f"({st.get('candidateRevision') or '-'})",
    ]
    if st.get("rejectedRevision"):
        lines.append(f"  rejected:   {st['rejectedRevision']}")
    hc = st.get("healthCheck") or {}
    if st.get("candidateColor"):
        lines.append(f"  health:     {hc.get('consecutiveSuccesses', 0)} ok / "
                     f"{hc.get('consecutiveFailures', 0)} failed rounds"
                     + (f"; last error: {hc['lastError']}" if hc.get("lastError") else ""))
    analysis = st.get("analysis") or {}
    for metric in analysis.get("metrics") or []:
        lines.append(f"  metric:     {metric.get('name')} = {metric.get('value')} "
                     f"{metric.get('verdict')} (failures {metric.get('failures', 0)}, "
                     f"noData {metric.get('noData', 0)}, errors {metric.get('errors', 0)})")
    for cond in st.get("conditions") or []:
        lines.append(f"  condition:  {cond.get('type')}={cond.get('status')} "
                     f"({cond.get('reason')})")
    return "\n".join(lines)


def format_history(body: Mapping[str, Any]) -> str:
    rows = [("REVISION", "COLOR", "RESULT", "FINISHED", "REASON")]
    for h in (body.get("status") or {}).get("history") or []:
        rows.append((h.get("revision", ""), h.get("color", ""), h.get("result", ""),
                     h.get("finishedAt", "") or "", h.get("reason", "")))
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(r[:4], widths, strict=True))
                     + "  " + str(r[4]) for r in rows)


async def _run(args: argparse.Namespace) -> int:
    kube = KubeClient(load_api_client(args.kubeconfig, user_agent="kubectl-finnexus"))
    try:
        return await _command(kube, args)
    finally:
        await kube.close()  # the async client holds a connection pool


async def _command(kube: KubeClient, args: argparse.Namespace) -> int:
    path = api_path(constants.API_VERSION, constants.PLURAL, args.namespace, args.name)
    if args.command in ("status", "history"):
        body = await kube.get(path)
        if body is None:
            print(f"finnexusdeployment {args.namespace}/{args.name} not found", file=sys.stderr)
            return 1
        print(format_status(body) if args.command == "status" else format_history(body))
        return 0
    annotations = {constants.ANNOTATION_REQUEST: args.command}
    await kube.patch(path, {"metadata": {"annotations": annotations}})
    print(f"{args.command} requested for {args.namespace}/{args.name}; "
          f"watch: kubectl get fnd {args.name} -n {args.namespace} -w")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubectl finnexus", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["status", "promote", "abort", "retry", "undo",
                                            "history"])
    parser.add_argument("name", help="the FinNexusDeployment")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("--kubeconfig", default=None)
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except errors.ApiError as exc:
        print(f"kubectl finnexus: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
