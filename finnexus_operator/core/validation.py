"""Parse a raw ``spec`` once per pass: a validated model, or the reason it cannot be acted on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from finnexus_operator.core.templating import PLACEHOLDERS, unknown_placeholders
from finnexus_operator.models.spec import FinNexusDeploymentSpec

__all__ = ["InvalidSpec", "ParsedSpec", "parse_spec"]


@dataclass(frozen=True)
class InvalidSpec:
    """A spec that cannot be acted on; ``reason`` reads ``spec.<field>: <why>`` (all problems)."""

    reason: str


ParsedSpec = FinNexusDeploymentSpec | InvalidSpec


def _loc(parts: tuple[int | str, ...]) -> str:
    out = "spec"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def parse_spec(raw: Mapping[str, Any] | None) -> ParsedSpec:
    """The parsed spec, or an :class:`InvalidSpec` naming each field and why. Never raises."""
    if not isinstance(raw, Mapping):
        return InvalidSpec("spec: missing")
    try:
        spec = FinNexusDeploymentSpec.model_validate(dict(raw))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not str(p).startswith("function-after"))
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{_loc(loc)}: {msg}" if loc else f"spec.{msg}")
        return InvalidSpec("; ".join(problems))
    if spec.analysis is not None:
        for i, metric in enumerate(spec.analysis.metrics):
            unknown = unknown_placeholders(metric.query)
            if unknown:
                names = ", ".join("{{" + u + "}}" for u in unknown)
                known = ", ".join("{{" + p + "}}" for p in sorted(PLACEHOLDERS))
                return InvalidSpec(f"spec.analysis.metrics[{i}].query: unknown placeholder "
                                   f"{names} (known: {known})")
    return spec
