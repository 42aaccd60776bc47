"""The bot funnel, per topic: bot sessions, handed over, queued, answered by an agent
and resolved, and the branches to a callback, a follow-up or a complaint (see
docs/metrics.md, where each step is defined next to this query). It reads the
rollups' sessions, with the steps that followed each (`desk.analytics.facts`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.bot import counted
from desk.analytics.filters import checked
from desk.analytics.queue import QueueQuery, check_reader
from store.models import Agent
from store.rollups import SessionFact

STEPS = ("sessions", "handed_over", "queued", "answered", "resolved")
BRANCHES = ("callback", "follow_up", "complaint")
NO_TOPIC = "(none)"

# Which sessions reached each step.
REACHED = {
    "sessions": SessionFact.outcome.is_not(None),
    "handed_over": SessionFact.outcome == "handed_over",
    "queued": SessionFact.queued,
    "answered": SessionFact.answered,
    "resolved": SessionFact.resolved,
    "callback": SessionFact.callback,
    "follow_up": SessionFact.follow_up,
    "complaint": SessionFact.complaint,
}


async def funnel(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: QueueQuery,
    at: datetime | None = None,
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    filters = await checked(sessions, query, "bot")
    async with sessions() as session:
        rows = (
            await session.execute(
                select(
                    SessionFact.topic,
                    *(func.count().filter(condition) for condition in REACHED.values()),
                )
                .where(counted(filters))
                .group_by(SessionFact.topic)
            )
        ).all()
    topics = {topic or NO_TOPIC: dict(zip(REACHED, counts, strict=True)) for topic, *counts in rows}
    total = {step: sum(steps[step] for steps in topics.values()) for step in REACHED}
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        **query.echo("channel"),
        "total": total,
        "topics": [
            {"topic": topic, **steps}
            for topic, steps in sorted(
                topics.items(), key=lambda item: (-item[1]["sessions"], item[0])
            )
        ],
    }
