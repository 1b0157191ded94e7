"""The plugin's exit codes (DESIGN §4): what a CI/CD gate reads."""

from __future__ import annotations

from enum import IntEnum

from finnexus_operator.models.phases import Phase

__all__ = ["TERMINAL", "Exit"]


class Exit(IntEnum):
    """``kubectl finnexus`` exit codes."""

    OK = 0  # Stable / the request was accepted / the command did what it says
    REJECTED = 1  # RolledBack, Failed or Invalid / the operator refused the request
    TIMEOUT = 2  # no decision within --timeout (or, without --watch, still in progress)
    NOT_FOUND = 3  # the FinNexusDeployment does not exist
    ERROR = 4  # anything else: no kubeconfig, API unreachable, forbidden, bad usage


TERMINAL: dict[Phase, Exit] = {
    Phase.STABLE: Exit.OK,
    Phase.ROLLED_BACK: Exit.REJECTED,
    Phase.FAILED: Exit.REJECTED,
    Phase.INVALID: Exit.REJECTED,
}
