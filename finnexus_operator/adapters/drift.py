"""What to patch: what we declare compared with what the API server stored (drift).

Drift (DESIGN §2.1 rule 6) is corrected by comparing what we declare with what is there,
without fighting API-server defaulting (:func:`declares`): a real API server adds defaults to
what we write (``imagePullPolicy``, ``terminationMessagePath``, ``protocol: TCP``, ``dnsPolicy``,
``securityContext: {}`` ...), drops empty values and canonicalises quantities, so comparing
whole objects would patch for ever. What is compared, by kind:

- Deployment: ``replicas``, and the declared pod template as a subset of the current one
  (a changed or removed declared value, or a declared list whose length differs: an added or
  removed container, env var or port) -- then the whole declared template is written back.
  A field added by hand where we declare nothing (``command``, ``env`` on a container that
  declares none) looks like a default: see *applied* below;
- Service: the selector exactly, the declared ports as a subset;
- Ingress: its ``spec`` is wholly ours (rules, ``ingressClassName``, ``tls``, including their
  absence: a field removed from ``spec.ingress`` is removed, a field added by hand is removed),
  with one exception: an ``ingressClassName`` we never set is kept (the DefaultIngressClass
  admission plugin sets the cluster's default class on creation, and removing it could leave
  the Ingress unserved). The spec fields we set are recorded in
  ``finnexus.ai/managed-fields``, so a class we set and no longer declare is removed;
- metadata: the declared labels; the declared annotations, and the annotations we set before
  and no longer declare are removed (their keys are recorded in
  ``finnexus.ai/managed-annotations``), annotations others add are kept.

*Applied*: when the pod template the API server stored holds more than we declared (its
defaults), the Deployment's annotation ``finnexus.ai/applied`` records ``<hash of what we
declared>.<hash of what was stored>`` after our write (one metadata patch). The template then
holds while what we declare and what is stored are both unchanged; anything else -- a field
added by hand, a field we no longer declare -- is written back. Writing back what is already
stored is a no-op for the API server (no new ReplicaSet), so a doubtful case costs one
request, never a rollout. Where the API server adds nothing (the emulator), nothing is
recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from finnexus_operator import constants

__all__ = [
    "APPLIED",
    "applied",
    "declares",
    "equivalent",
    "is_subset",
    "labels_of",
    "metadata_ops",
    "pointer",
    "spec_ops",
    "with_bookkeeping",
]

MANAGED = constants.ANNOTATION_MANAGED_ANNOTATIONS
MANAGED_FIELDS = constants.ANNOTATION_MANAGED_FIELDS
BOOKKEEPING = frozenset({MANAGED, MANAGED_FIELDS})  # annotations about what we manage
INGRESS_CLASS = "ingressClassName"
APPLIED = constants.ANNOTATION_APPLIED


def is_subset(want: Any, have: Any) -> bool:
    """Every key/value of ``want`` is in ``have`` (lists element-wise, same length)."""
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(
            k in have and is_subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(
            is_subset(w, h) for w, h in zip(want, have, strict=True))
    return bool(want == have)


# Maps whose values are resource quantities (container resources, pod overhead) and scalar
# quantities: the API server stores them canonicalised ("1000m" -> "1", "0.5" -> "500m").
_QUANTITY_MAPS = frozenset({"limits", "requests", "overhead"})
_QUANTITY_SCALARS = frozenset({"sizeLimit"})
_QUANTITY = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))"  # the number, then an exponent or a suffix
                       r"(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def _quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity's value ("500m", "1Gi", "2e3", 1), or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.fullmatch(value.strip())
    if match is None:
        return None
    try:
        number = Decimal(match[1])
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        return None
    if match[2]:
        return number.scaleb(int(match[2][1:]))
    if match[3] in _BINARY:
        return number * _BINARY[match[3]]
    if match[3]:
        return number.scaleb(_DECIMAL[match[3]])
    return number


def _is_zero(value: Any) -> bool:
    """A value the API server does not store (Go's ``omitempty``): an absent key equals it."""
    if value is None or value is False:
        return True
    if isinstance(value, str | list | Mapping):
        return len(value) == 0
    return isinstance(value, int | float) and value == 0


def declares(want: Any, have: Any, *, quantity: bool = False) -> bool:
    """What we declare (``want``) holds in what is there (``have``), API-server defaults allowed.

    Keys ``have`` adds are fine (defaults); a declared key that is missing or whose value
    changed is not; lists must have the same length and hold element-wise (an added or
    removed container or env var is drift); a declared zero value (``null``, ``""``, ``0``,
    ``false``, ``[]``, ``{}``) matches an absent key (the API server drops them); quantities
    in ``resources.limits/requests``, ``overhead`` and ``sizeLimit`` compare by value.
    """
    if isinstance(want, Mapping):
        if not isinstance(have, Mapping):
            return have is None and _is_zero(want)
        for key, value in want.items():
            if have.get(key) is None:
                if not _is_zero(value):
                    return False
            elif not declares(value, have[key], quantity=quantity or key in _QUANTITY_MAPS
                              or key in _QUANTITY_SCALARS):
                return False
        return True
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(
            declares(w, h, quantity=quantity) for w, h in zip(want, have, strict=True))
    if want is None:
        return _is_zero(have)
    if quantity:
        a, b = _quantity(want), _quantity(have)
        if a is not None and b is not None:
            return a == b
    return bool(want == have) and isinstance(want, bool) == isinstance(have, bool)


def equivalent(want: Any, have: Any) -> bool:
    """``want`` and ``have`` say the same (each :func:`declares` the other): nothing added,
    nothing removed, nothing changed, up to zero values the API server drops."""
    return declares(want, have) and declares(have, want)


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) to ``parts``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def applied(declared: Any, stored: Any) -> str:
    """The ``finnexus.ai/applied`` record: hashes of what we declared and what was stored."""
    return f"{_digest(declared)}.{_digest(stored)}"


def _holds(want: Any, stored: Any, current: Mapping[str, Any]) -> bool:
    """What we declare holds in what is stored: both say the same, or the stored one adds to it
    and both are as our last write left them (the applied record): the additions are the API
    server's."""
    if equivalent(want, stored):
        return True
    recorded = ((current.get("metadata") or {}).get("annotations") or {}).get(APPLIED)
    return declares(want, stored) and recorded == applied(want, stored)


def spec_ops(desired: Mapping[str, Any], current: Mapping[str, Any]) -> list[dict[str, Any]]:
    want, have = desired.get("spec") or {}, current.get("spec") or {}
    kind = desired["kind"]
    if kind == "Deployment":
        ops = []
        if have.get("replicas") != want["replicas"]:
            ops.append({"op": "add", "path": "/spec/replicas", "value": want["replicas"]})
        if not _holds(want["template"], have.get("template"), current):
            ops.append({"op": "add", "path": "/spec/template", "value": want["template"]})
        return ops
    if kind == "Service":
        ops = []
        if not equivalent(want["selector"], have.get("selector")):
            ops.append({"op": "add", "path": "/spec/selector", "value": want["selector"]})
        if not declares(want["ports"], have.get("ports")):
            ops.append({"op": "add", "path": "/spec/ports", "value": want["ports"]})
        return ops
    # The Ingress: its spec is wholly ours, but for a class we never set (see the module doc).
    want = dict(want)
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    set_before = str(annotations.get(MANAGED_FIELDS) or "").split(",")
    if INGRESS_CLASS not in want and INGRESS_CLASS not in set_before \
            and have.get(INGRESS_CLASS) is not None:
        want[INGRESS_CLASS] = have[INGRESS_CLASS]
    if not equivalent(want, have):
        return [{"op": "add", "path": "/spec", "value": want}]
    return []


def with_bookkeeping(desired: dict[str, Any]) -> dict[str, Any]:
    """``desired`` with the bookkeeping annotations: the annotation keys it declares, and for
    an Ingress the spec fields it sets."""
    declared = {k: v for k, v in (desired["metadata"].get("annotations") or {}).items()
                if k not in BOOKKEEPING}
    annotations = dict(declared)
    if declared:
        annotations[MANAGED] = ",".join(sorted(declared))
    if desired["kind"] == "Ingress":
        annotations[MANAGED_FIELDS] = ",".join(sorted(desired.get("spec") or {}))
    if not annotations:
        return desired
    return {**desired, "metadata": {**desired["metadata"], "annotations": annotations}}


def _map_ops(field: str, declared: Mapping[str, str], have: Any,
             stale: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Per-key ops making ``metadata.<field>`` hold ``declared`` and lack ``stale`` keys."""
    if not isinstance(have, Mapping):
        return [{"op": "add", "path": pointer("metadata", field), "value": dict(declared)}] \
            if declared else []
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": pointer("metadata", field, key), "value": value}
        for key, value in declared.items() if have.get(key) != value]
    ops += [{"op": "remove", "path": pointer("metadata", field, key)}
            for key in sorted(stale) if key in have and key not in declared]
    return ops


def metadata_ops(desired: Mapping[str, Any], current: Mapping[str, Any]
                  ) -> list[dict[str, Any]]:
    meta = current.get("metadata") or {}
    ops = _map_ops("labels", desired.get("labels") or {}, meta.get("labels"))
    have = meta.get("annotations")
    managed = frozenset(k for k in str((have or {}).get(MANAGED) or "").split(",") if k)
    ops += _map_ops("annotations", desired.get("annotations") or {}, have, managed | {MANAGED})
    return ops


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return (obj.get("metadata") or {}).get("labels") or {}
