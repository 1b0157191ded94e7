"""Turn a raw ``spec`` into a validated model, or a message naming the field and the reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from finnexus_operator.core.templating import PLACEHOLDERS, unknown_placeholders
from finnexus_operator.models.spec import FinNexusDeploymentSpec

__all__ = ["validate_spec"]


def _loc(parts: tuple[int | str, ...]) -> str:
    out = "spec"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate_spec(raw: Mapping[str, Any] | None) -> FinNexusDeploymentSpec | str:
    """The parsed spec, or a one-line message: ``spec.<field>: <reason>`` (all problems)."""
    if not isinstance(raw, Mapping):
        return "spec: missing"
    try:
        spec = FinNexusDeploymentSpec.model_validate(dict(raw))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not str(p).startswith("function-after"))
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{_loc(loc)}: {msg}" if loc else f"spec.{msg}")
        return "; ".join(problems)
    if spec.analysis is not None:
        for i, metric in enumerate(spec.analysis.metrics):
            unknown = unknown_placeholders(metric.query)
            if unknown:
                names = ", ".join("{{" + u + "}}" for u in unknown)
                known = ", ".join("{{" + p + "}}" for p in sorted(PLACEHOLDERS))
                return (f"spec.analysis.metrics[{i}].query: unknown placeholder {names} "
                        f"(known: {known})")
    return spec
