"""The complaints board: complaints by due date (overdue first), their owner and status.

Agents on the complaints team see and work every complaint, other agents the ones
they own; each change is kept in the complaint's history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.casework.access import _complaint_visible, _may_work_complaint, viewer_for
from desk.casework.bodies import ComplaintChanges
from desk.casework.errors import CaseworkError, _forbidden, _not_found
from desk.casework.inputs import ACTIVE, _assignee, _entry, _event, _status_filter
from desk.casework.views import LIST_LIMIT, _complaint_view, _names
from store.models import Agent, Complaint


async def list_complaints(
    session: AsyncSession, agent: Agent, status: str | None, now: datetime
) -> list[dict[str, Any]]:
    """The complaints board: overdue first, then by due date. Agents on the complaints
    team see every complaint, other agents the ones they own."""
    viewer = await viewer_for(session, agent)
    query = select(Complaint)
    if (visible := _complaint_visible(agent)) is not None:
        query = query.where(visible)
    if (condition := _status_filter(status, Complaint.status)) is not None:
        query = query.where(condition)
    overdue_first = case((and_(Complaint.status.in_(ACTIVE), Complaint.due_at < now), 0), else_=1)
    rows = (
        await session.scalars(
            query.order_by(overdue_first, Complaint.due_at, Complaint.id).limit(LIST_LIMIT)
        )
    ).all()
    names = await _names(session, list(rows))
    return [_complaint_view(c, names, viewer, now) for c in rows]


async def update_complaint(
    session: AsyncSession,
    agent: Agent,
    complaint_id: int,
    changes: ComplaintChanges,
    *,
    now: datetime,
) -> dict[str, Any]:
    """Change a complaint's status or owner (null: unowned), with a note for the history.
    Only the fields sent are changed."""
    viewer = await viewer_for(session, agent)
    complaint = await session.get(Complaint, complaint_id)
    if complaint is None:
        raise _not_found("complaint")
    if not _may_work_complaint(agent, complaint):
        raise _forbidden("This complaint is not yours.")
    changed: dict[str, Any] = {}
    if changes.status is not None and changes.status != complaint.status:
        complaint.status = changed["status"] = changes.status
    if "owner_agent_id" in changes.model_fields_set:
        owner = await _assignee(session, changes.owner_agent_id, "owner_agent_id")
        if (new_id := owner.id if owner else None) != complaint.owner_agent_id:
            complaint.owner_agent_id = changed["owner_agent_id"] = new_id
    if not changed and changes.note is None:
        raise CaseworkError("nothing_to_change", "Give a status, owner_agent_id or note.")
    complaint.history = [
        *(complaint.history or []),
        _entry(
            agent,
            now,
            status=complaint.status.value,
            owner_agent_id=complaint.owner_agent_id,
            note=changes.note,
        ),
    ]
    _event(
        session,
        "complaint_updated",
        agent,
        customer_id=complaint.customer_id,
        conversation_id=complaint.conversation_id,
        complaint_id=complaint.id,
        changes=sorted(changed),
        status=complaint.status.value,
        owner_agent_id=complaint.owner_agent_id,
    )
    await session.flush()
    return _complaint_view(complaint, await _names(session, [complaint]), viewer, now)
