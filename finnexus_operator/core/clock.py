"""Timestamps as status stores them (plain functions of a given ``now``; no clock reads)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["iso", "iso_seconds", "parse", "seconds_since"]


def iso(now: datetime) -> str:
    """RFC 3339 with microseconds, UTC ("2026-11-26T21:59:07.123456Z")."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_seconds(now: datetime) -> str:
    """RFC 3339 to the second, as metav1.Time serialises."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str | None) -> datetime | None:
    """Parse what :func:`iso` or :func:`iso_seconds` wrote; None for None or garbage."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def seconds_since(text: str | None, now: datetime) -> float | None:
    """Seconds from the stored time to ``now`` (None when there is no stored time)."""
    then = parse(text)
    return None if then is None else (now - then) / timedelta(seconds=1)
