"""Kubernetes label selectors (``--selector``): parsed once, matched against a resource's labels.

The same string goes to the API server (a watch's ``labelSelector``) and is checked here on
every event too, so an instance never acts on a resource outside its shard even if a server (or
an emulator) ignored the filter. The grammar is the API server's set-based one:
``key``, ``!key``, ``key=value`` (``==``), ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``,
joined by commas (all must hold). Keys are ``[prefix/]name`` with the API's character rules;
a bad selector is a ``ValueError`` naming the term, so the CLI exits 2 before anything starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["LabelSelector"]

_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?"
_KEY = rf"(?:{_PREFIX}/)?{_NAME}"
_VALUE = rf"(?:{_NAME})?"
_TERM = re.compile(
    rf"\s*(?:(?P<not>!)\s*(?P<nkey>{_KEY})"
    rf"|(?P<key>{_KEY})\s*(?:(?P<op>==|=|!=)\s*(?P<value>{_VALUE})"
    rf"|\s+(?P<set>in|notin)\s*\((?P<values>[^()]*)\))?)\s*")
_SPLIT = re.compile(r",(?![^()]*\))")  # commas outside parentheses

Labels = Mapping[str, str]


def _term(text: str) -> Callable[[Labels], bool]:
    m = _TERM.fullmatch(text)
    if m is None:
        raise ValueError(f"label selector: cannot parse requirement {text.strip()!r}")
    if m["not"]:
        key = m["nkey"]
        return lambda labels: key not in labels
    key, op = m["key"], m["op"]
    if op is not None:
        value = m["value"]
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m["set"] is not None:
        values = frozenset(v.strip() for v in m["values"].split(","))
        if "" in values or any(re.fullmatch(_VALUE, v) is None for v in values):
            raise ValueError(f"label selector: bad value list in {text.strip()!r}")
        if m["set"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    return lambda labels: key in labels


@dataclass(frozen=True)
class LabelSelector:
    """A parsed selector; ``LabelSelector.parse("")`` matches everything."""

    text: str
    terms: tuple[Callable[[Labels], bool], ...]

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        text = (text or "").strip()
        parts = [p for p in _SPLIT.split(text)] if text else []
        if any(not p.strip() for p in parts):
            raise ValueError(f"label selector {text!r}: empty requirement")
        return cls(text, tuple(_term(p) for p in parts))

    def matches(self, labels: Labels | None) -> bool:
        found = labels or {}
        return all(term(found) for term in self.terms)
