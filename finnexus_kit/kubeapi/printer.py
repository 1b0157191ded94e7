"""Server-side printing: a ``meta.k8s.io/v1`` Table for ``kubectl get``.

kubectl asks with ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the
columns the server chose; for a custom resource those are the CRD's
``additionalPrinterColumns`` (here: finnexus_operator.crd's, so the emulator and the chart
print the same). Resources without printer columns are answered as plain JSON, and kubectl
falls back to NAME and AGE, as it does against a real server for an unknown type.
A ``date`` column is rendered as an age ("5m"), as the real API server does.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from finnexus_kit.kubeapi.resources import Obj, ResourceType
from finnexus_operator.crd import build_crd
from finnexus_operator.kubectl.render import age

__all__ = ["as_table", "columns_for", "wants_table"]

_NAME_COLUMN = {"name": "Name", "type": "string", "format": "name", "priority": 0,
                "description": "Name must be unique within a namespace."}


def wants_table(accept: str) -> bool:
    """Whether the client asked for a meta.k8s.io Table (kubectl get does)."""
    return any("as=Table" in part and "g=meta.k8s.io" in part for part in accept.split(","))


@functools.cache
def _crd_columns() -> dict[tuple[str, str], tuple[Mapping[str, Any], ...]]:
    crd = build_crd()  # the product's CRD: one source of truth
    group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
    return {(f"{group}/{v['name']}", plural): tuple(v.get("additionalPrinterColumns") or ())
            for v in crd["spec"]["versions"]}


def columns_for(rtype: ResourceType) -> tuple[Mapping[str, Any], ...]:
    """The printer columns of a served type (empty: not printed server-side)."""
    return _crd_columns().get((rtype.api_version, rtype.plural), ())


def _lookup(obj: Any, json_path: str) -> Any:
    """A simple JSONPath (``.a.b``, ``.a[0].b``) as kubectl's printer columns use them."""
    for key, index in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", json_path):
        if key:
            obj = obj.get(key) if isinstance(obj, dict) else None
        else:
            obj = obj[int(index)] if isinstance(obj, list) and int(index) < len(obj) else None
        if obj is None:
            return None
    return obj


def _age(stamp: Any, now: float) -> str | None:
    if not isinstance(stamp, str):
        return None
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC).timestamp()
    except ValueError:
        return None
    return age(now - then)  # the plugin's (kubectl's) way of saying how old


def as_table(rtype: ResourceType, found: Obj, include_object: str = "Object") -> Obj:
    """The Table for a GET answer (one object or a list) of ``rtype``."""
    columns = columns_for(rtype)
    items = found.get("items") if "items" in found else [found]
    now = time.time()
    rows = []
    for item in items or []:
        cells: list[Any] = [(item.get("metadata") or {}).get("name")]
        for col in columns:
            value = _lookup(item, col["jsonPath"])
            cells.append(_age(value, now) if col.get("type") == "date" else value)
        row: Obj = {"cells": cells}
        if include_object != "None":
            row["object"] = item
        rows.append(row)
    definitions = [_NAME_COLUMN] + [
        {"name": c["name"], "type": "string" if c.get("type") == "date" else c["type"],
         "format": c.get("format", ""), "description": c.get("description", ""),
         "priority": c.get("priority", 0)} for c in columns]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": (found.get("metadata") or {}).get(
                "resourceVersion", "")},
            "columnDefinitions": definitions, "rows": rows}
