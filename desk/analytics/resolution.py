"""First-contact resolution: of the conversations resolved in a range, those the
same customer did not come back about within a week (see docs/metrics.md, where it
is defined next to this query).

A resolved conversation's **topic** is the topic of the bot session it was resolved
in (or that handed it over): see `desk.analytics.sessions`. The customer **came
back** when they (the verified customer across all their conversations and channels,
or else the same conversation) began a bot session within `window` after the resolve
on the same topic; when the topic is unknown, any session within the window counts.
The figures read the rollups' resolves, each with when the customer next came back
(`desk.analytics.facts`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.filters import checked
from desk.analytics.queue import QueueQuery, check_reader
from desk.clock import now
from store.models import Agent
from store.rollups import ResolveFact

# Closes that say nothing of whether the customer was helped: the customer went
# silent, or the conversation was a duplicate of another.
NOT_COUNTED = ("no_response", "duplicate")
DEFAULT_WINDOW = timedelta(days=7)


async def resolution_metrics(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: QueueQuery,
    window: timedelta = DEFAULT_WINDOW,
    at: datetime | None = None,
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    since, until = query.utc_bounds()
    at = (at or now()).astimezone(UTC)
    filters = await checked(sessions, query, "resolution")
    seconds = window.total_seconds()
    came_back = and_(ResolveFact.back_after.is_not(None), ResolveFact.back_after <= seconds)
    counted = or_(ResolveFact.reason.is_(None), ResolveFact.reason.not_in(NOT_COUNTED))
    # Known: the window has passed, or the customer already came back within it.
    settled = and_(counted, or_(ResolveFact.at <= at - window, came_back))
    first_contact = and_(settled, ~came_back)
    # The channel, language and topic of the session it was resolved in; its resolver.
    in_range = [
        ResolveFact.at >= since,
        ResolveFact.at < until,
        *filters.on(
            ResolveFact.conversation_id,
            channel=ResolveFact.channel,
            agent=ResolveFact.agent_id,
            language=ResolveFact.language,
            intent=ResolveFact.topic,
        ),
    ]
    async with sessions() as session:
        resolved, kept, known, first, by_bot = (
            await session.execute(
                select(
                    func.count(),
                    func.count().filter(counted),
                    func.count().filter(settled),
                    func.count().filter(first_contact),
                    func.count().filter(and_(first_contact, ResolveFact.by == "bot")),
                ).where(*in_range)
            )
        ).one()
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        **query.echo("channel"),
        "window_days": seconds / 86400,
        "resolved": resolved,
        "not_counted": resolved - kept,
        # resolved less than a window ago and not come back yet: not known
        "pending": kept - known,
        "settled": known,
        "first_contact": first,
        "first_contact_by_bot": by_bot,
        "fcr": round(first / known, 4) if known else None,
    }
