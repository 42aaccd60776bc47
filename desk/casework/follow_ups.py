"""Follow-ups: tasks linked to a conversation, complaint, claim or advance payment.

Each goes to an agent or their team's pool, is due at a time, and keeps a history of
every change of status, assignee or due date."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.access import supervises
from desk.casework.access import (
    _may_work_complaint,
    _may_work_conversation,
    _may_work_follow_up,
    viewer_for,
)
from desk.casework.bodies import FollowUpChanges, NewFollowUp
from desk.casework.errors import CaseworkError, _forbidden, _not_found
from desk.casework.inputs import (
    SERVICE_ZONE,
    _assignee,
    _entry,
    _event,
    _status_filter,
    in_zone,
)
from desk.casework.views import LIST_LIMIT, _follow_up_view, _names
from desk.clock import aware
from store.models import (
    AdvancePayment,
    Agent,
    Claim,
    Complaint,
    Conversation,
    FollowUp,
    Policy,
    TaskStatus,
    Team,
)

FOLLOW_UP_SCOPES = ("mine", "team", "all")


async def list_follow_ups(
    session: AsyncSession,
    agent: Agent,
    scope: str,
    status: str | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Follow-ups by scope (mine: assigned to me; team: my team's; all: everything I may
    see), soonest due first; `status` is one status, active or all."""
    if scope not in FOLLOW_UP_SCOPES:
        raise CaseworkError("bad_scope", f"scope must be one of {', '.join(FOLLOW_UP_SCOPES)}.")
    viewer = await viewer_for(session, agent)
    query = select(FollowUp)
    if scope == "mine":
        query = query.where(FollowUp.assignee_agent_id == agent.id)
    elif scope == "team":
        query = query.where(FollowUp.team == agent.team)
    elif not supervises(agent):
        query = query.where(
            or_(FollowUp.assignee_agent_id == agent.id, FollowUp.team == agent.team)
        )
    if (condition := _status_filter(status, FollowUp.status)) is not None:
        query = query.where(condition)
    rows = (
        await session.scalars(query.order_by(FollowUp.due_at, FollowUp.id).limit(LIST_LIMIT))
    ).all()
    names = await _names(session, list(rows))
    return [_follow_up_view(f, names, viewer, now) for f in rows]


async def _team(session: AsyncSession, code: str) -> str:
    if not await session.scalar(select(Team.id).where(Team.code == code)):
        raise CaseworkError("unknown_team", "team: no such team.")
    return code


async def create_follow_up(
    session: AsyncSession,
    agent: Agent,
    new: NewFollowUp,
    *,
    now: datetime,
    tz: ZoneInfo = SERVICE_ZONE,
) -> dict[str, Any]:
    """A task linked to one conversation, complaint, claim or advance payment. It goes
    to the creating agent unless another (or null: the team's pool) is named; the team
    defaults to the assignee's, else the creator's."""
    viewer = await viewer_for(session, agent)
    follow_up = FollowUp(status=TaskStatus.OPEN)
    if new.conversation_id is not None:
        conversation = await session.get(Conversation, new.conversation_id)
        if conversation is None:
            raise _not_found("conversation")
        if not _may_work_conversation(agent, conversation):
            raise _forbidden("This conversation is not yours.")
        follow_up.kind, follow_up.conversation_id = "conversation", conversation.id
        follow_up.customer_id = conversation.customer_id
    elif new.complaint_id is not None:
        complaint = await session.get(Complaint, new.complaint_id)
        if complaint is None:
            raise _not_found("complaint")
        if not _may_work_complaint(agent, complaint):
            raise _forbidden("This complaint is not yours.")
        follow_up.kind, follow_up.complaint_id = "complaint", complaint.id
        follow_up.customer_id = complaint.customer_id
        follow_up.conversation_id = complaint.conversation_id
    elif new.claim_number is not None:
        found = (
            await session.execute(
                select(Claim.id, Policy.holder_id)
                .join(Policy, Policy.id == Claim.policy_id)
                .where(Claim.number == new.claim_number)
            )
        ).first()
        if found is None:
            raise _not_found("claim")
        if not viewer.sees(found.holder_id):
            raise _forbidden("You have no case with this customer.")
        follow_up.kind = "claim"
        follow_up.claim_id, follow_up.customer_id = found
    else:
        found = (
            await session.execute(
                select(AdvancePayment.id, AdvancePayment.customer_id).where(
                    AdvancePayment.number == new.advance_payment_number
                )
            )
        ).first()
        if found is None:
            raise _not_found("advance payment")
        if not viewer.sees(found.customer_id):
            raise _forbidden("You have no case with this customer.")
        follow_up.kind = "advance_payment"
        follow_up.advance_payment_id, follow_up.customer_id = found
    follow_up.title = new.title
    follow_up.due_at = in_zone(new.due_at, tz)
    if follow_up.due_at <= now:
        raise CaseworkError("due_in_past", "due_at must be in the future.")
    assignee = (
        await _assignee(session, new.assignee_agent_id, "assignee_agent_id")
        if "assignee_agent_id" in new.model_fields_set
        else agent
    )
    follow_up.assignee_agent_id = assignee.id if assignee else None
    follow_up.team = await _team(session, new.team) if new.team else (assignee or agent).team
    follow_up.history = [
        _entry(
            agent, now, status="open", note="created", assignee_agent_id=assignee and assignee.id
        )
    ]
    session.add(follow_up)
    await session.flush()
    _event(
        session,
        "follow_up_created",
        agent,
        customer_id=follow_up.customer_id,
        conversation_id=follow_up.conversation_id,
        follow_up_id=follow_up.id,
        follow_up_kind=follow_up.kind,
        team=follow_up.team,
        assignee_agent_id=follow_up.assignee_agent_id,
    )
    return _follow_up_view(follow_up, await _names(session, [follow_up]), viewer, now)


async def update_follow_up(
    session: AsyncSession,
    agent: Agent,
    follow_up_id: int,
    changes: FollowUpChanges,
    *,
    now: datetime,
    tz: ZoneInfo = SERVICE_ZONE,
) -> dict[str, Any]:
    """Change a follow-up's status, assignee (null: back to the team) or due date, with
    a note; the history keeps every change. Only the fields sent are changed."""
    viewer = await viewer_for(session, agent)
    follow_up = await session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise _not_found("follow-up")
    if not _may_work_follow_up(agent, follow_up):
        raise _forbidden("This follow-up is another team's.")
    changed: dict[str, Any] = {}
    if changes.status is not None and changes.status != follow_up.status:
        follow_up.status = changed["status"] = changes.status
    if "assignee_agent_id" in changes.model_fields_set:
        assignee = await _assignee(session, changes.assignee_agent_id, "assignee_agent_id")
        if (new_id := assignee.id if assignee else None) != follow_up.assignee_agent_id:
            follow_up.assignee_agent_id = changed["assignee_agent_id"] = new_id
    if changes.due_at is not None:
        due = in_zone(changes.due_at, tz)
        if due != aware(follow_up.due_at):
            if due <= now:
                raise CaseworkError("due_in_past", "due_at must be in the future.")
            follow_up.due_at, changed["due_at"] = due, due.isoformat()
    if not changed and changes.note is None:
        raise CaseworkError("nothing_to_change", "Give a status, assignee, due_at or note.")
    follow_up.history = [
        *(follow_up.history or []),
        _entry(agent, now, **{**changed, "status": follow_up.status.value, "note": changes.note}),
    ]
    _event(
        session,
        "follow_up_updated",
        agent,
        customer_id=follow_up.customer_id,
        conversation_id=follow_up.conversation_id,
        follow_up_id=follow_up.id,
        changes=sorted(changed),
        status=follow_up.status.value,
    )
    await session.flush()
    return _follow_up_view(follow_up, await _names(session, [follow_up]), viewer, now)
