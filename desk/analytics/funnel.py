"""The bot funnel, per topic: bot sessions, handed over, queued, answered by an agent
and resolved, and the branches to a callback, a follow-up or a complaint (see
docs/metrics.md, where each step is defined next to this query)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.bot import STARTS, Session, SessionIndex, Windows, read_sessions
from desk.analytics.episodes import FIRST_REPLY
from desk.analytics.queue import QueueQuery, check_filters, check_reader
from desk.analytics.ranges import rows_in, scalars_in
from desk.clock import aware, now
from desk.errors import DeskError
from store.models import Agent, Callback, Complaint, Event, FollowUp

STEPS = ("sessions", "handed_over", "queued", "answered", "resolved")
BRANCHES = ("callback", "follow_up", "complaint")
# How long after a session began what follows still counts as its outcome.
FOLLOWS = timedelta(days=7)
NO_TOPIC = "(none)"


def _created_between(model: Any, since: datetime, until: datetime, part: list[int]) -> Any:
    return select(model.conversation_id, model.created_at).where(
        model.conversation_id.in_(part), model.created_at >= since, model.created_at < until
    )


async def _after(
    session: AsyncSession, conversations: set[int], since: datetime, until: datetime
) -> dict[int, list[tuple[datetime, str]]]:
    """What happened in each conversation after its bot sessions: first replies,
    resolves by agents, callbacks, follow-ups and complaints, in time order."""
    found: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    for event in await scalars_in(
        session,
        conversations,
        lambda part: select(Event).where(
            Event.conversation_id.in_(part),
            Event.kind.in_((FIRST_REPLY, "resolved")),
            Event.at >= since,
            Event.at < until,
        ),
    ):
        if event.kind == FIRST_REPLY:
            found[event.conversation_id or 0].append((aware(event.at), "answered"))
        elif event.data.get("by") == "agent":
            found[event.conversation_id or 0].append((aware(event.at), "resolved"))
    for model, step in ((Callback, "callback"), (FollowUp, "follow_up"), (Complaint, "complaint")):
        for conversation, created in await rows_in(
            session,
            conversations,
            partial(_created_between, model, since, until),
        ):
            found[conversation or 0].append((aware(created), step))
    for steps in found.values():
        steps.sort()
    return found


def _steps(
    bot_session: Session, following: list[tuple[datetime, str]], until: datetime
) -> set[str]:
    reached = {"sessions"}
    if bot_session.outcome == "handed_over":
        reached.add("handed_over")
        if bot_session.queued:
            reached.add("queued")
    end = min(until, bot_session.start + FOLLOWS)
    for at, step in following:
        if bot_session.start <= at < end:
            if step in ("answered", "resolved") and "handed_over" not in reached:
                continue
            reached.add(step)
    return reached


async def funnel(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: QueueQuery,
    at: datetime | None = None,
) -> dict[str, Any]:
    check_reader(reader)
    if query.team is not None:
        raise DeskError("bad_filter", "The funnel is per channel, not team.", 400)
    start, end = query.bounds()
    since, until = start.astimezone(UTC), end.astimezone(UTC)
    horizon = until + FOLLOWS
    starting = select(Event.conversation_id).where(
        Event.kind.in_(STARTS), Event.at >= since, Event.at < until
    )
    async with sessions() as session:
        await check_filters(session, query)
        everything = await read_sessions(
            session, starting, query.channel, since, horizon, Windows(), at or now()
        )
        counted = [
            s for s in everything if since <= s.start < until and query.channel in (None, s.channel)
        ]
        following = await _after(session, {s.conversation_id for s in counted}, since, horizon)
    index = SessionIndex(everything)
    topics: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys((*STEPS, *BRANCHES), 0))
    for bot_session in counted:
        # what follows belongs to this session until the conversation's next one
        until_next = index.next_start(bot_session.conversation_id, bot_session.start) or horizon
        for step in _steps(bot_session, following.get(bot_session.conversation_id, []), until_next):
            topics[bot_session.topic() or NO_TOPIC][step] += 1
    total = dict.fromkeys((*STEPS, *BRANCHES), 0)
    for steps in topics.values():
        for step, count in steps.items():
            total[step] += count
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "channel": query.channel,
        "total": total,
        "topics": [
            {"topic": topic, **steps}
            for topic, steps in sorted(
                topics.items(), key=lambda item: (-item[1]["sessions"], item[0])
            )
        ],
    }


def _most_sessions_first(item: tuple[str, dict[str, int]]) -> tuple[int, str]:
    return -item[1]["sessions"], item[0]
