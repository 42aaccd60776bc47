"""Queue metrics: service level, speed of answer, abandonment and the longest wait,
computed from the queue episodes' events (see `desk.analytics.episodes` and
docs/metrics.md, where each is defined next to this query).

An episode counts in the range its handoff falls in. It ends with the first agent
reply (answered, after `wait_seconds`) or with the customer leaving the queue
(abandoned, after `wait_seconds`); one with neither is still waiting, or was closed
by staff without a reply (counted apart, in neither figure)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.episodes import ABANDONED, FIRST_REPLY, HANDOFF
from desk.analytics.ranges import FilteredQuery, check_filters, check_reader, ratio, scalars_in
from desk.clock import aware
from store.models import Agent, Conversation, ConversationState, Event

# The queue's filters are the handoff's team and channel.
QueueQuery = FilteredQuery

__all__ = ["QueueQuery", "Targets", "check_filters", "check_reader", "percentile"]


@dataclass(frozen=True)
class Targets:
    """The service level's target answer time and the short-abandon threshold."""

    answer_seconds: float = 20.0
    short_abandon_seconds: float = 5.0


DEFAULT_TARGETS = Targets()


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `share` of the
    values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass(frozen=True)
class Episode:
    """One queue episode: its conversation, when it began, how it ended (answered,
    abandoned, waiting or closed) and how long the customer waited."""

    conversation_id: int
    at: datetime
    outcome: str
    wait: float | None


async def episodes(
    session: AsyncSession, query: QueueQuery, at: datetime | None = None
) -> list[Episode]:
    """The episodes whose handoff is in the range (of the team and channel asked)."""
    since, until = query.utc_bounds()
    handoffs = [
        event
        for event in await session.scalars(
            select(Event)
            .where(Event.kind == HANDOFF, Event.at >= since, Event.at < until)
            .order_by(Event.id)
        )
        if (query.team is None or event.data.get("team") == query.team)
        and (query.channel is None or event.data.get("channel") == query.channel)
    ]
    ends: dict[int, Event] = {}
    if handoffs:
        conversations = {event.conversation_id for event in handoffs}
        for event in await scalars_in(
            session,
            conversations,
            lambda part: select(Event).where(
                Event.kind.in_((FIRST_REPLY, ABANDONED)),
                Event.conversation_id.in_(part),
                Event.id > handoffs[0].id,
            ),
        ):
            ends.setdefault(int(event.data.get("handoff_id") or 0), event)
    queued = set(
        await scalars_in(
            session,
            {event.conversation_id for event in handoffs},
            lambda part: select(Conversation.id).where(
                Conversation.state == ConversationState.QUEUED, Conversation.id.in_(part)
            ),
        )
    )
    moment = at or datetime.now(UTC)
    found = []
    for handoff in handoffs:
        conversation, began = handoff.conversation_id or 0, aware(handoff.at)
        ended = ends.get(handoff.id)
        if ended is not None:
            outcome = "answered" if ended.kind == FIRST_REPLY else "abandoned"
            wait: float | None = float(ended.data.get("wait_seconds") or 0.0)
        elif conversation in queued:
            outcome, wait = "waiting", (moment - began).total_seconds()
        else:
            outcome, wait = "closed", None
        found.append(Episode(conversation, began, outcome, wait))
    return found


async def queue_metrics(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: QueueQuery,
    targets: Targets = DEFAULT_TARGETS,
    at: datetime | None = None,
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    async with sessions() as session:
        await check_filters(session, query)
        found = await episodes(session, query, at)
    handoffs = found
    answered = [e.wait or 0.0 for e in found if e.outcome == "answered"]
    abandoned = [e.wait or 0.0 for e in found if e.outcome == "abandoned"]
    still_waiting = [e.wait or 0.0 for e in found if e.outcome == "waiting"]
    within = sum(1 for wait in answered if wait <= targets.answer_seconds)
    short = sum(1 for wait in abandoned if wait < targets.short_abandon_seconds)
    counted = len(answered) + len(abandoned) - short
    waits = answered + abandoned
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "team": query.team,
        "channel": query.channel,
        "target_seconds": targets.answer_seconds,
        "short_abandon_seconds": targets.short_abandon_seconds,
        "handoffs": len(handoffs),
        "answered": len(answered),
        "answered_within_target": within,
        "abandoned": len(abandoned),
        "short_abandons": short,
        "waiting": len(still_waiting),
        "closed_unanswered": len(handoffs) - len(answered) - len(abandoned) - len(still_waiting),
        "service_level": ratio(within, counted),
        "abandon_rate": ratio(len(abandoned) - short, counted),
        "asa": {
            "mean": round(sum(answered) / len(answered), 3) if answered else None,
            "p50": percentile(answered, 0.5),
            "p90": percentile(answered, 0.9),
        },
        "longest_wait_seconds": max(waits + still_waiting) if waits or still_waiting else None,
    }
