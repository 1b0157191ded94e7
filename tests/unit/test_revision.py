"""The revision of a template: sha256 over its canonical JSON, first ten hex digits."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from finnexus_operator.core.revision import revision_of
from tests.unit.planlib import template


def test_revision_is_first_ten_hex_of_sha256_over_canonical_json() -> None:
    t = {"spec": {"containers": [{"name": "a", "image": "x"}]}, "metadata": {"labels": {"b": "1"}}}
    canonical = json.dumps(t, sort_keys=True, separators=(",", ":"))
    assert canonical == ('{"metadata":{"labels":{"b":"1"}},"spec":{"containers":'
                         '[{"image":"x","name":"a"}]}}')
    assert revision_of(t) == hashlib.sha256(canonical.encode()).hexdigest()[:10]


def test_revision_known_value() -> None:
    assert revision_of({}) == hashlib.sha256(b"{}").hexdigest()[:10] == "44136fa355"


def test_revision_ignores_key_order_but_not_values() -> None:
    a = {"x": 1, "y": {"b": 2, "a": [1, 2]}}
    b = {"y": {"a": [1, 2], "b": 2}, "x": 1}
    assert revision_of(a) == revision_of(b)
    assert revision_of(a) != revision_of({"x": 1, "y": {"b": 2, "a": [2, 1]}})
    assert revision_of(template("app:v1")) != revision_of(template("app:v2"))


def test_revision_of_non_ascii_is_utf8_json() -> None:
    t = {"metadata": {"annotations": {"note": "café"}}}
    canonical = json.dumps(t, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert revision_of(t) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:10]


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda kids: st.lists(kids, max_size=3)
                    | st.dictionaries(st.text(max_size=5), kids, max_size=3), max_leaves=10))
@settings(max_examples=100, deadline=None)
def test_revision_shape(value: Any) -> None:
    rev = revision_of({"v": value})
    assert len(rev) == 10 and all(ch in "0123456789abcdef" for ch in rev)
