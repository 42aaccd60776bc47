"""Queue metrics: service level, speed of answer, abandonment and the longest wait,
computed from the queue episodes' events (see `desk.analytics.episodes` and
docs/metrics.md, where each is defined next to this query), as the rollups keep them
(one row per episode, `store.rollups`).

An episode counts in the range its handoff falls in. It ends with the first agent
reply (answered, after `wait_seconds`) or with the customer leaving the queue
(abandoned, after `wait_seconds`); one with neither is still waiting, or was closed
by staff without a reply (counted apart, in neither figure)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.filters import Filters, check_filters, checked
from desk.analytics.ranges import FilteredQuery, check_reader, ratio
from desk.clock import aware
from store.models import Agent, Conversation, ConversationState
from store.rollups import EpisodeFact

# The queue's filters are the handoff's team, channel and language, the topic of the
# bot session that handed over, and the agent who answered.
QueueQuery = FilteredQuery

__all__ = ["QueueQuery", "Targets", "check_filters", "check_reader", "percentile"]


@dataclass(frozen=True)
class Targets:
    """The service level's target answer time and the short-abandon threshold."""

    answer_seconds: float = 20.0
    short_abandon_seconds: float = 5.0


DEFAULT_TARGETS = Targets()
ABANDON_HOWS = ("left", "silent", "callback")
# Waits are stored to the millisecond: summed as whole milliseconds, the mean is the
# same however the store orders the sum (a trend's days add up to its period's).
WAIT_MS = func.round(EpisodeFact.wait * 1000)


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


def chosen_episodes(filters: Filters) -> list[ColumnElement[bool]]:
    """The episodes whose handoff is in the range, of the filters asked."""
    since, until = filters.query.utc_bounds()
    return [
        EpisodeFact.at >= since,
        EpisodeFact.at < until,
        *filters.on(
            EpisodeFact.conversation_id,
            channel=EpisodeFact.channel,
            team=EpisodeFact.team,
            agent=EpisodeFact.agent_id,
            language=EpisodeFact.language,
            intent=EpisodeFact.topic,
        ),
    ]


async def episodes(
    session: AsyncSession,
    filters: Filters,
    at: datetime | None = None,
    ended: str | None = "any",
) -> list[Episode]:
    """The episodes whose handoff is in the range (of the filters asked), from the
    rollups: refresh them first. `ended` narrows them in the store to those answered,
    abandoned, or (None) not ended."""
    chosen = select(
        EpisodeFact.conversation_id,
        EpisodeFact.at,
        EpisodeFact.outcome,
        EpisodeFact.wait,
        Conversation.state,
    ).join(Conversation, Conversation.id == EpisodeFact.conversation_id)
    moment = at or datetime.now(UTC)
    found = []
    narrowed = chosen.where(*chosen_episodes(filters))
    if ended != "any":
        narrowed = narrowed.where(
            EpisodeFact.outcome.is_(None) if ended is None else EpisodeFact.outcome == ended
        )
    for conversation, began, outcome, wait, state in await session.execute(
        narrowed.order_by(EpisodeFact.handoff_id)
    ):
        began = aware(began)
        if outcome is None and state == ConversationState.QUEUED:
            outcome, wait = "waiting", (moment - began).total_seconds()
        elif outcome is None:
            outcome = "closed"
        found.append(Episode(conversation, began, outcome, wait))
    return found


async def _nearest_rank(
    session: AsyncSession, answered: list[ColumnElement[bool]], count: int, share: float
) -> float | None:
    """`percentile` of the answered waits, read by the store in order."""
    if not count:
        return None
    return await session.scalar(
        select(EpisodeFact.wait)
        .where(*answered)
        .order_by(EpisodeFact.wait)
        .offset(max(0, math.ceil(share * count) - 1))
        .limit(1)
    )


async def queue_metrics(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: QueueQuery,
    targets: Targets = DEFAULT_TARGETS,
    at: datetime | None = None,
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    filters = await checked(sessions, query, "queue")
    chosen = chosen_episodes(filters)
    answered = [*chosen, EpisodeFact.outcome == "answered"]
    abandoned = EpisodeFact.outcome == "abandoned"
    async with sessions() as session:
        handoffs, replies, within, left, short, total, longest = (
            await session.execute(
                select(
                    func.count(),
                    func.count().filter(EpisodeFact.outcome == "answered"),
                    func.count().filter(
                        EpisodeFact.outcome == "answered",
                        EpisodeFact.wait <= targets.answer_seconds,
                    ),
                    func.count().filter(abandoned),
                    func.count().filter(
                        abandoned, EpisodeFact.wait < targets.short_abandon_seconds
                    ),
                    func.sum(WAIT_MS).filter(EpisodeFact.outcome == "answered"),
                    func.max(EpisodeFact.wait),
                ).where(*chosen)
            )
        ).one()
        by_how = dict(
            (how, count)
            for how, count in await session.execute(
                select(EpisodeFact.how, func.count())
                .where(*chosen, abandoned)
                .group_by(EpisodeFact.how)
            )
        )
        # Unended: waiting if still queued, else closed by staff without a reply.
        moment = at or datetime.now(UTC)
        still_waiting = [
            (moment - aware(began)).total_seconds()
            for began in await session.scalars(
                select(EpisodeFact.at)
                .join(Conversation, Conversation.id == EpisodeFact.conversation_id)
                .where(
                    *chosen,
                    EpisodeFact.outcome.is_(None),
                    Conversation.state == ConversationState.QUEUED,
                )
            )
        ]
        p50 = await _nearest_rank(session, answered, replies, 0.5)
        p90 = await _nearest_rank(session, answered, replies, 0.9)
    counted = replies + left - short
    waits = [w for w in (longest, *still_waiting) if w is not None]
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        **query.echo("team", "channel"),
        "target_seconds": targets.answer_seconds,
        "short_abandon_seconds": targets.short_abandon_seconds,
        "handoffs": handoffs,
        "answered": replies,
        "answered_within_target": within,
        "abandoned": left,
        "short_abandons": short,
        # how they left: the button, silence past the grace, a callback instead
        "abandoned_by_how": {how: by_how.get(how, 0) for how in ABANDON_HOWS},
        "waiting": len(still_waiting),
        "closed_unanswered": handoffs - replies - left - len(still_waiting),
        "service_level": ratio(within, counted),
        "abandon_rate": ratio(left - short, counted),
        "asa": {
            "mean": round(total / replies / 1000, 3) if replies else None,
            "p50": p50,
            "p90": p90,
        },
        "longest_wait_seconds": max(waits) if waits else None,
    }
