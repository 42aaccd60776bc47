"""What agents and channels see of conversations, messages, notes and agents."""

from __future__ import annotations

from typing import Any

from desk.access import supervises
from desk.clock import aware, iso, now
from store.models import (
    Agent,
    Conversation,
    ConversationState,
    Message,
    Note,
)

State = ConversationState


def message_view(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        # Stable across the system: the idempotency key for deliveries to providers.
        "uid": f"msg_{message.id}",
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "sender": message.sender.value,
        "agent_id": message.agent_id,
        "text": message.text,
        "payload": message.payload or {},
        "client_message_id": message.client_message_id,
        "created_at": iso(message.created_at),
    }


def conversation_view(
    conversation: Conversation, names: dict[int, str] | None = None
) -> dict[str, Any]:
    """What agents see of a conversation; `names` maps agent ids to display names."""
    queued_at = conversation.queued_at
    waiting = (
        max(0, round((now() - aware(queued_at)).total_seconds()))
        if conversation.state == State.QUEUED and queued_at
        else None
    )
    return {
        "id": conversation.id,
        "channel": conversation.channel,
        "state": conversation.state.value,
        "language": conversation.language,
        "team": conversation.team,
        "customer_id": conversation.customer_id,
        "verified": conversation.customer_id is not None,
        "assigned_agent_id": conversation.assigned_agent_id,
        "assigned_agent_name": (
            (names or {}).get(conversation.assigned_agent_id)
            if conversation.assigned_agent_id is not None
            else None
        ),
        "handoff_reason": conversation.handoff_reason,
        "handoff_summary": conversation.handoff_summary,
        "priority": conversation.priority or 0,
        "labels": list(conversation.labels or []),
        "resolution_reason": conversation.resolution_reason,
        "last_seq": conversation.last_seq,
        "created_at": iso(conversation.created_at),
        "queued_at": iso(queued_at),
        "assigned_at": iso(conversation.assigned_at),
        "resolved_at": iso(conversation.resolved_at),
        "waiting_seconds": waiting,
    }


def note_view(note: Note, agent_name: str | None = None) -> dict[str, Any]:
    return {
        "id": note.id,
        "conversation_id": note.conversation_id,
        "agent_id": note.agent_id,
        "agent_name": agent_name,
        "text": note.text,
        "client_note_id": note.client_note_id,
        "created_at": iso(note.created_at),
    }


def agent_view(agent: Agent, active_conversations: int = 0) -> dict[str, Any]:
    return {
        "id": agent.id,
        "username": agent.username,
        "display_name": agent.display_name,
        "role": agent.role.value,
        "team": agent.team,
        "presence": agent.presence,
        "active": agent.is_active,
        "capacity": agent.capacity,
        "active_conversations": active_conversations,
        "ui_language": agent.ui_language,
        "supervisor": supervises(agent),
    }
