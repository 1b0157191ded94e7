"""Label and field selectors: what one list or watch asks for."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from finnexus_kit.kubeapi.resources import Obj, StatusError

__all__ = ["Selector"]

_LABEL_TERM = re.compile(
    r"\s*(?P<neg>!)?\s*(?P<key>[\w./-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[\w./-]*)|\s+(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?\s*"
)
_FIELD_TERM = re.compile(r"\s*(?P<key>[\w.-]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^,]*?)\s*")


def _label_term(term: str) -> Callable[[Mapping[str, str]], bool]:
    m = _LABEL_TERM.fullmatch(term)
    if m is None or (m["neg"] and (m["op"] or m["set"])):
        raise StatusError(400, "BadRequest", f"unable to parse requirement: {term!r}")
    key, value = m["key"], m["value"]
    values = {v.strip() for v in (m["values"] or "").split(",")}
    match m["neg"], m["op"], m["set"]:
        case "!", _, _:
            return lambda labels: key not in labels
        case _, "=" | "==", _:
            return lambda labels: labels.get(key) == value
        case _, "!=", _:
            return lambda labels: labels.get(key) != value
        case _, _, "in":
            return lambda labels: labels.get(key) in values
        case _, _, "notin":
            return lambda labels: labels.get(key) not in values
    return lambda labels: key in labels


def _field_value(obj: Obj, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def _field_term(term: str) -> Callable[[Obj], bool]:
    m = _FIELD_TERM.fullmatch(term)
    if m is None:
        raise StatusError(400, "BadRequest", f"invalid field selector: {term!r}")
    key, value, negate = m["key"], m["value"], m["op"] == "!="
    return lambda obj: (_field_value(obj, key) == value) != negate


@dataclasses.dataclass(frozen=True)
class Selector:
    """What one list or watch asks for: a namespace, a name, label and field selectors."""

    namespace: str | None = None
    name: str | None = None
    labels: tuple[Callable[[Mapping[str, str]], bool], ...] = ()
    fields: tuple[Callable[[Obj], bool], ...] = ()
    equals: tuple[tuple[str, str], ...] = ()  # the label terms ``key=value`` (index look-ups)

    @classmethod
    def parse(cls, namespace: str | None, name: str | None, query: Mapping[str, str]) -> Selector:
        labels = [t for t in re.split(r",(?![^()]*\))", query.get("labelSelector", "")) if t]
        fields = [t for t in query.get("fieldSelector", "").split(",") if t]
        equals = tuple((m["key"], m["value"]) for term in labels
                       if (m := _LABEL_TERM.fullmatch(term)) and m["op"] in ("=", "==")
                       and not m["neg"])
        return cls(namespace, name, tuple(map(_label_term, labels)),
                   tuple(map(_field_term, fields)), equals)

    def __call__(self, obj: Obj) -> bool:
        meta = obj.get("metadata", {})
        labels = meta.get("labels") or {}
        return (
            self.namespace in (None, meta.get("namespace"))
            and self.name in (None, meta.get("name"))
            and all(term(labels) for term in self.labels)
            and all(term(obj) for term in self.fields)
        )
