"""Drill-down: the conversations behind a figure, found by the figure's own query (see
docs/metrics.md), each with a link to its transcript in the console. No names,
numbers or message text: the transcript shows those to who may see them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.bot import DEFAULT_WINDOWS, counted, parts
from desk.analytics.filters import Filters, checked
from desk.analytics.queue import (
    DEFAULT_TARGETS,
    Episode,
    QueueQuery,
    Targets,
    check_reader,
    episodes,
)
from desk.clock import aware, iso, now
from desk.errors import DeskError
from store.models import Agent, Conversation
from store.rollups import SessionFact

LIMIT = 200

# How the episodes of each queue figure ended (read in the store first), and which of
# those it counts.
ENDED: dict[str, str | None] = {
    "answered": "answered",
    "within_target": "answered",
    "missed_target": "answered",
    "abandoned": "abandoned",
    "short_abandons": "abandoned",
    "waiting": None,
    "closed_unanswered": None,
}
QUEUE_PARTS: dict[str, Callable[[Episode, Targets], bool]] = {
    "handoffs": lambda e, t: True,
    "answered": lambda e, t: e.outcome == "answered",
    "within_target": lambda e, t: e.outcome == "answered" and (e.wait or 0) <= t.answer_seconds,
    "missed_target": lambda e, t: e.outcome == "answered" and (e.wait or 0) > t.answer_seconds,
    "abandoned": lambda e, t: e.outcome == "abandoned",
    "short_abandons": lambda e, t: (
        e.outcome == "abandoned" and (e.wait or 0) < t.short_abandon_seconds
    ),
    "waiting": lambda e, t: e.outcome == "waiting",
    "closed_unanswered": lambda e, t: e.outcome == "closed",
}
# The bot's figures, each counting the sessions `desk.analytics.bot.parts` names.
BOT_PARTS = tuple(parts(datetime.now(UTC), DEFAULT_WINDOWS))


class DrillQuery(QueueQuery):
    """`of` a figure family (`queue` or `bot`), `part` one of its figures; for the
    bot, `topic` narrows to the sessions of one topic."""

    of: Annotated[str, Field(min_length=1, max_length=16)]
    part: Annotated[str, Field(min_length=1, max_length=32)]
    topic: Annotated[str, Field(min_length=1, max_length=128)] | None = None


async def _rows(session: AsyncSession, found: list[tuple[int, datetime, Any]]) -> list[dict]:
    shown = found[:LIMIT]
    conversations = {
        c.id: c
        for c in await session.scalars(
            select(Conversation).where(Conversation.id.in_({c for c, _, _ in shown}))
        )
    }
    rows = []
    for conversation_id, at, extra in shown:
        conversation = conversations[conversation_id]
        rows.append(
            {
                "conversation_id": conversation_id,
                "at": iso(at),
                "channel": conversation.channel,
                "team": conversation.team,
                "language": conversation.language,
                "state": str(conversation.state),
                "link": f"/console?conversation={conversation_id}",
                **extra,
            }
        )
    return rows


async def _sessions(
    session: AsyncSession, query: DrillQuery, filters: Filters, at: datetime | None
) -> list[tuple[int, datetime, Any]]:
    """The bot sessions the figure counts (of one topic, if asked), with how each
    ended at `at`."""
    moment = (at or now()).astimezone(UTC)
    chosen = parts(moment, DEFAULT_WINDOWS)
    found = select(
        SessionFact.conversation_id,
        SessionFact.start,
        SessionFact.outcome,
        SessionFact.idle_at,
        SessionFact.topic,
    ).where(counted(filters), chosen[query.part])
    if query.topic is not None:
        found = found.where(SessionFact.topic == query.topic)
    return [
        (
            conversation,
            aware(start),
            {"outcome": _outcome(outcome, aware(idle_at), moment), "topic": topic},
        )
        for conversation, start, outcome, idle_at, topic in await session.execute(
            found.order_by(SessionFact.start, SessionFact.id)
        )
    ]


def _outcome(outcome: str, idle_at: datetime, at: datetime) -> str:
    if outcome != "idle":
        return outcome
    return "left" if idle_at <= at else "open"


async def drilldown(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: DrillQuery,
    targets: Targets = DEFAULT_TARGETS,
    at: datetime | None = None,
) -> dict[str, Any]:
    check_reader(reader)
    # The figure's own filters: a bot figure's list takes what the bot's take.
    filters = await checked(sessions, query, "bot" if query.of == "bot" else "queue")
    async with sessions() as session:
        if query.of == "queue" and query.part in QUEUE_PARTS:
            wanted = QUEUE_PARTS[query.part]
            found = [
                (e.conversation_id, e.at, {"outcome": e.outcome, "wait_seconds": e.wait})
                for e in await episodes(session, filters, at, ENDED.get(query.part, "any"))
                if wanted(e, targets)
            ]
        elif query.of == "bot" and query.part in BOT_PARTS:
            found = await _sessions(session, query, filters, at)
        else:
            raise DeskError(
                "unknown_part",
                "of is queue or bot, and part one of its figures: "
                + ", ".join(QUEUE_PARTS if query.of == "queue" else BOT_PARTS)
                + ".",
                400,
            )
        rows = await _rows(session, found)
    return {
        "of": query.of,
        "part": query.part,
        "topic": query.topic,
        "filters": query.chosen(),
        "count": len(found),
        "conversations": rows,
        "more": len(found) > LIMIT,
    }
