"""What casework makes of a request once its body is read, and what every change
writes down.

Times put in the service time zone (input without an offset is local time; everything
is stored in UTC) and a callback's window checked against the clock; the agent a task
may go to; the status filters of the lists; the `Event` and the history entry each
change leaves. The bodies themselves are declared in `bodies`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.casework.errors import CaseworkError
from store.models import Agent, AgentRole, Event, TaskStatus

SERVICE_ZONE = ZoneInfo("Asia/Shanghai")
ACTIVE = (TaskStatus.OPEN, TaskStatus.IN_PROGRESS)
# Status filters of the lists: one status, "active" (open or in progress) or "all".
STATUS_FILTERS = ("active", "all", *(s.value for s in TaskStatus))


def in_zone(at: datetime, tz: ZoneInfo = SERVICE_ZONE) -> datetime:
    """A time as read from a body, in UTC; without an offset it is local time in `tz`."""
    return (at if at.tzinfo else at.replace(tzinfo=tz)).astimezone(UTC)


def _window(
    start: datetime, end: datetime, now: datetime, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    window_start, window_end = in_zone(start, tz), in_zone(end, tz)
    if window_end <= window_start:
        raise CaseworkError("bad_window", "window_end must be after window_start.")
    if window_end <= now:
        raise CaseworkError("window_in_past", "The callback window has already passed.")
    return window_start, window_end


def _status_filter(value: str | None, column) -> ColumnElement[bool] | None:
    if value in (None, "", "all"):
        return None
    if value == "active":
        return column.in_(ACTIVE)
    if value not in STATUS_FILTERS:
        raise CaseworkError("bad_status", f"status must be one of {', '.join(STATUS_FILTERS)}.")
    return column == TaskStatus(value)


async def _assignee(session: AsyncSession, agent_id: int | None, name: str) -> Agent | None:
    """The agent a task goes to (None: the team's pool): an active colleague who works
    cases (not a trainer)."""
    if agent_id is None:
        return None
    agent = await session.get(Agent, agent_id)
    if agent is None or not agent.is_active or agent.role == AgentRole.TRAINER:
        raise CaseworkError("unknown_agent", f"{name}: no such active agent.")
    return agent


async def assignable_agents(session: AsyncSession) -> list[Agent]:
    """Active colleagues a task can go to (everyone but trainers)."""
    return list(
        await session.scalars(
            select(Agent)
            .where(Agent.is_active.is_(True), Agent.role != AgentRole.TRAINER)
            .order_by(Agent.team, Agent.display_name)
        )
    )


def _event(
    session: AsyncSession,
    kind: str,
    agent: Agent,
    *,
    customer_id: int | None,
    conversation_id: int | None = None,
    **data: Any,
) -> None:
    session.add(
        Event(
            kind=kind,
            agent_id=agent.id,
            customer_id=customer_id,
            conversation_id=conversation_id,
            data=data,
        )
    )


def _entry(agent: Agent, now: datetime, **details: Any) -> dict[str, Any]:
    """One line of a row's history: when, who, and what changed."""
    return {
        "at": now.isoformat(),
        "by": agent.username,
        "by_name": agent.display_name,
        "agent_id": agent.id,
        **details,
    }
