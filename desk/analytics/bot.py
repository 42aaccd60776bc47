"""Bot figures: containment and durable containment of bot sessions, handoffs by
reason, the fallback rate and the top intents (see docs/metrics.md, where each is
defined next to this query). They read the rollups' sessions (`store.rollups`), one
row per bot session (defined in `desk.analytics.sessions`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.filters import Filters, checked
from desk.analytics.queue import QueueQuery, check_reader
from desk.analytics.ranges import ratio
from desk.analytics.sessions import DEFAULT_WINDOWS, Windows
from desk.clock import now
from store.models import Agent
from store.rollups import SessionFact, SessionIntent

__all__ = ["DEFAULT_WINDOWS", "Windows", "bot_metrics", "counted", "parts"]

TOP_INTENTS = 10


def counted(filters: Filters, table: Any = SessionFact) -> ColumnElement[bool]:
    """The sessions begun in the range (of the channel, language, topic and customer
    tags asked)."""
    since, until = filters.query.utc_bounds()
    return and_(
        table.start >= since,
        table.start < until,
        *filters.on(
            table.conversation_id,
            channel=table.channel,
            language=table.language,
            intent=table.topic,
        ),
    )


def parts(at: datetime, windows: Windows) -> dict[str, ColumnElement[bool]]:
    """Which sessions each bot figure counts, at `at`: a session no event ended is
    open until its quiet time, and left after it."""
    left = and_(SessionFact.outcome == "idle", SessionFact.idle_at <= at)
    contained = or_(SessionFact.outcome == "seen_off", and_(left, not_(SessionFact.mid_form)))
    return {
        "sessions": SessionFact.outcome.is_not(None),
        "open": and_(SessionFact.outcome == "idle", SessionFact.idle_at > at),
        "seen_off": SessionFact.outcome == "seen_off",
        "left": left,
        "left_mid_form": and_(left, SessionFact.mid_form),
        "handed_over": SessionFact.outcome == "handed_over",
        "contained": contained,
        "durably_contained": and_(
            contained,
            or_(
                SessionFact.back_after.is_(None),
                SessionFact.back_after > windows.durable.total_seconds(),
            ),
        ),
    }


async def bot_metrics(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: QueueQuery,
    windows: Windows = DEFAULT_WINDOWS,
    at: datetime | None = None,
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    filters = await checked(sessions, query, "bot")
    chosen = parts((at or now()).astimezone(UTC), windows)
    async with sessions() as session:
        figures = (
            await session.execute(
                select(
                    *(func.count().filter(condition) for condition in chosen.values()),
                    func.coalesce(func.sum(SessionFact.parsed), 0),
                    func.coalesce(func.sum(SessionFact.fallbacks), 0),
                ).where(counted(filters))
            )
        ).one()
        reasons = (
            await session.execute(
                select(SessionFact.reason, func.count())
                .where(counted(filters), chosen["handed_over"])
                .group_by(SessionFact.reason)
            )
        ).all()
        top = (
            await session.execute(
                select(SessionIntent.intent, func.sum(SessionIntent.count).label("n"))
                .where(counted(filters, SessionIntent))
                .group_by(SessionIntent.intent)
                .order_by(func.sum(SessionIntent.count).desc(), SessionIntent.intent)
                .limit(TOP_INTENTS)
            )
        ).all()
    found = dict(zip(chosen, figures, strict=False))
    parsed, fallbacks = int(figures[-2]), int(figures[-1])
    finished = found["sessions"] - found["open"]
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        **query.echo("channel"),
        "idle_minutes": windows.idle.total_seconds() / 60,
        "durable_hours": windows.durable.total_seconds() / 3600,
        "sessions": found["sessions"],
        "open": found["open"],
        "finished": finished,
        "seen_off": found["seen_off"],
        "left": found["left"],
        "left_mid_form": found["left_mid_form"],
        "handed_over": found["handed_over"],
        "contained": found["contained"],
        "containment": ratio(found["contained"], finished),
        "durably_contained": found["durably_contained"],
        "durable_containment": ratio(found["durably_contained"], finished),
        "handoff_rate": ratio(found["handed_over"], finished),
        "handoffs_by_reason": dict(sorted((reason or "", count) for reason, count in reasons)),
        "parsed_messages": parsed,
        "fallbacks": fallbacks,
        "fallback_rate": ratio(fallbacks, parsed),
        "top_intents": [{"intent": intent, "count": int(count)} for intent, count in top],
    }
