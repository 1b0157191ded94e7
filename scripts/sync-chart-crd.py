#!/usr/bin/env python3
"""Copy the generated CRD into the Helm chart, or check that the chart's copy is current.

Usage: ``python scripts/sync-chart-crd.py [--check]``

``crds/finnexusdeployments.finnexus.ai.yaml`` is generated from the models
(``python -m finnexus_operator.crd --write``). The chart templates the CRD from a
byte-identical copy at ``charts/finnexus-operator/files/crds/`` (so that ``helm upgrade``
upgrades it; see docs/helm.md). Run this after ``make crd``; ``--check`` exits 1 when the copy
is stale (tests/packaging/test_crd_sync.py runs it in ``make test``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "finnexusdeployments.finnexus.ai.yaml"
SOURCE = ROOT / "crds" / NAME
COPY = ROOT / "charts" / "finnexus-operator" / "files" / "crds" / NAME


def main(argv: list[str]) -> int:
    if argv not in ([], ["--check"]):
        print("usage: sync-chart-crd.py [--check]", file=sys.stderr)
        return 2
    source = SOURCE.read_bytes()
    current = COPY.read_bytes() if COPY.exists() else None
    if current == source:
        print(f"{COPY.relative_to(ROOT)} is up to date")
        return 0
    if argv == ["--check"]:
        print(
            f"{COPY.relative_to(ROOT)} differs from {SOURCE.relative_to(ROOT)}: "
            "run `python scripts/sync-chart-crd.py`",
            file=sys.stderr,
        )
        return 1
    COPY.parent.mkdir(parents=True, exist_ok=True)
    COPY.write_bytes(source)
    print(f"copied {SOURCE.relative_to(ROOT)} -> {COPY.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
