"""The bad-input corpus ``tests/bad_inputs/``: loading its cases and matching error messages
to the field a case is about (shared by the packaging and the contract tests)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.packaging.tools import ROOT

__all__ = ["CORPUS", "LAYERS", "Case", "all_cases", "load_case", "names_field",
           "reason_names_field"]

CORPUS = ROOT / "tests" / "bad_inputs"
LAYERS = ("schema", "cel", "api", "operator")


@dataclass(frozen=True)
class Case:
    path: Path
    layer: str
    field: str
    why: str
    obj: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


def load_case(path: Path) -> Case:
    text = path.read_text()
    header = dict(re.findall(r"^# ([a-z-]+): (.*)$", text, flags=re.MULTILINE))
    (obj,) = [d for d in yaml.safe_load_all(text) if d]
    return Case(path, header.get("rejected-by", ""), header.get("field", ""),
                header.get("why", ""), dict(obj))


def all_cases() -> list[Case]:
    return [load_case(p) for p in sorted(CORPUS.glob("*.yaml"))]


def _dotted(path: str) -> str:
    return re.sub(r"\[(\d+)\]", r".\1", path)


def names_field(error: str, field: str) -> bool:
    """``error`` ("<path>: <message>") points at ``field``: by its path, or by naming it."""
    path, _, message = error.partition(": ")
    path = "" if path == "<root>" else _dotted(path)
    want = _dotted(field)
    parent, _, last = want.rpartition(".")
    return (path == want or (bool(parent) and path.startswith(want + "."))
            or (path == parent and f"'{last}'" in message)
            or re.search(re.escape(field) + r"(?![\w])", message) is not None)


def reason_names_field(reason: str, field: str) -> bool:
    """One of the "; "-separated problems of an InvalidSpec reason starts with ``field``."""
    return re.search(r"(^|; )" + re.escape(field) + r"(?![\w])", reason) is not None
