"""Access rules: who may see and act on a conversation."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, true

from store.models import (
    Agent,
    AgentRole,
    Conversation,
    ConversationState,
)

State = ConversationState


def supervises(agent: Agent) -> bool:
    return agent.role in (AgentRole.SUPERVISOR, AgentRole.ADMIN)


def may_view(agent: Agent, conversation: Conversation) -> bool:
    """Supervisors and admins see everything; agents see their team's queue and
    their own conversations; trainers see none."""
    if supervises(agent):
        return True
    if agent.role != AgentRole.AGENT:
        return False
    if conversation.assigned_agent_id == agent.id:
        return True
    return conversation.state == State.QUEUED and conversation.team == agent.team


def may_act(agent: Agent, conversation: Conversation) -> bool:
    if supervises(agent):
        return True
    return agent.role == AgentRole.AGENT and conversation.assigned_agent_id == agent.id


def visible_to(agent: Agent) -> ColumnElement[bool]:
    """`may_view` as a condition on conversations, so that a list filters before it
    limits (an agent's own are never past the first page of everyone's)."""
    if supervises(agent):
        return true()
    if agent.role != AgentRole.AGENT:
        return false()
    return or_(
        Conversation.assigned_agent_id == agent.id,
        and_(Conversation.state == State.QUEUED, Conversation.team == agent.team),
    )
