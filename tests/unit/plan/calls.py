"""The two entry points of the pure core, called from this one place.

The tables never call ``plan()`` or ``due()`` themselves: when the signatures change (a parsed
spec instead of the raw one, probe requests instead of booleans), only these two lines do.
Everything else goes through ``planlib.Sim``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from finnexus_operator.core.observed import Observed
from finnexus_operator.core.plan import Due, Plan, due, plan
from finnexus_operator.models.status import FinNexusDeploymentStatus

__all__ = ["decide", "due_now"]


def decide(raw_spec: Mapping[str, Any] | None, status: FinNexusDeploymentStatus,
           observed: Observed, now: datetime) -> Plan:
    """One decision of the core: what this pass does, given what it observed."""
    return plan(raw_spec, status, observed, now)


def due_now(raw_spec: Mapping[str, Any] | None, status: FinNexusDeploymentStatus,
            observed: Observed, now: datetime) -> Due:
    """Which probes the core wants before it decides (test their truth with ``bool()``)."""
    return due(raw_spec, status, observed, now)
