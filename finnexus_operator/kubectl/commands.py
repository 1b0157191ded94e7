"""The read commands and spec edits: get [-w], status [--watch], list, history, pause, resume,
version. Each takes the parsed arguments, a `PluginClient` and an `Output`, returns an `Exit`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import yaml

from finnexus_operator import __version__, constants, errors
from finnexus_operator.core.revision import revision_of
from finnexus_operator.kubectl import render
from finnexus_operator.kubectl.client import PluginClient
from finnexus_operator.kubectl.exits import TERMINAL, Exit
from finnexus_operator.kubectl.output import Output
from finnexus_operator.models.phases import Phase

__all__ = ["get", "history", "list_", "pause", "snapshot", "status", "verdict", "version"]

Obj = dict[str, Any]
Args = Any  # argparse.Namespace
REDRAW_MIN_SECONDS = 1.0  # get -w redraws at most this often
REFRESH_SECONDS = 5.0  # ... and at least this often (Events, pods, countdowns)
WATCH_CHUNK_SECONDS = 60.0  # one watch request lasts at most this long


def snapshot(client: PluginClient, namespace: str, name: str) -> render.Snapshot:
    """Read the resource and what it owns, once (a missing resource raises NotFound)."""
    resource = client.get_resource(namespace, name)
    deployments = {c: client.deployment(namespace, f"{name}-{c}") for c in constants.COLORS}
    pods = client.pods(namespace, f"{constants.LABEL_NAME}={name}")
    ready: dict[str, int] = {}
    for color, dep in deployments.items():
        labels = (((dep or {}).get("spec") or {}).get("template") or {}).get("metadata", {})
        rev = (labels.get("labels") or {}).get(constants.LABEL_REVISION)
        ready[color] = sum(1 for p in pods if _ready_pod(p, color, rev))
    spec = resource.get("spec") or {}
    ingress = client.ingress(namespace, name) if spec.get("ingress") else None
    return render.Snapshot(resource, deployments, ready, ingress,
                           client.events(namespace, name), time.time())


def _ready_pod(pod: Obj, color: str, revision: str | None) -> bool:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    if meta.get("deletionTimestamp") or labels.get(constants.LABEL_COLOR) != color:
        return False
    if revision is not None and labels.get(constants.LABEL_REVISION) != revision:
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def get(args: Args, client: PluginClient, out: Output) -> Exit:
    ns, name = args.namespace, args.name
    if not args.watch:
        out.line(render.tree(snapshot(client, ns, name)))
        return Exit.OK
    changed = threading.Event()
    failure: list[BaseException] = []
    stop = threading.Event()

    def watch() -> None:
        try:
            while not stop.is_set():
                rv = str(client.get_resource(ns, name)["metadata"].get("resourceVersion", ""))
                for _kind, _obj in client.watch_resource(ns, name, rv, WATCH_CHUNK_SECONDS):
                    changed.set()
                    if stop.is_set():
                        return
        except BaseException as exc:  # shown by the drawing loop, which owns the exit code
            failure.append(exc)
            changed.set()

    threading.Thread(target=watch, name="finnexus-watch", daemon=True).start()
    last = ""
    try:
        while not out.closed:
            drawn_at = time.monotonic()
            text = render.tree(snapshot(client, ns, name))
            if failure:
                raise failure[0]
            if text != last:
                out.write(("\x1b[H\x1b[2J" if out.tty else ("\n" if last else "")) + text + "\n")
                last = text
            changed.wait(REFRESH_SECONDS)
            changed.clear()
            time.sleep(max(0.0, REDRAW_MIN_SECONDS - (time.monotonic() - drawn_at)))
    except KeyboardInterrupt:
        pass  # Ctrl-C ends a watch: exit 0, as kubectl get -w does
    finally:
        stop.set()
    return Exit.OK


def verdict(resource: Obj) -> Exit | None:
    """The exit code a phase means, or None while the rollout is undecided: in progress, the
    operator has not yet observed the latest generation of the spec, or "Stable" on another
    revision than the spec's template (a paused new template waits while the old one serves)."""
    if _undecided(resource):
        return None
    phase = render.status_of(resource).phase
    return TERMINAL.get(phase) if phase is not None else None


def _undecided(resource: Obj) -> str:
    """Why a terminal-looking status is not the answer for the current spec ("" = it is)."""
    st = render.status_of(resource)
    generation = (resource.get("metadata") or {}).get("generation")
    if isinstance(generation, int) and (st.observed_generation or 0) < generation:
        return f"generation {generation} not yet observed by the operator"
    template = (resource.get("spec") or {}).get("template")
    if st.phase is Phase.STABLE and isinstance(template, dict) and st.stable_revision and (
            revision_of(template) != st.stable_revision):
        return f"the spec's revision {revision_of(template)} is not rolled out yet"
    return ""


def status_line(resource: Obj) -> str:
    st = render.status_of(resource)
    line = f"{(st.phase or Phase.PENDING).value}: {st.message or '-'}"
    why = _undecided(resource)
    return f"{line} ({why})" if why else line


def status(args: Args, client: PluginClient, out: Output) -> Exit:
    ns, name = args.namespace, args.name
    resource = client.get_resource(ns, name)
    shown = status_line(resource)
    out.line(shown)
    code = verdict(resource)
    if code is not None:
        return code
    if not args.watch and args.timeout is None:
        return Exit.TIMEOUT  # undecided now, as a timeout of 0 would say
    deadline = None if args.timeout is None else time.monotonic() + args.timeout

    def remaining() -> float:
        return WATCH_CHUNK_SECONDS if deadline is None else deadline - time.monotonic()

    while remaining() > 0:
        rv = str((resource.get("metadata") or {}).get("resourceVersion", ""))
        try:
            for kind, obj in client.watch_resource(ns, name, rv,
                                                   min(WATCH_CHUNK_SECONDS, remaining())):
                if kind == "DELETED":
                    raise errors.NotFound(f"finnexusdeployment {ns}/{name} was deleted")
                resource = obj
                if status_line(obj) != shown:
                    shown = status_line(obj)
                    out.line(shown)
                code = verdict(obj)
                if code is not None or out.closed:
                    return code if code is not None else Exit.TIMEOUT
                if remaining() <= 0:
                    break
        except errors.ApiError as exc:
            if exc.status != 410:  # Gone: the version is too old; read again and go on
                raise
        resource = client.get_resource(ns, name)
        code = verdict(resource)
        if code is not None:
            if status_line(resource) != shown:
                out.line(status_line(resource))
            return code
    out.error(f"timed out after {args.timeout_text}: {ns}/{name} is still "
              f"{status_line(resource)}")
    return Exit.TIMEOUT


def list_(args: Args, client: PluginClient, out: Output) -> Exit:
    items = client.list_resources(None if args.all_namespaces else args.namespace)
    if not items:
        where = "" if args.all_namespaces else f" in {args.namespace} namespace"
        out.err.write(f"No resources found{where}.\n")
        return Exit.OK
    now = time.time()
    rows: list[list[object]] = [["NAMESPACE", "NAME", "PHASE", "ACTIVE", "STABLE", "CANDIDATE",
                                 "AGE"]]
    for item in sorted(items, key=lambda i: (i["metadata"].get("namespace", ""),
                                             i["metadata"]["name"])):
        st, meta = render.status_of(item), item["metadata"]
        created = render.parse_time(meta.get("creationTimestamp"))
        rows.append([meta.get("namespace", ""), meta["name"], (st.phase or Phase.PENDING).value,
                     st.active_color or "-", st.stable_revision or "-",
                     st.candidate_revision or "-",
                     render.age(now - created if created else None)])
    out.line(render.table(rows))
    return Exit.OK


def history(args: Args, client: PluginClient, out: Output) -> Exit:
    resource = client.get_resource(args.namespace, args.name)
    entries = [h.model_dump(by_alias=True, exclude_none=True)
               for h in render.status_of(resource).history]
    if args.output == "json":
        out.line(json.dumps(entries, indent=2))
    elif args.output == "yaml":
        out.write(yaml.safe_dump(entries, sort_keys=False) if entries else "[]\n")
    else:
        rows: list[list[object]] = [["REVISION", "COLOR", "RESULT", "STARTED", "DURATION",
                                     "REASON"]]
        for h in entries:
            start, end = render.parse_time(h.get("startedAt")), render.parse_time(
                h.get("finishedAt"))
            took = render.age(end - start) if start and end else "-"
            rows.append([h.get("revision", ""), h.get("color", ""),
                         h.get("result", "") + (" (undo)" if h.get("undo") else ""),
                         h.get("startedAt", "-"), took, h.get("reason", "")])
        out.line(render.table(rows))
    return Exit.OK


def pause(paused: bool) -> Callable[[Args, PluginClient, Output], Exit]:
    def run(args: Args, client: PluginClient, out: Output) -> Exit:
        client.get_resource(args.namespace, args.name)  # 3 when it does not exist
        client.patch_resource(args.namespace, args.name, {"spec": {"paused": paused}})
        word = "paused" if paused else "resumed"
        out.line(f"finnexusdeployment {args.namespace}/{args.name} {word}")
        return Exit.OK
    return run


def version(args: Args, client: PluginClient | None, out: Output) -> Exit:
    """The plugin's version, and the operator's when a Deployment of it can be found."""
    out.line(f"kubectl-finnexus {__version__}")
    if client is None:
        out.line("operator: unknown (no cluster configured)")
        return Exit.OK
    try:
        found = client.deployments_everywhere(f"{constants.LABEL_NAME}=finnexus-operator")
    except errors.FinNexusError as exc:
        out.line(f"operator: unknown ({exc})")
        return Exit.OK
    if not found:
        out.line("operator: no Deployment labelled app.kubernetes.io/name=finnexus-operator")
    for dep in found:
        meta = dep.get("metadata") or {}
        images = ",".join(c.get("image", "?") for c in (((dep.get("spec") or {}).get(
            "template") or {}).get("spec") or {}).get("containers") or [])
        label = (meta.get("labels") or {}).get("app.kubernetes.io/version")
        out.line(f"operator: {meta.get('namespace')}/{meta.get('name')} "
                 f"{label or '?'} ({images})")
    return Exit.OK
