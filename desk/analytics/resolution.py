"""First-contact resolution: of the conversations resolved in a range, those the
same customer did not come back about within a week (see docs/metrics.md, where it
is defined next to this query).

A resolved conversation's **topic** is the topic of the bot session it was resolved
in (or that handed it over): see `desk.analytics.bot`. The customer **came back**
when they (the verified customer across all their conversations and channels, or
else the same conversation) began a bot session within `window` after the resolve
on the same topic; when the topic is unknown, any session within the window counts."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.bot import Session, SessionIndex, Windows, read_sessions
from desk.analytics.queue import QueueQuery, check_filters, check_reader
from desk.analytics.ranges import scalars_in
from desk.clock import aware, now
from desk.errors import DeskError
from store.models import Agent, Event

# Closes that say nothing of whether the customer was helped: the customer went
# silent, or the conversation was a duplicate of another.
NOT_COUNTED = ("no_response", "duplicate")
# How far before the range a session resolved in it may have begun.
LOOKBACK = timedelta(days=7)
DEFAULT_WINDOW = timedelta(days=7)


def _resolved_in(
    by_conversation: dict[int, list[Session]], conversation_id: int, at: datetime
) -> Session | None:
    """The conversation's last session begun before the resolve."""
    found = [s for s in by_conversation.get(conversation_id, []) if s.start <= at]
    return max(found, key=lambda s: s.start) if found else None


def came_back(
    resolved: Session | None, who: str, at: datetime, index: SessionIndex, window: timedelta
) -> bool:
    topic = resolved.topic() if resolved is not None else None
    return any(
        at < other.start and (topic is None or other.topic() == topic)
        for other in index.began(who, at, at + window)
    )


async def resolution_metrics(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: QueueQuery,
    window: timedelta = DEFAULT_WINDOW,
    at: datetime | None = None,
) -> dict[str, Any]:
    check_reader(reader)
    if query.team is not None:
        raise DeskError("bad_filter", "Resolution figures are per channel, not team.", 400)
    start, end = query.bounds()
    since, until = start.astimezone(UTC), end.astimezone(UTC)
    at = at or now()
    resolved_in_range = select(Event.conversation_id).where(
        Event.kind == "resolved", Event.at >= since, Event.at < until
    )
    async with sessions() as session:
        await check_filters(session, query)
        everything = await read_sessions(
            session,
            resolved_in_range,
            query.channel,
            since - LOOKBACK,
            until + window,
            Windows(),
            at,
        )
        wanted = {s.conversation_id for s in everything if query.channel in (None, s.channel)}
        resolves = await scalars_in(
            session,
            wanted,
            lambda part: select(Event).where(
                Event.kind == "resolved",
                Event.at >= since,
                Event.at < until,
                Event.conversation_id.in_(part),
            ),
        )
        resolves.sort(key=lambda event: event.id)
    who = {s.conversation_id: s.who for s in everything}
    index = SessionIndex(everything)
    by_conversation: dict[int, list[Session]] = defaultdict(list)
    for one in everything:
        by_conversation[one.conversation_id].append(one)
    counted = [e for e in resolves if e.data.get("reason") not in NOT_COUNTED]
    settled = [
        e
        for e in counted
        if aware(e.at) + window <= at
        or came_back(
            _resolved_in(by_conversation, e.conversation_id or 0, aware(e.at)),
            who.get(e.conversation_id or 0, ""),
            aware(e.at),
            index,
            window,
        )
    ]
    first_contact = [
        e
        for e in settled
        if not came_back(
            _resolved_in(by_conversation, e.conversation_id or 0, aware(e.at)),
            who.get(e.conversation_id or 0, ""),
            aware(e.at),
            index,
            window,
        )
    ]
    by_bot = [e for e in first_contact if e.data.get("by") == "bot"]
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "channel": query.channel,
        "window_days": window.total_seconds() / 86400,
        "resolved": len(resolves),
        "not_counted": len(resolves) - len(counted),
        # resolved less than a window ago and not come back yet: not known
        "pending": len(counted) - len(settled),
        "settled": len(settled),
        "first_contact": len(first_contact),
        "first_contact_by_bot": len(by_bot),
        "fcr": round(len(first_contact) / len(settled), 4) if settled else None,
    }
