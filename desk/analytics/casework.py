"""Casework: complaints, callbacks and follow-ups against their due dates (see
docs/metrics.md, where each figure is defined next to this query).

The range selects each kind of case by its own date: complaints by when they were
opened, callbacks by the start of their (current) window, follow-ups by their due
date. What is overdue now is the whole backlog, whatever the range."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.ranges import RangeQuery, check_reader, ratio
from desk.clock import aware, now
from store.models import Agent, Callback, Complaint, FollowUp, TaskStatus

ACTIVE = (TaskStatus.OPEN, TaskStatus.IN_PROGRESS)
REACHED = "reached"


def _when(entry: dict[str, Any]) -> datetime | None:
    """An entry's time; one without an offset was written in UTC, as the store's."""
    at = entry.get("at")
    return aware(datetime.fromisoformat(at)) if isinstance(at, str) else None


def closed_at(history: list[Any]) -> datetime | None:
    """When a complaint was last marked done (None if its history never says so, or
    it was reopened since)."""
    closed = None
    for entry in history or []:
        status = entry.get("status") if isinstance(entry, dict) else None
        if status == TaskStatus.DONE and closed is None:
            closed = _when(entry)
        elif status is not None and status != TaskStatus.DONE:
            closed = None
    return closed


def reached_at(attempts: list[Any]) -> datetime | None:
    """When the callback's customer was reached (None if never)."""
    for attempt in attempts or []:
        if isinstance(attempt, dict) and attempt.get("outcome") == REACHED:
            return _when(attempt)
    return None


def _complaints(rows: list[Any], at: datetime) -> dict[str, Any]:
    closed = [row for row in rows if row.status == TaskStatus.DONE]
    within = sum(
        1
        for row in closed
        if (when := closed_at(row.history)) is not None and when <= aware(row.due_at)
    )
    # The rate's other cases: still active past their due date.
    overdue = sum(1 for row in rows if row.status in ACTIVE and aware(row.due_at) < at)
    return {
        "opened": len(rows),
        "closed": len(closed),
        "closed_within_due": within,
        "cancelled": sum(1 for row in rows if row.status == TaskStatus.CANCELLED),
        "open": sum(1 for row in rows if row.status in ACTIVE),
        "on_time_rate": ratio(within, len(closed) + overdue),
    }


def _callbacks(rows: list[Any], at: datetime) -> dict[str, Any]:
    attempted = [row for row in rows if row.attempts]
    first = sum(1 for row in attempted if row.attempts[0].get("outcome") == REACHED)
    done = [row for row in rows if row.status == TaskStatus.DONE]
    on_time = sum(
        1
        for row in done
        if (when := reached_at(row.attempts)) is not None and when <= aware(row.window_end)
    )
    # The rate's other cases: still active past their window.
    late_open = sum(1 for row in rows if row.status in ACTIVE and aware(row.window_end) < at)
    return {
        "due": len(rows),
        "done": len(done),
        "cancelled": sum(1 for row in rows if row.status == TaskStatus.CANCELLED),
        "open": sum(1 for row in rows if row.status in ACTIVE),
        "attempted": len(attempted),
        "reached_first_attempt": first,
        "first_attempt_reach_rate": ratio(first, len(attempted)),
        "on_time": on_time,
        "on_time_rate": ratio(on_time, len(done) + late_open),
    }


def _follow_ups(rows: list[Any]) -> dict[str, Any]:
    return {
        "due": len(rows),
        "done": sum(1 for row in rows if row.status == TaskStatus.DONE),
        "cancelled": sum(1 for row in rows if row.status == TaskStatus.CANCELLED),
        "open": sum(1 for row in rows if row.status in ACTIVE),
    }


async def _overdue(session: AsyncSession, at: datetime) -> dict[str, int]:
    """The backlog now: active cases past their due date (a callback past its window)."""
    overdue: dict[str, int] = {}
    for name, model, due in (
        ("complaints", Complaint, Complaint.due_at),
        ("callbacks", Callback, Callback.window_end),
        ("follow_ups", FollowUp, FollowUp.due_at),
    ):
        overdue[name] = (
            await session.scalar(
                select(func.count()).select_from(model).where(model.status.in_(ACTIVE), due < at)
            )
        ) or 0
    return overdue


async def casework_metrics(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: RangeQuery,
    at: datetime | None = None,
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    since, until = query.utc_bounds()
    at = aware(at or now())
    async with sessions() as session:
        # The columns the figures read, not whole rows (a season has thousands).
        complaints = list(
            await session.execute(
                select(Complaint.status, Complaint.due_at, Complaint.history).where(
                    Complaint.created_at >= since, Complaint.created_at < until
                )
            )
        )
        callbacks = list(
            await session.execute(
                select(Callback.status, Callback.attempts, Callback.window_end).where(
                    Callback.window_start >= since, Callback.window_start < until
                )
            )
        )
        follow_ups = list(
            await session.execute(
                select(FollowUp.status).where(FollowUp.due_at >= since, FollowUp.due_at < until)
            )
        )
        overdue = await _overdue(session, at)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "at": at.isoformat(),
        "complaints": _complaints(complaints, at),
        "callbacks": _callbacks(callbacks, at),
        "follow_ups": _follow_ups(follow_ups),
        "overdue_now": overdue,
    }
