"""The operator's one error tree. Adapters translate foreign exceptions here, ``from exc``.

    FinNexusError
    ├── ApiError                 a Kubernetes API call failed (status, reason)
    │   ├── NotFound             404
    │   ├── Conflict             409 (stale write or AlreadyExists): retried
    │   ├── Invalid              422 (includes a failed JSON-patch test)
    │   └── ApiUnavailable       connection refused, timeout, 5xx: retried
    ├── OwnershipError           an object we would write exists and is not ours
    ├── NotificationFailed       a notification receiver did not accept a POST (retried
                                 off the pass, never raised into a rollout)
    └── ConfigError              the operator's own wiring is inconsistent (an unknown
                                 traffic router or metric provider, a bad notifications
                                 config): fails at start

``finnexus_operator.controller.reconcile`` is the one place that decides what is retried
(ApiError with a retryable status) and what is reported and waited out (OwnershipError).
A ConfigError is raised by the registries (``adapters.routers``, ``adapters.metrics``) and
checked when the operator starts, so it never surfaces mid-rollout.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "ApiUnavailable",
    "ConfigError",
    "Conflict",
    "FinNexusError",
    "Invalid",
    "NotFound",
    "NotificationFailed",
    "OwnershipError",
]


class FinNexusError(Exception):
    """Base of every error the operator raises on purpose."""


class ApiError(FinNexusError):
    """A Kubernetes API call failed."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, reason: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        # seconds the API server asked us to wait (a 429/503 Retry-After header, or
        # details.retryAfterSeconds of its Status): the work queue waits at least this long
        self.retry_after = retry_after


class NotFound(ApiError):
    """404 Not Found."""


class Conflict(ApiError):
    """409 Conflict: a concurrent write or an object that already exists."""

    retryable = True


class Invalid(ApiError):
    """422 Unprocessable Entity (a failed JSON-patch ``test`` lands here too)."""


class ApiUnavailable(ApiError):
    """The API could not be reached, timed out, or answered 5xx/429."""

    retryable = True


class OwnershipError(FinNexusError):
    """An object the operator would write exists without our ownerReference.

    ``objects`` names the blocked objects (``"Ingress ns/web"``); one error can name several:
    an object we do not own blocks only itself, so the executor applies every other action
    and then raises one error naming all of them (:meth:`joined`).
    """

    def __init__(self, message: str, *, objects: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.objects = objects

    @classmethod
    def joined(cls, found: list[OwnershipError]) -> OwnershipError:
        """One error for several (the first alone when there is only one)."""
        if len(found) == 1:
            return found[0]
        messages = list(dict.fromkeys(str(e) for e in found))
        objects = tuple(dict.fromkeys(o for e in found for o in e.objects))
        return cls("; ".join(messages), objects=objects)


class NotificationFailed(FinNexusError):
    """A receiver did not take a notification (unreachable, timeout, non-2xx). The message
    never holds the receiver's URL (it is a secret): only the receiver's name and why."""


class ConfigError(FinNexusError):
    """The operator's configuration names something no registry knows (a router, a provider)."""
