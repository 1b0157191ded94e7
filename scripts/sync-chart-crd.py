#!/usr/bin/env python3
"""Copy the generated CRDs into the Helm chart, or check that the chart's copies are current.

Usage: ``python scripts/sync-chart-crd.py [--check]``

``crds/finnexusdeployments.finnexus.ai.yaml`` and
``crds/finnexusanalysistemplates.finnexus.ai.yaml`` are generated from the models
(``python -m finnexus_operator.crd --write``). The chart templates each CRD from a
byte-identical copy at ``charts/finnexus-operator/files/crds/`` (so that ``helm upgrade``
upgrades it; see docs/helm.md). Run this after ``make crd``; ``--check`` exits 1 when the copy
is stale (tests/packaging/test_crd_sync.py runs it in ``make test``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("finnexusdeployments.finnexus.ai.yaml", "finnexusanalysistemplates.finnexus.ai.yaml")
PAIRS = [(ROOT / "crds" / n, ROOT / "charts" / "finnexus-operator" / "files" / "crds" / n)
         for n in NAMES]


def main(argv: list[str]) -> int:
    if argv not in ([], ["--check"]):
        print("usage: sync-chart-crd.py [--check]", file=sys.stderr)
        return 2
    return max(_sync(source, copy, check=argv == ["--check"]) for source, copy in PAIRS)


def _sync(source_path: Path, copy: Path, *, check: bool) -> int:
    source = source_path.read_bytes()
    current = copy.read_bytes() if copy.exists() else None
    if current == source:
        print(f"{copy.relative_to(ROOT)} is up to date")
        return 0
    if check:
        print(
            f"{copy.relative_to(ROOT)} differs from {source_path.relative_to(ROOT)}: "
            "run `python scripts/sync-chart-crd.py`",
            file=sys.stderr,
        )
        return 1
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(source)
    print(f"copied {source_path.relative_to(ROOT)} -> {copy.relative_to(ROOT)}")
    return 0

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
