"""PromQL templating of the DESIGN §2 placeholders.

Values are label values the operator controls (names, colours, revisions); they are still
escaped for a double-quoted PromQL string so a name can never break out of its quotes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from finnexus_operator import constants
from finnexus_operator.core import manifests
from finnexus_operator.models.status import FinNexusDeploymentStatus

__all__ = ["PLACEHOLDERS", "escape_label_value", "query_values", "render", "unknown_placeholders"]

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


def query_values(namespace: str, name: str, status: FinNexusDeploymentStatus) -> dict[str, str]:
    """Values of the placeholders for the current candidate (the active colour when idle)."""
    color = status.candidate_color or status.active_color or constants.BLUE
    stable = manifests.other(color)
    return {
        "namespace": namespace, "name": name, "color": color,
        "revision": status.candidate_revision or status.stable_revision or "",
        "service": manifests.colored_name(name, color), "stableColor": stable,
        "stableService": manifests.colored_name(name, stable),
    }
