"""PromQL templating: placeholders, rendering and label-value escaping."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finnexus_operator.core.templating import (
    PLACEHOLDERS,
    escape_label_value,
    render,
    unknown_placeholders,
)

VALUES = {"namespace": "trading", "name": "backend", "color": "green", "revision": "7f0e2c4d9a",
          "service": "backend-green", "stableColor": "blue", "stableService": "backend-blue"}


@pytest.mark.parametrize(("query", "rendered"), [
    ('up{service="{{service}}"}', 'up{service="backend-green"}'),
    ('x{ns="{{namespace}}",n="{{name}}",c="{{color}}",r="{{revision}}"}',
     'x{ns="trading",n="backend",c="green",r="7f0e2c4d9a"}'),
    ('a{s="{{stableService}}",c="{{stableColor}}"}', 'a{s="backend-blue",c="blue"}'),
    ('up{service="{{ service }}"}', 'up{service="backend-green"}'),
    ("{{service}}{{service}}", "backend-greenbackend-green"),
    ("no placeholders", "no placeholders"),
    ("{service} {{{color}}}", "{service} {green}"),
])
def test_render(query: str, rendered: str) -> None:
    assert render(query, VALUES) == rendered


@pytest.mark.parametrize(("value", "escaped"), [
    ('a"b', 'a\\"b'),
    ("a\\b", "a\\\\b"),
    ("a\nb", "a\\nb"),
    ('\\"', '\\\\\\"'),
    ("plain-name", "plain-name"),
])
def test_escape_label_value(value: str, escaped: str) -> None:
    assert escape_label_value(value) == escaped
    assert render('x{a="{{name}}"}', {**VALUES, "name": value}) == f'x{{a="{escaped}"}}'


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_escaped_value_cannot_break_out_of_its_quotes(value: str) -> None:
    out = render('x{a="{{name}}"}', {**VALUES, "name": value})
    inner = out[len('x{a="'):-len('"}')]
    # decode the PromQL string escapes back: the value round-trips and no quote is unescaped
    i, decoded = 0, []
    while i < len(inner):
        ch = inner[i]
        assert ch != '"', f"unescaped quote in {out!r}"
        assert ch != "\n"
        if ch == "\\":
            nxt = inner[i + 1]
            decoded.append({"\\": "\\", '"': '"', "n": "\n"}[nxt])
            i += 2
        else:
            decoded.append(ch)
            i += 1
    assert "".join(decoded) == value


@pytest.mark.parametrize(("query", "unknown"), [
    ("{{service}}", []),
    ("{{pod}}", ["pod"]),
    ("{{pod}} {{pod}} {{node}} {{service}}", ["pod", "node"]),
    ("{{}}", [""]),
    ("{{Service}}", ["Service"]),
    ("{{ stableColor }}", []),
])
def test_unknown_placeholders(query: str, unknown: list[str]) -> None:
    assert unknown_placeholders(query) == unknown


def test_render_with_missing_value_raises_key_error() -> None:
    with pytest.raises(KeyError):
        render("{{pod}}", VALUES)


def test_placeholders_are_exactly_the_design_set() -> None:
    assert set(PLACEHOLDERS) == set(VALUES)
