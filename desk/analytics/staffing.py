"""Staffing: the agents each half hour of a day needs to meet a service level target,
by Erlang C, from the arrivals of the last four same weekdays and the handle time
measured over them; beside the agents actually online then (see docs/metrics.md).

Chat agents answer several conversations at once: the traffic an agent can carry is
their measured concurrency (1 when nothing was measured), so the traffic offered is
divided by it before Erlang C, which counts one conversation per server."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.agents import agent_metrics, online_intervals
from desk.analytics.episodes import HANDOFF
from desk.analytics.queue import QueueQuery, check_reader
from desk.clock import aware
from desk.errors import DeskError
from desk.inputs import Body
from store.models import Agent, Event

SLOT = timedelta(minutes=30)
SLOTS = 48
WEEKS = 4
MAX_AGENTS = 500
# The seed's service level, and the classic default.
PRESETS = {"80/20": (0.80, 20.0), "seed": (0.96, 20.0)}


class StaffingQuery(Body):
    """The day to staff (in `tz`), and the target: `level` of customers answered
    within `seconds` (80 % in 20 s unless said otherwise), or a `preset`."""

    day: date
    tz: Annotated[str, Field(min_length=1, max_length=64)] = "Asia/Shanghai"
    level: Annotated[float, Field(gt=0, lt=1)] = 0.80
    seconds: Annotated[float, Field(gt=0, le=3600)] = 20.0
    preset: Literal["80/20", "seed"] | None = None
    refusals = {
        "day": ("bad_range", "day is a day, YYYY-MM-DD."),
        "preset": ("bad_preset", "preset is 80/20 or seed."),
    }

    def target(self) -> tuple[float, float]:
        return PRESETS[self.preset] if self.preset else (self.level, self.seconds)


def erlang_c_wait(agents: int, traffic: float) -> float:
    """The chance that an arrival waits, with `agents` servers and `traffic` erlangs
    offered (1 when the servers cannot keep up)."""
    if agents <= traffic:
        return 1.0
    # Summed as a ratio to the last term, so large numbers of agents do not overflow.
    term, total = 1.0, 1.0
    for k in range(agents - 1, -1, -1):
        term *= (k + 1) / traffic
        total += term
    last = agents / (agents - traffic)
    return last / (total - 1.0 + last)


def service_level(agents: int, traffic: float, handle_seconds: float, target: float) -> float:
    """The share answered within `target` seconds (Erlang C)."""
    if traffic <= 0:
        return 1.0
    waits = erlang_c_wait(agents, traffic)
    return 1.0 - waits * math.exp(-(agents - traffic) * target / handle_seconds)


def agents_needed(traffic: float, handle_seconds: float, level: float, target: float) -> int:
    """The fewest agents that answer `level` of arrivals within `target` seconds."""
    if traffic <= 0:
        return 0
    agents = max(1, math.floor(traffic) + 1)
    while service_level(agents, traffic, handle_seconds, target) < level:
        agents += 1
        if agents > MAX_AGENTS:
            raise DeskError("too_much_traffic", "More agents than this desk can plan.", 400)
    return agents


def _slot(at: datetime, zone: ZoneInfo) -> int:
    local = at.astimezone(zone)
    return local.hour * 2 + local.minute // 30


async def _arrivals(session: AsyncSession, day: date, zone: ZoneInfo) -> list[float]:
    """Handoffs per half hour, averaged over the four same weekdays before `day`."""
    weeks = [day - timedelta(weeks=n) for n in range(1, WEEKS + 1)]
    counts = [0.0] * SLOTS
    for past in weeks:
        begin = datetime.combine(past, time(), zone).astimezone(UTC)
        for at in await session.scalars(
            select(Event.at).where(
                Event.kind == HANDOFF, Event.at >= begin, Event.at < begin + timedelta(days=1)
            )
        ):
            counts[_slot(aware(at), zone)] += 1
    return [count / WEEKS for count in counts]


async def _online(session: AsyncSession, day: date, zone: ZoneInfo) -> list[float]:
    """Agents online on `day`, per half hour: seconds online in it ÷ its length."""
    begin = datetime.combine(day, time(), zone).astimezone(UTC)
    seconds = [0.0] * SLOTS
    for start, stop in await online_intervals(session, begin, begin + timedelta(days=1)):
        _spread(seconds, start, stop, begin)
    return [round(s / SLOT.total_seconds(), 2) for s in seconds]


def _spread(seconds: list[float], start: datetime, end: datetime, begin: datetime) -> None:
    """Adds [start, end) to the half hours it covers."""
    cursor = start
    while cursor < end:
        index = int((cursor - begin) / SLOT)
        slot_end = min(begin + SLOT * (index + 1), end)
        if 0 <= index < SLOTS:
            seconds[index] += (slot_end - cursor).total_seconds()
        cursor = slot_end


async def staffing(
    sessions: async_sessionmaker[AsyncSession], reader: Agent, query: StaffingQuery
) -> dict[str, Any]:
    check_reader(reader)
    level, seconds = query.target()
    zone = QueueQuery(start=query.day, end=query.day, tz=query.tz).zone()
    weeks = [query.day - timedelta(weeks=n) for n in range(1, WEEKS + 1)]
    measured = await agent_metrics(
        sessions, reader, QueueQuery(start=min(weeks), end=max(weeks), tz=query.tz)
    )
    handle = _measured(measured["teams"], "aht") or 300.0
    concurrency = _measured(measured["teams"], "concurrency") or 1.0
    async with sessions() as session:
        arrivals = await _arrivals(session, query.day, zone)
        online = await _online(session, query.day, zone)
    slots = []
    for index, arriving in enumerate(arrivals):
        traffic = arriving * handle / SLOT.total_seconds() / concurrency
        starts = (datetime.combine(query.day, time(), zone) + SLOT * index).strftime("%H:%M")
        slots.append(
            {
                "slot": starts,
                "arrivals": arriving,
                "traffic_erlangs": round(traffic, 3),
                "agents_needed": agents_needed(traffic, handle, level, seconds),
                "agents_online": online[index],
            }
        )
    return {
        "day": query.day.isoformat(),
        "weeks": [d.isoformat() for d in weeks],
        "level": level,
        "seconds": seconds,
        "handle_seconds": round(handle, 3),
        "concurrency": round(concurrency, 3),
        "slots": slots,
    }


def _measured(teams: list[dict[str, Any]], what: str) -> float | None:
    """A figure over all teams, weighted by how much each handled."""
    if what == "aht":
        pairs = [(t["aht"]["mean"], t["handled"]) for t in teams if t["aht"]["mean"]]
    else:
        pairs = [(t["concurrency"], t["handling_seconds"]) for t in teams if t["concurrency"]]
    weight = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / weight if weight else None
