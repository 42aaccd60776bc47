"""Trends: one figure day by day over a range, beside the same figure over the period
just before it (as long), with the figure over each whole period (see
docs/metrics.md). Each day is the figure's own query over that day, or, for the
queue's and the bot's figures, every day at once in one grouped query of the same
definition (`desk.analytics.trend_days`); a test checks that the two agree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.agents import agent_metrics
from desk.analytics.bot import bot_metrics
from desk.analytics.claims import claims_metrics
from desk.analytics.filters import one_reading
from desk.analytics.queue import DEFAULT_TARGETS, QueueQuery, Targets, check_reader, queue_metrics
from desk.analytics.ranges import whole_hours
from desk.analytics.resolution import resolution_metrics
from desk.analytics.rollups import fresh, refresh
from desk.analytics.trend_days import (
    Combine,
    Days,
    bot_days,
    bot_figures,
    queue_days,
    queue_figures,
)
from desk.errors import DeskError
from store.models import Agent

Figures = Callable[[async_sessionmaker[AsyncSession], Agent, QueueQuery, Targets], Awaitable[dict]]


async def _queue(sessions, reader, query, targets) -> dict[str, Any]:
    return await queue_metrics(sessions, reader, query, targets)


async def _bot(sessions, reader, query, targets) -> dict[str, Any]:
    return await bot_metrics(sessions, reader, query)


async def _agents(sessions, reader, query, targets) -> dict[str, Any]:
    figures = await agent_metrics(sessions, reader, query, targets)
    teams = figures["teams"]
    handled = sum(t["handled"] for t in teams)
    signed_in = sum(t["signed_in_seconds"] for t in teams)
    handling = sum((t["occupancy"] or 0) * t["signed_in_seconds"] for t in teams)
    return {
        "handled": handled,
        "occupancy": round(handling / signed_in, 4) if signed_in else None,
    }


async def _resolution(sessions, reader, query, targets) -> dict[str, Any]:
    return await resolution_metrics(sessions, reader, query)


async def _claims(sessions, reader, query, targets) -> dict[str, Any]:
    return await claims_metrics(sessions, reader, query)


# Each trend's figure: the query that computes it, and where it is in the answer.
METRICS: dict[str, tuple[Figures, tuple[str, ...]]] = {
    "handoffs": (_queue, ("handoffs",)),
    "service_level": (_queue, ("service_level",)),
    "abandon_rate": (_queue, ("abandon_rate",)),
    "asa_mean": (_queue, ("asa", "mean")),
    "asa_p50": (_queue, ("asa", "p50")),
    "asa_p90": (_queue, ("asa", "p90")),
    "bot_sessions": (_bot, ("sessions",)),
    "containment": (_bot, ("containment",)),
    "durable_containment": (_bot, ("durable_containment",)),
    "fallback_rate": (_bot, ("fallback_rate",)),
    "handled": (_agents, ("handled",)),
    "occupancy": (_agents, ("occupancy",)),
    "fcr": (_resolution, ("fcr",)),
    "claims_self_service": (_claims, ("self_service_share",)),
    "claims_first_time": (_claims, ("first_time_success",)),
    "claims_cycle_p50": (_claims, ("cycle_seconds", "p50")),
}


# The figures whose days are read in one grouped query (desk.analytics.trend_days),
# and where the value is in each day's answer.
QUEUE = (queue_days, queue_figures)
BOT = (bot_days, bot_figures)
GROUPED: dict[str, tuple[tuple[Days, Combine], tuple[str, ...]]] = {
    "handoffs": (QUEUE, ("handoffs",)),
    "service_level": (QUEUE, ("service_level",)),
    "abandon_rate": (QUEUE, ("abandon_rate",)),
    "asa_mean": (QUEUE, ("asa", "mean")),
    "asa_p50": (QUEUE, ("asa", "p50")),
    "asa_p90": (QUEUE, ("asa", "p90")),
    "bot_sessions": (BOT, ("sessions",)),
    "containment": (BOT, ("containment",)),
    "durable_containment": (BOT, ("durable_containment",)),
    "fallback_rate": (BOT, ("fallback_rate",)),
}


# The family of figures each query is: the filters a trend of it takes.
FAMILY_OF: dict[Figures, str] = {
    _queue: "queue",
    _bot: "bot",
    _agents: "agents",
    _resolution: "resolution",
    _claims: "claims",
}


def family(metric: str) -> str:
    """The family of figures a trend's metric is (`desk.analytics.filters.FAMILIES`)."""
    return FAMILY_OF[METRICS[metric][0]]


class TrendQuery(QueueQuery):
    metric: Annotated[str, Field(min_length=1, max_length=32)]
    refusals = {
        **QueueQuery.refusals,
        "metric": ("unknown_metric", "metric is one of: " + ", ".join(METRICS) + "."),
    }


def check_metric(query: TrendQuery) -> None:
    if query.metric not in METRICS:
        raise DeskError("unknown_metric", "metric is one of: " + ", ".join(METRICS) + ".", 400)


def _pick(figures: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = figures
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


async def figure_value(
    sessions, reader, query: TrendQuery, first: date, last: date, targets: Targets
) -> Any:
    figures, path = METRICS[query.metric]
    # The same filters, each day: a trend's day and that day's figure agree.
    bounded = query.model_copy(update={"start": first, "end": last})
    return _pick(await figures(sessions, reader, bounded, targets), path)


async def trend(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: TrendQuery,
    targets: Targets = DEFAULT_TARGETS,
) -> dict[str, Any]:
    """The figure of each day and of each whole period, all read from the rollups as
    they are at the start (one refresh) with the customers' tags as they are then (one
    reading for every day)."""
    check_metric(query)
    await refresh(sessions)
    with fresh():
        async with one_reading():
            return await _trend(sessions, reader, query, targets)


async def _trend(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: TrendQuery,
    targets: Targets,
) -> dict[str, Any]:
    days = (query.end - query.start).days + 1
    before = query.start - timedelta(days=days)
    every_day = [before + timedelta(days=n) for n in range(2 * days)]
    if query.metric in GROUPED and whole_hours(query.zone(), every_day[0], every_day[-1]):
        (counts, combine), path = GROUPED[query.metric]
        check_reader(reader)
        # (which checks the filters as the figure's own query does)
        by_day = await counts(sessions, query, every_day, targets)
        values = [_pick(combine([by_day[day]]), path) for day in every_day]
        period = _pick(combine([by_day[day] for day in every_day[days:]]), path)
        previous_period = _pick(combine([by_day[day] for day in every_day[:days]]), path)
    else:
        # The whole periods: the figure's own query, which refuses bad filters.
        period = await figure_value(sessions, reader, query, query.start, query.end, targets)
        previous_period = await figure_value(
            sessions, reader, query, before, query.start - timedelta(days=1), targets
        )
        values = [
            await figure_value(sessions, reader, query, day, day, targets) for day in every_day
        ]
    points = [
        {"day": day.isoformat(), "value": value}
        for day, value in zip(every_day[days:], values[days:], strict=True)
    ]
    previous = [
        {"day": day.isoformat(), "value": value}
        for day, value in zip(every_day[:days], values[:days], strict=True)
    ]
    return {
        "metric": query.metric,
        "start": query.start.isoformat(),
        "end": query.end.isoformat(),
        **query.echo("team", "channel"),
        "points": points,
        "previous": previous,
        "period": period,
        "previous_period": previous_period,
    }
