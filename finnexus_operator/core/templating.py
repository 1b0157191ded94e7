"""PromQL templating of the DESIGN §2 placeholders.

Values are label values the operator controls (names, colours, revisions); they are still
escaped for a double-quoted PromQL string so a name can never break out of its quotes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["PLACEHOLDERS", "escape_label_value", "render", "unknown_placeholders"]

PLACEHOLDERS = frozenset(
    {"namespace", "name", "color", "revision", "service", "stableColor", "stableService"}
)
_PATTERN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)?\s*\}\}")


def escape_label_value(value: str) -> str:
    """Escape a value for use inside a double-quoted PromQL string literal."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def unknown_placeholders(query: str) -> list[str]:
    """Placeholders in ``query`` that are not in :data:`PLACEHOLDERS` (in order, unique)."""
    seen: list[str] = []
    for match in _PATTERN.finditer(query):
        name = match.group(1) or ""
        if name not in PLACEHOLDERS and name not in seen:
            seen.append(name)
    return seen


def render(query: str, values: Mapping[str, str]) -> str:
    """Substitute every placeholder; raises KeyError for one that has no value."""

    def substitute(match: re.Match[str]) -> str:
        return escape_label_value(values[match.group(1) or ""])

    return _PATTERN.sub(substitute, query)
