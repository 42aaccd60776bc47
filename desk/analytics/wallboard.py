"""The supervisors' live wallboard: each team's queue and its longest current wait,
the agents by presence with their load, today's service level against its goal, and
whether it is projected to fall below the goal within the next minutes (defined in
docs/metrics.md, "Wallboard"). One snapshot at a time, at an instant the caller gives,
so that the same events always give the same figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.agents import ANSWERING
from desk.analytics.queue import QueueQuery, Targets, check_reader, queue_metrics
from desk.clock import aware
from desk.journal import PRESENCE_TTL
from desk.routing import workloads
from store.models import Agent, AgentRole, Conversation, ConversationState, Team

ZONE = "Asia/Shanghai"
# The share of customers to answer within the target time (80/20 by default).
GOAL = 0.8
HORIZON = timedelta(minutes=15)


@dataclass(frozen=True)
class Board:
    """What the wallboard measures against."""

    targets: Targets = Targets()
    goal: float = GOAL
    horizon: timedelta = HORIZON
    presence_ttl: timedelta = PRESENCE_TTL
    zone: str = ZONE


def presence_at(agent: Agent, at: datetime, ttl: timedelta) -> str:
    """Online or away only while some console heart-beats the agent (desk.routing):
    a presence not heard of within `ttl` is offline."""
    heard = agent.presence_at is not None and aware(agent.presence_at) > at - ttl
    return agent.presence if heard and agent.presence in ("online", "away") else "offline"


async def _queues(session: AsyncSession, at: datetime) -> tuple[list[dict], list[float]]:
    """Each team with its queue length and longest wait, and every current wait."""
    teams = (await session.scalars(select(Team).order_by(Team.id))).all()
    queued = (
        await session.execute(
            select(Conversation.team, Conversation.queued_at).where(
                Conversation.state == ConversationState.QUEUED
            )
        )
    ).all()
    waits: dict[str, list[float]] = {team.code: [] for team in teams}
    for team, queued_at in queued:
        wait = (at - aware(queued_at)).total_seconds() if queued_at is not None else 0.0
        waits.setdefault(team, []).append(max(0.0, wait))
    rows = [
        {
            "code": team.code,
            "name_zh": team.name_zh,
            "name_en": team.name_en,
            "queued": len(waits[team.code]),
            "longest_wait_seconds": max(waits[team.code], default=None),
        }
        for team in teams
    ]
    return rows, [wait for team_waits in waits.values() for wait in team_waits]


async def _agents(session: AsyncSession, at: datetime, ttl: timedelta) -> list[dict]:
    agents = (
        await session.scalars(
            select(Agent)
            .where(Agent.is_active.is_(True), Agent.role.in_(ANSWERING))
            .order_by(Agent.team, Agent.id)
        )
    ).all()
    load = await workloads(session)
    return [
        {
            "id": agent.id,
            "display_name": agent.display_name,
            "team": agent.team,
            "role": agent.role.value,
            "presence": presence_at(agent, at, ttl),
            "active_conversations": load.get(agent.id, 0),
            "capacity": agent.capacity,
        }
        for agent in agents
    ]


def projection(within: int, counted: int, waits: list[float], board: Board) -> dict[str, Any]:
    """Those waiting now whose wait passes the target within the horizon, unless
    answered, are counted as misses: projected = within ÷ (counted + those misses)."""
    limit = board.targets.answer_seconds - board.horizon.total_seconds()
    misses = sum(1 for wait in waits if wait > limit)
    whole = counted + misses
    projected = round(within / whole, 4) if whole else None
    return {
        "horizon_minutes": board.horizon.total_seconds() / 60,
        "misses_soon": misses,
        "service_level": projected,
        "alert": projected is not None and projected < board.goal,
    }


async def wallboard(
    sessions: async_sessionmaker[AsyncSession], reader: Agent, at: datetime, board: Board
) -> dict[str, Any]:
    """The board at `at`: supervisors and admins only."""
    check_reader(reader)
    today = at.astimezone(ZoneInfo(board.zone)).date()
    query = QueueQuery(start=today, end=today, tz=board.zone)
    figures = await queue_metrics(sessions, reader, query, board.targets, at=at)
    async with sessions() as session:
        teams, waits = await _queues(session, at)
        agents = await _agents(session, at, board.presence_ttl)
    within = figures["answered_within_target"]
    counted = figures["answered"] + figures["abandoned"] - figures["short_abandons"]
    presence = {"online": 0, "away": 0, "offline": 0}
    for agent in agents:
        presence[agent["presence"]] += 1
    return {
        "at": at.isoformat(),
        "day": today.isoformat(),
        "teams": teams,
        "agents": agents,
        "presence": presence,
        "service_level": {
            "value": figures["service_level"],
            "goal": board.goal,
            "target_seconds": board.targets.answer_seconds,
            "answered_within_target": within,
            "counted": counted,
        },
        "projection": projection(within, counted, waits, board),
    }


async def supervisors_wallboard(
    sessions: async_sessionmaker[AsyncSession], at: datetime, board: Board
) -> dict[str, Any]:
    """The board as the supervisors' room sees it: only supervisors and admins are in
    it, so the figures are read as a supervisor (never stored, never a real agent)."""
    return await wallboard(sessions, Agent(role=AgentRole.SUPERVISOR), at, board)
