"""Where production traffic is, and the last guard on moving it (DESIGN §2.1 rule 1).

The rules decide ``activeColor`` from the stored status. That status can be behind the
cluster: a pass that switched traffic (and, with no scale-down delay, scaled the old colour to
0) may have lost its status write. Re-applying the stale ``activeColor`` would then move
production traffic from a colour that serves to one with no Ready pods, an outage. So the
route is held: traffic never moves from a colour that serves to one that does not; the colour
to return to is scaled up as the status says, and traffic moves once it has Ready pods. While
held, the colours the routes point at keep their pods.
"""

from __future__ import annotations

from finnexus_operator.core.rollout import Rollout

__all__ = ["HELD", "has_ready_pods", "held_on", "live_colors", "note", "serves"]

HELD = "; traffic stays on "  # the message note while a route is held


def live_colors(r: Rollout) -> set[str]:
    """The colours the Service and the Ingress route production traffic to now."""
    return {c for c in (r.obs.active_service_color, r.obs.ingress_color) if c is not None}


def has_ready_pods(r: Rollout, color: str) -> bool:
    """``color``'s Deployment has Ready pods (whatever their revision)."""
    state = r.obs.deployments.get(color)
    return state is not None and state.ready >= 1


def _revision_for(r: Rollout, color: str | None) -> str | None:
    """The revision the status names for ``color`` (None: it names none)."""
    st = r.st
    if color is not None and color == st.candidate_color:
        return st.candidate_revision
    if color is not None and color == r.stable_color:
        return st.stable_revision
    return None


def serves(r: Rollout, color: str) -> bool:
    """``color`` has Ready pods of the revision the status names for it (any revision when
    the status names none)."""
    revision = _revision_for(r, color)
    return has_ready_pods(r, color) if revision is None else r.colour_serves(color, revision)


def held_on(r: Rollout) -> str | None:
    """The colour (with Ready pods) traffic stays on because the decided ``activeColor`` does
    not serve yet (None: the route to ``activeColor`` may be applied)."""
    active = r.st.active_color
    if active is None or serves(r, active):
        return None
    return next((c for c in sorted(live_colors(r)) if c != active and has_ready_pods(r, c)),
                None)


def note(r: Rollout) -> None:
    """Say in the message why traffic has not moved (and drop the note once it may)."""
    st = r.st
    base = st.message.split(HELD)[0]
    held = held_on(r)
    if held is None:
        st.message = base
        return
    revision = _revision_for(r, st.active_color)
    st.message = (f"{base}{HELD}{held}: {st.active_color} has no Ready pods"
                  f"{'' if revision is None else f' of {revision}'} yet")
