"""An embedded Kubernetes API server for tests and the demo, built on kmock 0.8.

`ApiServer` serves an in-memory Kubernetes API on 127.0.0.1 from its own thread and event loop,
so that kopf, the ``kubernetes`` client and the real ``kubectl`` can all talk to it over HTTP.

kmock (pinned to 0.8, guarded by a test) still provides the API discovery (``/api``, ``/apis``,
``/api/v1``, ``/apis/GROUP/VERSION``, ``/version``), the resource registry behind it, the error
rendering and the request plumbing. `Emulator` subclasses ``kmock.KubernetesScaffold``, the
stateless base of ``kmock.KubernetesEmulator``: every stateful part of the latter had to be
replaced, so everything under a served resource's URL is answered by `Emulator` itself:

- objects get ``metadata.uid``, ``resourceVersion`` (one global counter), ``generation`` (1 on
  create, +1 only when something outside ``metadata`` and a status subresource's ``status``
  changes, or when deletion starts) and ``creationTimestamp``; no-op writes change nothing; lists
  carry ``kind: <Kind>List``, ``apiVersion`` and the current ``metadata.resourceVersion`` (kmock
  stamps none of these, so kopf's finalizer JSON-patch, which tests the resourceVersion, failed);
- a failed JSON-patch ``test`` answers 422 (kmock: 500); a stale ``resourceVersion`` in a PUT or
  patch answers 409 Conflict, creating an existing name 409 AlreadyExists, a missing object 404
  NotFound, all with real ``Status`` bodies;
- a watch subscribes first and then replays, in one step without an ``await`` in between, so no
  change is lost; with ``?resourceVersion=N`` it replays the recorded events newer than N (410
  Expired when N fell out of the history), without one it replays every object as ADDED
  (``sendInitialEvents=true`` ends that replay with the initial-events-end BOOKMARK);
  ``timeoutSeconds`` is honoured; deletions send DELETED with the final object;
- ``metadata.generateName`` works (kopf posts its Events with it);
- ``/api/v1/namespaces[/NAME]`` are routed (kmock cannot parse them): Namespace objects are
  ordinary cluster-scoped objects, declared via ``ApiServer(namespaces=...)`` or created through
  the API; creating an object in an unknown namespace answers 404 as the real API does;
- ``labelSelector`` (``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``, ``a notin (x)``)
  and ``fieldSelector`` (``=``, ``==``, ``!=`` on any dotted field path) filter lists and
  watches; in a watch, an object that starts or stops matching is sent as ADDED or DELETED;
- status subresource semantics: PATCH/PUT on ``/status`` change only ``.status``; writes to the
  main resource (and creation) ignore ``.status`` for kinds whose status is a subresource;
- merge-patch follows RFC 7386 (``null`` deletes, a non-object replaces), strategic merge is
  treated as merge-patch (lists are replaced whole), JSON-patch is RFC 6902; PUT replaces;
- discovery: kmock names the core group version ``/v1`` (kubectl then finds no core resource)
  and gives ``x/status`` the short names of ``x`` (kubectl then finds ``fnd`` ambiguous); both
  are corrected in `Emulator._serve_version`;
- every request is recorded as ``(method, path, query)`` with its User-Agent and arrival time
  in a thread-safe, append-only `RequestLog` (``ApiServer(request_cap=N)`` keeps the last N);
- it stays fast at thousands of objects: objects are indexed by (type, namespace, name) with a
  label index for ``key=value`` selector terms, deleted objects leave the index at once, each
  object's JSON is made once per version (GETs, LISTs and every watcher's line reuse it), watch
  events reach only the streams of their type, and a ``?resourceVersion=`` replay reads only
  the newer end of the history (``python -m bench.scale.emulator_speed`` measures it);
- the HTTP server is aiohttp's low-level server, not ``kmock.Server``: that one patches aiohttp's
  DNS resolver process-wide and needs LIFO exits, which breaks with several servers in threads.

Not emulated: controllers (no ReplicaSets/Pods from Deployments), garbage collection of owned
objects, admission and schema validation, RBAC, server-side apply (415), field managers,
list chunking (``limit`` is ignored: one chunk), DELETE of a collection.

This module is the front door; the parts live in `finnexus_kit.kubeapi`, layered one
way: ``resources`` (types, paths, Status errors) and ``selectors`` → ``store`` (objects,
stamping, write and patch rules, history) → ``watch`` (streams) → ``emulator`` (HTTP routing,
discovery) → ``server`` (`ApiServer`, its thread and synchronous client).
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from collections.abc import Sequence

from finnexus_kit.kubeapi.emulator import Emulator, RequestLog
from finnexus_kit.kubeapi.emulator import Request as Request
from finnexus_kit.kubeapi.resources import NAMESPACES as NAMESPACES
from finnexus_kit.kubeapi.resources import RESOURCES, ResourceType, path_for
from finnexus_kit.kubeapi.resources import VERBS as VERBS
from finnexus_kit.kubeapi.resources import Obj as Obj
from finnexus_kit.kubeapi.resources import Objs as Objs
from finnexus_kit.kubeapi.resources import StatusError as StatusError
from finnexus_kit.kubeapi.selectors import Selector as Selector
from finnexus_kit.kubeapi.server import ApiRequestError, ApiServer
from finnexus_kit.kubeapi.store import HISTORY_SIZE as HISTORY_SIZE
from finnexus_kit.kubeapi.store import JSON_PATCH as JSON_PATCH
from finnexus_kit.kubeapi.store import MERGE_PATCH as MERGE_PATCH
from finnexus_kit.kubeapi.store import WatchEvent as WatchEvent
from finnexus_kit.kubeapi.store import merge_patch as merge_patch

__all__ = [
    "RESOURCES",
    "ApiRequestError",
    "ApiServer",
    "Emulator",
    "RequestLog",
    "ResourceType",
    "path_for",
]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m finnexus_kit.apiserver --kubeconfig PATH``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Serve an emulated Kubernetes API.")
    parser.add_argument("--kubeconfig", required=True, help="where to write the kubeconfig")
    parser.add_argument("--namespace", action="append", help="a namespace to declare (repeat)")
    args = parser.parse_args(argv)
    with ApiServer(args.namespace or ("default",)) as server:
        path = server.write_kubeconfig(args.kubeconfig)
        print(f"Kubernetes API emulator at {server.url}; kubectl --kubeconfig {path} ...",
              flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
