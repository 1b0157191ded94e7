"""Parse a raw ``spec`` once per pass: a validated model, or the reason it cannot be acted on."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from finnexus_operator import constants
from finnexus_operator.core import hooks, manifests
from finnexus_operator.core.templating import PLACEHOLDERS, unknown_placeholders
from finnexus_operator.models.spec import (
    DNS_LABEL_MAX,
    MAX_NAME_LENGTH,
    RESOURCE_NAME,
    FinNexusDeploymentSpec,
)

__all__ = ["InvalidSpec", "ParsedSpec", "derived_service_names", "name_problems", "parse_spec"]


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


def derived_service_names(name: str) -> list[str]:
    """The Services a resource called ``name`` owns (DESIGN §2 table)."""
    return [manifests.active_service_name(name), manifests.preview_service_name(name),
            *(manifests.colored_name(name, c) for c in constants.COLORS)]


def name_problems(name: str) -> list[str]:
    """Why ``metadata.name`` cannot name the objects the operator derives from it (empty: fine).

    Service names are DNS-1035 labels (lowercase letters, digits and '-', starting with a
    letter, at most 63 characters); the CRD checks the same with CEL rules.
    """
    problems = []
    if not re.fullmatch(RESOURCE_NAME, name):
        problems.append(f"metadata.name: {name!r} is not a DNS-1035 label (lowercase letters, "
                        "digits and '-', starting with a letter): it names the Services")
    too_long = [s for s in derived_service_names(name) if len(s) > DNS_LABEL_MAX]
    if too_long:
        problems.append(f"metadata.name: {len(name)} characters is too long (at most "
                        f"{MAX_NAME_LENGTH}): Service {too_long[0]!r} would have "
                        f"{len(too_long[0])} (at most {DNS_LABEL_MAX})")
    return problems


def parse_spec(raw: Mapping[str, Any] | None, name: str | None = None) -> ParsedSpec:
    """The parsed spec, or an :class:`InvalidSpec` naming each field and why. Never raises.

    With ``name`` (the resource's ``metadata.name``) the names of the derived objects are
    checked too.
    """
    problems = name_problems(name) if name is not None else []
    if not isinstance(raw, Mapping):
        return InvalidSpec("; ".join([*problems, "spec: missing"]))
    try:
        spec = FinNexusDeploymentSpec.model_validate(dict(raw))
    except ValidationError as exc:
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
                problems.append(f"spec.analysis.metrics[{i}].query: unknown placeholder "
                                f"{names} (known: {known})")
    if name is not None:
        problems += _hook_name_problems(spec, name)
    return InvalidSpec("; ".join(problems)) if problems else spec


def _hook_name_problems(spec: FinNexusDeploymentSpec, name: str) -> list[str]:
    """Hook Job names ``<name>-<revision>-<hook>-<i>`` must fit the 63 characters of the
    ``job-name`` label the Job controller puts on its pods (spec.hooks)."""
    out = []
    for field, hook, count in (
        ("preSwitch", hooks.PRE_SWITCH, len(spec.hooks.pre_switch) if spec.hooks else 0),
        ("postPromotion", hooks.POST_PROMOTION,
         len(spec.hooks.post_promotion) if spec.hooks else 0),
    ):
        longest = hooks.job_name(name, "0" * 10, hook, count - 1) if count else ""  # 10: a revision
        if len(longest) > DNS_LABEL_MAX:
            out.append(f"spec.hooks.{field}: the Job name {longest!r} would be longer than "
                       f"{DNS_LABEL_MAX} characters (shorten metadata.name)")
    return out
