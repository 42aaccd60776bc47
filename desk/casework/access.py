"""Who sees what: the acting agent as a `Viewer`, and who may work which item.

Supervisors and admins see and act on everything; trainers see no customer data. An
agent works on what is assigned to them or waiting in their team's pool, and only
those items let them see a customer's personal data and 360."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, func, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from desk.access import supervises
from desk.casework.errors import _forbidden
from store.models import (
    Agent,
    AgentRole,
    Callback,
    Complaint,
    Conversation,
    ConversationState,
    FollowUp,
)

COMPLAINTS_TEAM = "complaints"


@dataclass(frozen=True)
class Viewer:
    """The acting agent and the customers whose personal data they may see."""

    agent: Agent
    customers: frozenset[int] | None  # None: every customer

    def sees(self, customer_id: int | None) -> bool:
        return customer_id is not None and (self.customers is None or customer_id in self.customers)


def _callback_team() -> ColumnElement[str]:
    """The team whose pool a callback is in: complaints for a complaint's callback,
    else its conversation's team (needs the outer join to Conversation)."""
    return case(
        (Callback.complaint_id.is_not(None), COMPLAINTS_TEAM),
        else_=func.coalesce(Conversation.team, "general"),
    )


def _with_team(query):
    return query.select_from(Callback).outerjoin(
        Conversation, Conversation.id == Callback.conversation_id
    )


def _workable_customers(agent: Agent):
    """Customer ids of everything the agent works on or may pick up from their team's pool."""
    me, team = agent.id, agent.team
    complaints = Complaint.owner_agent_id == me
    if team == COMPLAINTS_TEAM:
        complaints = or_(complaints, Complaint.owner_agent_id.is_(None))
    return union(
        select(Conversation.customer_id).where(
            or_(
                Conversation.assigned_agent_id == me,
                and_(Conversation.state == ConversationState.QUEUED, Conversation.team == team),
            )
        ),
        _with_team(select(Callback.customer_id)).where(
            or_(
                Callback.assigned_agent_id == me,
                and_(Callback.assigned_agent_id.is_(None), _callback_team() == team),
            )
        ),
        select(FollowUp.customer_id).where(
            or_(
                FollowUp.assignee_agent_id == me,
                and_(FollowUp.assignee_agent_id.is_(None), FollowUp.team == team),
            )
        ),
        select(Complaint.customer_id).where(complaints),
    )


async def viewer_for(session: AsyncSession, agent: Agent) -> Viewer:
    """The agent as a viewer of casework; trainers are refused (403)."""
    if agent.role == AgentRole.TRAINER:
        raise _forbidden("Trainers do not see customer data.")
    if supervises(agent):
        return Viewer(agent, None)
    ids = await session.scalars(_workable_customers(agent))
    return Viewer(agent, frozenset(i for i in ids if i is not None))


async def may_see_customer(session: AsyncSession, agent: Agent, customer_id: int) -> bool:
    """Whether the agent may see this customer's 360 and personal data."""
    if agent.role == AgentRole.TRAINER:
        return False
    return (await viewer_for(session, agent)).sees(customer_id)


def _may_work_callback(agent: Agent, callback: Callback, team: str) -> bool:
    if supervises(agent) or callback.assigned_agent_id == agent.id:
        return True
    return callback.assigned_agent_id is None and team == agent.team


def _may_work_follow_up(agent: Agent, follow_up: FollowUp) -> bool:
    return (
        supervises(agent) or follow_up.assignee_agent_id == agent.id or follow_up.team == agent.team
    )


def _complaint_visible(agent: Agent) -> ColumnElement[bool] | None:
    """The complaints an agent sees (None: all): their own, or all on the complaints team."""
    if supervises(agent) or agent.team == COMPLAINTS_TEAM:
        return None
    return Complaint.owner_agent_id == agent.id


def _may_work_complaint(agent: Agent, complaint: Complaint) -> bool:
    return (
        supervises(agent) or agent.team == COMPLAINTS_TEAM or complaint.owner_agent_id == agent.id
    )


def _may_work_conversation(agent: Agent, conversation: Conversation) -> bool:
    if supervises(agent) or conversation.assigned_agent_id == agent.id:
        return True
    return conversation.state == ConversationState.QUEUED and conversation.team == agent.team
