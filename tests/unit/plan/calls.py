"""The two entry points of the pure core, called from this one place.

The tables never call ``plan()`` or ``due()`` themselves: they go through these two (the raw
spec parsed once, as the reconciler does) or through ``planlib.Sim``.
"""

from __future__ import annotations

from tests.unit.planlib import decide, due_now

__all__ = ["decide", "due_now"]
