"""Exports for spreadsheets: one row per conversation with what the metrics read of
it, streamed a page at a time (a million rows are never held in memory).

Cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`,
a tab or a carriage return) are prefixed with a quote, as OWASP advises; the file
is UTF-8 with a byte order mark, so spreadsheet programs show Chinese right."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.episodes import ABANDONED, FIRST_REPLY, HANDOFF
from desk.analytics.filters import Filters, check_filters
from desk.analytics.queue import QueueQuery, check_reader
from desk.analytics.rollups import refresh
from desk.clock import iso
from store.models import Agent, Conversation, Event
from store.rollups import SessionFact

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PAGE = 500
COLUMNS = (
    "conversation_id",
    "channel",
    "team",
    "language",
    "state",
    "created_at",
    "customer_verified",
    "handoffs",
    "first_wait_seconds",
    "abandoned",
    "agent",
    "resolution_reason",
    "resolved_at",
    "csat",
    "labels",
)


def cell(value: Any) -> str:
    """A value as a spreadsheet cell that can never run as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([cell(v) for v in values])
    return out.getvalue()


def _topics(intents: tuple[str, ...]) -> Any:
    """The conversations with a bot session on any of these topics."""
    return Conversation.id.in_(
        select(SessionFact.conversation_id).where(SessionFact.topic.in_(intents))
    )


async def _page(
    session: AsyncSession, filters: Filters, since: datetime, until: datetime, after: int
) -> list[Conversation]:
    # The filters read each conversation as it is now (its channel, team, language,
    # the agent holding it), and any of its bot sessions' topics.
    chosen = select(Conversation).where(
        Conversation.created_at >= since,
        Conversation.created_at < until,
        Conversation.id > after,
        *filters.on(
            Conversation.id,
            channel=Conversation.channel,
            team=Conversation.team,
            agent=Conversation.assigned_agent_id,
            language=Conversation.language,
            intent=_topics,
        ),
    )
    return list(await session.scalars(chosen.order_by(Conversation.id).limit(PAGE)))


async def _rows(session: AsyncSession, page: list[Conversation]) -> list[list[Any]]:
    ids = [c.id for c in page]
    events: dict[int, list[Event]] = defaultdict(list)
    for event in await session.scalars(
        select(Event)
        .where(
            Event.conversation_id.in_(ids),
            Event.kind.in_((HANDOFF, FIRST_REPLY, ABANDONED, "csat")),
        )
        .order_by(Event.id)
    ):
        events[event.conversation_id or 0].append(event)
    agents = {
        agent.id: agent.username
        for agent in await session.scalars(
            select(Agent).where(Agent.id.in_({c.assigned_agent_id for c in page} - {None}))
        )
    }
    rows = []
    for conversation in page:
        mine = events[conversation.id]
        waits = [e.data.get("wait_seconds") for e in mine if e.kind == FIRST_REPLY]
        ratings = [e.data.get("score") for e in mine if e.kind == "csat"]
        rows.append(
            [
                conversation.id,
                conversation.channel,
                conversation.team,
                conversation.language,
                str(conversation.state),
                iso(conversation.created_at),
                conversation.customer_id is not None,
                sum(1 for e in mine if e.kind == HANDOFF),
                waits[0] if waits else None,
                sum(1 for e in mine if e.kind == ABANDONED),
                agents.get(conversation.assigned_agent_id or 0),
                conversation.resolution_reason,
                iso(conversation.resolved_at),
                ratings[-1] if ratings else None,
                " ".join(conversation.labels or []),
            ]
        )
    return rows


async def conversations_csv(
    sessions: async_sessionmaker[AsyncSession], reader: Agent, query: QueueQuery
) -> AsyncIterator[str]:
    """The CSV's text, a page of conversations at a time, the header first (checks
    the reader and the filters before anything is sent)."""
    check_reader(reader)
    start, end = query.bounds()
    since, until = start.astimezone(UTC), end.astimezone(UTC)
    async with sessions() as session:
        filters = await check_filters(session, query, "export")
    if query.intent:
        await refresh(sessions)
    return _stream(sessions, filters, since, until)


async def _stream(
    sessions: async_sessionmaker[AsyncSession], filters: Filters, since: datetime, until: datetime
) -> AsyncIterator[str]:
    yield BOM + csv_line(list(COLUMNS))
    after = 0
    while True:
        async with sessions() as session:
            page = await _page(session, filters, since, until, after)
            if not page:
                return
            rows = await _rows(session, page)
        yield "".join(csv_line(row) for row in rows)
        after = page[-1].id
