"""Agent figures: time signed in (from the status timeline), handling time and
concurrency (from who held each conversation when), occupancy, conversations
handled, average handle time (with the wrap-up after each resolve), the wrap-ups
and each agent's own service level; per agent and per
team (see docs/metrics.md, where each is defined next to this query).

A conversation is held by an agent from its `assigned` event to the next
`resolved`, `transferred`, `requeued`, `abandoned` or `assigned` of that
conversation. The figures read the rollups' holds, status timeline, resolves and
episodes (`desk.analytics.event_facts`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.filters import checked
from desk.analytics.queue import DEFAULT_TARGETS, QueueQuery, Targets, check_reader, percentile
from desk.analytics.ranges import ANSWERING, epoch_seconds, ratio
from store.models import Agent, AgentRole
from store.rollups import EpisodeFact, HoldFact, PresenceFact, ResolveFact

SIGNED_IN = ("online", "away")

# Seconds since the epoch, as the store computes them: a season's holds read as
# numbers, not parsed into datetimes one by one.
Interval = tuple[float, float]


@dataclass
class _Agent:
    agent: Agent
    presence: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    signed_in: list[Interval] = field(default_factory=list)
    online: list[Interval] = field(default_factory=list)
    holds: list[Interval] = field(default_factory=list)
    handled: int = 0
    # Handle time plus wrap-up (AHT), and the wrap-ups alone, per resolve.
    handle_times: list[float] = field(default_factory=list)
    wrap_ups: list[float] = field(default_factory=list)
    answered: int = 0
    answered_within: int = 0


def _clip(start: float, end: float, low: float, high: float) -> Interval | None:
    start, end = max(start, low), min(end, high)
    return (start, end) if end > start else None


def _union(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _length(intervals: list[Interval]) -> float:
    return sum(end - start for start, end in intervals)


def _overlap(first: list[Interval], second: list[Interval]) -> float:
    """Seconds inside both: one sweep over the two merged, sorted lists."""
    a, b = _union(first), _union(second)
    total, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        clipped = _clip(a[i][0], a[i][1], b[j][0], b[j][1])
        if clipped:
            total += clipped[1] - clipped[0]
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def _overlapping(table: Any, since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(table.start < until, or_(table.ended.is_(None), table.ended > since))


async def _timeline(
    session: AsyncSession, agents: dict[int, _Agent], since: datetime, until: datetime
) -> None:
    """Time per status in the range, and the signed-in intervals, per agent: the
    rollups' status timeline, clipped to the range."""
    low, high = since.timestamp(), until.timestamp()
    for agent_id, status, start, ended in await session.execute(
        select(
            PresenceFact.agent_id,
            PresenceFact.status,
            epoch_seconds(session, PresenceFact.start),
            epoch_seconds(session, PresenceFact.ended),
        )
        .where(PresenceFact.agent_id.in_(agents), _overlapping(PresenceFact, since, until))
        .order_by(PresenceFact.agent_id, PresenceFact.start, PresenceFact.id)
    ):
        clipped = _clip(float(start), float(ended) if ended is not None else high, low, high)
        if clipped is None:
            continue
        row = agents[agent_id]
        row.presence[status] += clipped[1] - clipped[0]
        if status in SIGNED_IN:
            row.signed_in.append(clipped)
            if status == "online":
                row.online.append(clipped)


async def _holds(
    session: AsyncSession, agents: dict[int, _Agent], since: datetime, until: datetime
) -> None:
    """Who held each conversation when, clipped to the range; the conversations each
    agent resolved in it, how long from the contact's first reply to the end of the
    wrap-up (one not finished yet counts its handle time alone), and the wrap-ups."""
    low, high = since.timestamp(), until.timestamp()
    for agent_id, start, ended in await session.execute(
        select(
            HoldFact.agent_id,
            epoch_seconds(session, HoldFact.start),
            epoch_seconds(session, HoldFact.ended),
        ).where(HoldFact.agent_id.in_(agents), _overlapping(HoldFact, since, until))
    ):
        clipped = _clip(float(start), float(ended) if ended is not None else high, low, high)
        if clipped:
            agents[agent_id].holds.append(clipped)
    for agent_id, seconds, wrap_up in await session.execute(
        select(ResolveFact.agent_id, ResolveFact.handle_seconds, ResolveFact.wrap_up_seconds).where(
            ResolveFact.by == "agent",
            ResolveFact.agent_id.in_(agents),
            ResolveFact.at >= since,
            ResolveFact.at < until,
        )
    ):
        agents[agent_id].handled += 1
        if seconds is not None:
            agents[agent_id].handle_times.append(seconds + (wrap_up or 0))
        if wrap_up is not None:
            agents[agent_id].wrap_ups.append(wrap_up)


async def _answers(
    session: AsyncSession,
    agents: dict[int, _Agent],
    since: datetime,
    until: datetime,
    targets: Targets,
) -> None:
    """Each agent's first replies in the range, and how many within the target."""
    for agent_id, answered, within in await session.execute(
        select(
            EpisodeFact.agent_id,
            func.count(),
            func.count().filter(EpisodeFact.wait <= targets.answer_seconds),
        )
        .where(
            EpisodeFact.agent_id.in_(agents),
            EpisodeFact.answered_at >= since,
            EpisodeFact.answered_at < until,
        )
        .group_by(EpisodeFact.agent_id)
    ):
        agents[agent_id].answered += answered
        agents[agent_id].answered_within += within


def _spread(times: list[float]) -> dict[str, float | None]:
    return {
        "mean": round(sum(times) / len(times), 3) if times else None,
        "p50": percentile(times, 0.5),
        "p90": percentile(times, 0.9),
    }


def _figures(rows: list[_Agent]) -> dict[str, Any]:
    signed_in = sum(_length(row.signed_in) for row in rows)
    holds = [interval for row in rows for interval in row.holds]
    handling = sum(_length(_union(row.holds)) for row in rows)
    busy = sum(_overlap(row.holds, row.signed_in) for row in rows)
    times = [seconds for row in rows for seconds in row.handle_times]
    wrap_ups = [seconds for row in rows for seconds in row.wrap_ups]
    answered = sum(row.answered for row in rows)
    return {
        "online_seconds": round(sum(row.presence["online"] for row in rows), 3),
        "away_seconds": round(sum(row.presence["away"] for row in rows), 3),
        "signed_in_seconds": round(signed_in, 3),
        "handling_seconds": round(handling, 3),
        "occupancy": ratio(busy, signed_in),
        "concurrency": ratio(_length(holds), handling),
        "handled": sum(row.handled for row in rows),
        "aht": _spread(times),
        "wrap_up": _spread(wrap_ups),
        "answered": answered,
        "service_level": ratio(sum(row.answered_within for row in rows), answered),
    }


async def online_intervals(
    session: AsyncSession, since: datetime, until: datetime
) -> list[tuple[datetime, datetime]]:
    """When each agent who takes conversations was online between `since` and `until`."""
    agents = {
        a.id: _Agent(a)
        for a in await session.scalars(select(Agent).where(Agent.role.in_(ANSWERING)))
    }
    if agents:
        await _timeline(session, agents, since, until)
    return [
        (datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
        for row in agents.values()
        for start, end in row.online
    ]


async def agent_metrics(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: QueueQuery,
    targets: Targets = DEFAULT_TARGETS,
) -> dict[str, Any]:
    """Per agent (those who take conversations, of `query.team` if given) and per team;
    for an agent reading, their own row alone."""
    # An agent sees their own figures, and nobody else's.
    own = reader.role == AgentRole.AGENT
    if not own:
        check_reader(reader)
    start, end = query.bounds()
    since, until = start.astimezone(UTC), end.astimezone(UTC)
    filters = await checked(sessions, query, "agents")
    async with sessions() as session:
        chosen = select(Agent).where(Agent.role.in_(ANSWERING))
        if own:
            chosen = chosen.where(Agent.id == reader.id)
        else:
            chosen = chosen.where(*filters.on(Agent.id, team=Agent.team, agent=Agent.id))
        agents = {a.id: _Agent(a) for a in await session.scalars(chosen.order_by(Agent.id))}
        if agents:
            await _timeline(session, agents, since, until)
            await _holds(session, agents, since, until)
            await _answers(session, agents, since, until, targets)
    teams: dict[str, list[_Agent]] = defaultdict(list)
    for row in agents.values() if not own else []:
        teams[row.agent.team].append(row)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        **query.echo("team"),
        "target_seconds": targets.answer_seconds,
        "agents": [
            {
                "id": row.agent.id,
                "username": row.agent.username,
                "display_name": row.agent.display_name,
                "team": row.agent.team,
                **_figures([row]),
            }
            for row in agents.values()
        ],
        "teams": [{"team": team, **_figures(rows)} for team, rows in sorted(teams.items())],
    }
