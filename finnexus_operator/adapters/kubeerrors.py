"""HTTP answers of the Kubernetes API translated into :mod:`finnexus_operator.errors`."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from finnexus_operator import errors

__all__ = ["MAX_RETRY_AFTER", "translate"]

MAX_RETRY_AFTER = 60.0  # a server asking for more is waited out in steps of this


def _retry_after(headers: Any, payload: Any) -> float | None:
    """Seconds from a Retry-After header (delta-seconds; an HTTP date is ignored) or from the
    Status body's ``details.retryAfterSeconds``; None when neither says."""
    candidates: list[Any] = []
    with contextlib.suppress(AttributeError):
        candidates.append(headers.get("Retry-After") if headers is not None else None)
    if isinstance(payload, dict) and isinstance(payload.get("details"), dict):
        candidates.append(payload["details"].get("retryAfterSeconds"))
    for value in candidates:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if seconds >= 0:
            return min(seconds, MAX_RETRY_AFTER)
    return None


def translate(status: int | None, reason: str | None, body: Any, method: str, path: str,
              headers: Any = None) -> errors.ApiError:
    """The error for one non-2xx answer (``body``: the raw Status, bytes or text)."""
    status = int(status or 0)
    reason, message = str(reason or ""), ""
    payload: Any = None
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    try:
        payload = json.loads(body or "{}")
        message = str(payload.get("message") or "")
        reason = str(payload.get("reason") or reason)
    except (TypeError, ValueError, AttributeError):
        message = str(body or "")[:200]
    text = f"{method} {path}: HTTP {status} {reason}: {message}".rstrip(": ")
    cls: type[errors.ApiError]
    if status == 404:
        cls = errors.NotFound
    elif status == 409:
        cls = errors.Conflict
    elif status == 422:
        cls = errors.Invalid
    elif status == 429 or status >= 500 or status == 0:
        cls = errors.ApiUnavailable
    else:
        cls = errors.ApiError
    return cls(text, status=status, reason=reason, retry_after=_retry_after(headers, payload)
               if status in (429, 503) else None)
