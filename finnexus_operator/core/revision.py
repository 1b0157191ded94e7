"""Revision of a pod template: the first 10 hex digits of sha256 over its canonical JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["revision_of"]


def revision_of(template: Mapping[str, Any]) -> str:
    """DESIGN §2: sha256 over ``spec.template`` as stored, sorted keys, no spaces; 10 hex digits."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:10]
