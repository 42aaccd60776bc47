"""A trend's days of the queue's and the bot's figures in one grouped query each,
rather than one query per day (a 90-day trend and the 90 days before it would be 180):
the rollup rows are counted per hour (UTC) by the store, and each hour is a day's in
the range's time zone. That is exact in any zone whose offset is whole hours (China
time, and the summer times of most others); in another, the trend reads day by day.
Each day's value is the figure's own definition (see `desk.analytics.queue` and
`desk.analytics.bot`); a test checks that they agree."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.bot import DEFAULT_WINDOWS, counted, parts
from desk.analytics.filters import Filters, check_filters
from desk.analytics.queue import WAIT_MS, QueueQuery, Targets, chosen_episodes, percentile
from desk.analytics.ranges import hour_of, ratio
from desk.clock import aware, now
from store.rollups import EpisodeFact, SessionFact

# What a day's rows add up to, and the figures of one or more days' sums.
Counts = tuple[list[float], list[float]]
Combine = Callable[[list[Counts]], dict[str, Any]]
Days = Callable[
    [async_sessionmaker[AsyncSession], QueueQuery, list[date], Targets],
    Awaitable[dict[date, Counts]],
]


def _day(hour: Any, zone: ZoneInfo) -> date:
    if isinstance(hour, str):
        hour = datetime.strptime(hour, "%Y-%m-%d %H")
    return aware(hour).astimezone(zone).date()


async def _filters(
    sessions: async_sessionmaker[AsyncSession], query: QueueQuery, days: list[date], family: str
) -> Filters:
    """The query's filters over the days' whole range (a trend's and the period before
    it: up to twice the longest range one may ask for, so copied without that check),
    checked as the figure's own query checks them."""
    whole = query.model_copy(update={"start": days[0], "end": days[-1]})
    async with sessions() as session:
        return await check_filters(session, whole, family)


async def queue_days(
    sessions: async_sessionmaker[AsyncSession],
    query: QueueQuery,
    days: list[date],
    targets: Targets,
) -> dict[date, Counts]:
    """Per day, what the queue's figures count: handoffs, answered (and within the
    target), abandoned (and short), the answered waits' sum, and those waits."""
    chosen = chosen_episodes(await _filters(sessions, query, days, "queue"))
    answered = EpisodeFact.outcome == "answered"
    abandoned = EpisodeFact.outcome == "abandoned"
    zone = query.zone()
    async with sessions() as session:
        hour = hour_of(session, EpisodeFact.at)
        rows = await session.execute(
            select(
                hour,
                func.count(),
                func.count().filter(answered),
                func.count().filter(answered, EpisodeFact.wait <= targets.answer_seconds),
                func.count().filter(abandoned),
                func.count().filter(abandoned, EpisodeFact.wait < targets.short_abandon_seconds),
                func.sum(WAIT_MS).filter(answered),
            )
            .where(*chosen)
            .group_by(hour)
        )
        counts: dict[date, list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0.0])
        for at, *figures in rows:
            day = counts[_day(at, zone)]
            for n, value in enumerate(figures):
                day[n] += value or 0
        waits: dict[date, list[float]] = defaultdict(list)
        for at, wait in await session.execute(
            select(hour, EpisodeFact.wait).where(*chosen, answered)
        ):
            waits[_day(at, zone)].append(wait)
    return {day: (counts[day], waits[day]) for day in days}


def _sum(days: list[Counts]) -> Counts:
    width = len(days[0][0]) if days else 0
    return (
        [sum(counts[n] for counts, _ in days) for n in range(width)],
        [value for _, values in days for value in values],
    )


def queue_figures(days: list[Counts]) -> dict[str, Any]:
    """The queue's trend figures of these days together."""
    [handoffs, replies, within, left, short, total], waits = _sum(days)
    counted_ = replies + left - short
    return {
        "handoffs": int(handoffs),
        "service_level": ratio(within, counted_),
        "abandon_rate": ratio(left - short, counted_),
        "asa": {
            "mean": round(total / replies / 1000, 3) if replies else None,
            "p50": percentile(waits, 0.5),
            "p90": percentile(waits, 0.9),
        },
    }


async def bot_days(
    sessions: async_sessionmaker[AsyncSession],
    query: QueueQuery,
    days: list[date],
    targets: Targets,
) -> dict[date, Counts]:
    """Per day, what the bot's figures count: sessions, open, contained, durably
    contained, parsed messages and fallbacks."""
    filters = await _filters(sessions, query, days, "bot")
    chosen = parts(now().astimezone(UTC), DEFAULT_WINDOWS)
    zone = query.zone()
    async with sessions() as session:
        hour = hour_of(session, SessionFact.start)
        rows = await session.execute(
            select(
                hour,
                func.count(),
                func.count().filter(chosen["open"]),
                func.count().filter(chosen["contained"]),
                func.count().filter(chosen["durably_contained"]),
                func.coalesce(func.sum(SessionFact.parsed), 0),
                func.coalesce(func.sum(SessionFact.fallbacks), 0),
            )
            .where(counted(filters))
            .group_by(hour)
        )
    counts: dict[date, list[float]] = defaultdict(lambda: [0] * 6)
    for at, *figures in rows:
        day = counts[_day(at, zone)]
        for n, value in enumerate(figures):
            day[n] += int(value or 0)
    return {day: (counts[day], []) for day in days}


def bot_figures(days: list[Counts]) -> dict[str, Any]:
    """The bot's trend figures of these days together."""
    [sessions, open_, contained, durable, parsed, fallbacks], _ = _sum(days)
    finished = sessions - open_
    return {
        "sessions": int(sessions),
        "containment": ratio(contained, finished),
        "durable_containment": ratio(durable, finished),
        "fallback_rate": ratio(fallbacks, parsed),
    }
