"""Callbacks: promises to call a customer back within a time window.

Scheduled from a conversation or a complaint, listed by scope, worked attempt by
attempt (reached, no answer, rescheduled), and reminded shortly before the window
opens (the housekeeping loop pushes the reminder)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.access import supervises
from desk.casework.access import (
    _callback_team,
    _may_work_callback,
    _may_work_complaint,
    _may_work_conversation,
    _with_team,
    viewer_for,
)
from desk.casework.bodies import CallAttempt, NewCallback
from desk.casework.errors import CaseworkError, _forbidden, _not_found
from desk.casework.inputs import ACTIVE, SERVICE_ZONE, _assignee, _entry, _event, _window
from desk.casework.views import LIST_LIMIT, callback_view, callback_views
from desk.clock import iso
from store.models import Agent, Callback, Complaint, Conversation, Customer, TaskStatus

CALLBACK_SCOPES = ("mine", "due_today", "overdue", "open", "all")
# A callback reminder goes out this long before its window opens.
REMIND_AHEAD = timedelta(minutes=5)


def _local_day(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Today in the service time zone, as a UTC range."""
    start = datetime.combine(now.astimezone(tz).date(), time(0), tz)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


async def list_callbacks(
    session: AsyncSession, agent: Agent, scope: str, now: datetime, tz: ZoneInfo = SERVICE_ZONE
) -> list[dict[str, Any]]:
    """Callbacks by scope (mine, due_today, overdue, open, all), soonest window first.

    An agent sees the callbacks assigned to them and their team's unassigned ones."""
    if scope not in CALLBACK_SCOPES:
        raise CaseworkError("bad_scope", f"scope must be one of {', '.join(CALLBACK_SCOPES)}.")
    viewer = await viewer_for(session, agent)
    team = _callback_team()
    query = _with_team(select(Callback, team))
    if not supervises(agent):
        query = query.where(
            or_(
                Callback.assigned_agent_id == agent.id,
                and_(Callback.assigned_agent_id.is_(None), team == agent.team),
            )
        )
    if scope != "all":
        query = query.where(Callback.status.in_(ACTIVE))
    if scope == "mine":
        query = query.where(Callback.assigned_agent_id == agent.id)
    elif scope == "due_today":
        start, end = _local_day(now, tz)
        query = query.where(Callback.window_start >= start, Callback.window_start < end)
    elif scope == "overdue":
        query = query.where(Callback.window_end < now)
    rows = (
        await session.execute(query.order_by(Callback.window_start, Callback.id).limit(LIST_LIMIT))
    ).all()
    return await callback_views(session, [tuple(row) for row in rows], viewer, now, tz)


async def schedule_callback(
    session: AsyncSession,
    agent: Agent,
    new: NewCallback,
    *,
    now: datetime,
    tz: ZoneInfo = SERVICE_ZONE,
) -> dict[str, Any]:
    """A callback from a conversation or a complaint. The number defaults to the
    customer's mobile on file; it goes to the scheduling agent unless another agent
    (or null: the team's pool) is named."""
    viewer = await viewer_for(session, agent)
    customer_ids: set[int | None] = set()
    if new.conversation_id is not None:
        conversation = await session.get(Conversation, new.conversation_id)
        if conversation is None:
            raise _not_found("conversation")
        if not _may_work_conversation(agent, conversation):
            raise _forbidden("This conversation is not yours.")
        customer_ids.add(conversation.customer_id)
    if new.complaint_id is not None:
        complaint = await session.get(Complaint, new.complaint_id)
        if complaint is None:
            raise _not_found("complaint")
        if not _may_work_complaint(agent, complaint):
            raise _forbidden("This complaint is not yours.")
        customer_ids.add(complaint.customer_id)
    if len(customer_ids) > 1:
        raise CaseworkError(
            "mismatch", "The conversation and the complaint are not one customer's."
        )
    customer_id = next(iter(customer_ids), None)
    start, end = _window(new.window_start, new.window_end, now, tz)
    number = new.phone
    if number is None:
        customer = await session.get(Customer, customer_id) if customer_id else None
        if customer is None:
            raise CaseworkError("phone_required", "The customer is not verified: give a phone.")
        number = customer.mobile
    assignee = (
        await _assignee(session, new.assigned_agent_id, "assigned_agent_id")
        if "assigned_agent_id" in new.model_fields_set
        else agent
    )
    callback = Callback(
        customer_id=customer_id,
        conversation_id=new.conversation_id,
        complaint_id=new.complaint_id,
        phone=number,
        window_start=start,
        window_end=end,
        reason=new.reason,
        status=TaskStatus.OPEN,
        assigned_agent_id=assignee.id if assignee else None,
        attempts=[],
        created_by_agent_id=agent.id,
    )
    session.add(callback)
    await session.flush()
    _event(
        session,
        "callback_scheduled",
        agent,
        customer_id=customer_id,
        conversation_id=new.conversation_id,
        callback_id=callback.id,
        complaint_id=new.complaint_id,
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        assigned_agent_id=callback.assigned_agent_id,
    )
    return await callback_view(session, callback, viewer, now, tz)


async def log_attempt(
    session: AsyncSession,
    agent: Agent,
    callback_id: int,
    attempt: CallAttempt,
    *,
    now: datetime,
    tz: ZoneInfo = SERVICE_ZONE,
) -> dict[str, Any]:
    """One call attempt: reached closes the callback, no_answer keeps it open (the
    agent tries again; how often shows in the history), rescheduled moves the window
    (and re-arms the reminder). An unassigned callback goes to whoever calls."""
    viewer = await viewer_for(session, agent)
    row = (
        await session.execute(
            _with_team(select(Callback, _callback_team())).where(Callback.id == callback_id)
        )
    ).first()
    if row is None:
        raise _not_found("callback")
    callback, team = row
    if not _may_work_callback(agent, callback, team):
        raise _forbidden("This callback is someone else's.")
    if callback.status not in ACTIVE:
        raise CaseworkError("closed", f"The callback is already {callback.status.value}.", 409)
    entry = _entry(agent, now, outcome=attempt.outcome, note=attempt.note)
    if (window := attempt.new_window) is not None:
        start, end = _window(*window, now, tz)
        entry |= {
            "previous_window": [iso(callback.window_start), iso(callback.window_end)],
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
        }
        callback.window_start, callback.window_end = start, end
        callback.reminded_at = None
    elif attempt.outcome == "reached":
        callback.status = TaskStatus.DONE
    if callback.assigned_agent_id is None:
        callback.assigned_agent_id = agent.id
    # A new list, so that SQLAlchemy sees the JSON column change.
    callback.attempts = [*(callback.attempts or []), entry]
    _event(
        session,
        "callback_attempt",
        agent,
        customer_id=callback.customer_id,
        conversation_id=callback.conversation_id,
        callback_id=callback.id,
        outcome=attempt.outcome,
        attempt=len(callback.attempts),
    )
    await session.flush()
    return (await callback_views(session, [(callback, team)], viewer, now, tz))[0]


async def due_callbacks(session: AsyncSession, now: datetime) -> list[Callback]:
    """Open callbacks whose window opens within REMIND_AHEAD and that have not been
    reminded yet; marks them reminded (the caller commits and pushes `reminder`)."""
    rows = (
        await session.scalars(
            select(Callback)
            .where(
                Callback.status.in_(ACTIVE),
                Callback.reminded_at.is_(None),
                Callback.window_start <= now + REMIND_AHEAD,
            )
            .order_by(Callback.window_start, Callback.id)
            # Several console processes may run the scheduler: each callback once.
            .with_for_update(skip_locked=True)
        )
    ).all()
    for callback in rows:
        callback.reminded_at = now
    await session.flush()
    return list(rows)
