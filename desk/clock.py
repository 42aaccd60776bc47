"""The time: everything stored is UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def iso(at: datetime | None) -> str | None:
    return aware(at).isoformat() if at is not None else None
