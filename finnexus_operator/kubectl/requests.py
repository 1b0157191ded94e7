"""``promote|abort|retry|undo NAME``: ask the operator, then wait for its answer.

The request is the annotation ``finnexus.ai/request: <verb>``. The operator acts once, removes
the annotation and records an Event: Normal ``Request`` "<verb> request accepted", or Warning
``RequestIgnored`` "<verb> request ignored: <why>" (finnexus_operator.core.requests). The
answer is both: the annotation gone and a new such Event (one not there before the request).
"""

from __future__ import annotations

import time
from typing import Any

from finnexus_operator import constants
from finnexus_operator.kubectl.client import PluginClient
from finnexus_operator.kubectl.exits import Exit
from finnexus_operator.kubectl.output import Output
from finnexus_operator.models.phases import Reason

__all__ = ["POLL_SECONDS", "answer_of", "request"]

Obj = dict[str, Any]
POLL_SECONDS = 0.25
_ANSWERS = (Reason.REQUEST.value, Reason.REQUEST_IGNORED.value)


def answer_of(events: list[Obj], seen: set[str], verb: str) -> Obj | None:
    """The operator's Event answering ``verb`` among ``events``, not one of ``seen``."""
    fresh = [e for e in events
             if (e.get("metadata") or {}).get("name") not in seen
             and e.get("reason") in _ANSWERS
             and (str(e.get("message", "")).startswith(f"{verb} request")
                  or "unknown request" in str(e.get("message", "")))]
    return fresh[0] if fresh else None


def request(args: Any, client: PluginClient, out: Output) -> Exit:
    ns, name, verb = args.namespace, args.name, args.command
    client.get_resource(ns, name)  # 3 when it does not exist, before anything is written
    seen = {str((e.get("metadata") or {}).get("name")) for e in client.events(ns, name)}
    client.patch_resource(ns, name, {"metadata": {"annotations": {
        constants.ANNOTATION_REQUEST: verb}}})
    deadline = time.monotonic() + args.timeout
    while True:
        resource = client.get_resource(ns, name)
        pending = ((resource.get("metadata") or {}).get("annotations") or {}).get(
            constants.ANNOTATION_REQUEST) == verb
        answer = None if pending else answer_of(client.events(ns, name), seen, verb)
        if answer is not None:
            message = str(answer.get("message", ""))
            if answer.get("reason") == Reason.REQUEST.value:
                out.line(f"{verb}: accepted by the operator ({ns}/{name})")
                return Exit.OK
            out.error(f"{verb}: refused by the operator: {message.split(': ', 1)[-1]}")
            return Exit.REJECTED
        if time.monotonic() >= deadline:
            state = "still pending (is the operator running?)" if pending else (
                "removed, but no answer Event was seen")
            out.error(f"{verb}: no answer from the operator within {args.timeout_text}; "
                      f"the request annotation is {state}")
            return Exit.TIMEOUT
        time.sleep(POLL_SECONDS)
