"""A queue episode: from a handoff (the bot's conversation joining a team's queue)
to the first agent reply or the customer leaving the queue. The lifecycle writes its
ends as events with what the metrics need (the wait, and the team and channel as they
were at the handoff, since a conversation's own fields change later)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.clock import aware
from store.models import Conversation, Event

HANDOFF = "handoff"
FIRST_REPLY = "first_agent_reply"
ABANDONED = "abandoned"
# A queued customer went back to the bot (to book a callback instead): a new bot
# session begins, in the same contact.
BACK_TO_BOT = "back_to_bot"


def at_handoff(conversation: Conversation) -> dict[str, Any]:
    """What a handoff event keeps of the conversation it queued."""
    return {
        "team": conversation.team,
        "channel": conversation.channel,
        "language": conversation.language,
    }


async def open_episode(session: AsyncSession, conversation_id: int) -> Event | None:
    """The conversation's latest handoff, if nothing has ended its episode yet (no
    first agent reply or abandon recorded after it)."""
    handoff = await session.scalar(
        select(Event)
        .where(Event.conversation_id == conversation_id, Event.kind == HANDOFF)
        .order_by(Event.id.desc())
        .limit(1)
    )
    if handoff is None:
        return None
    ended = await session.scalar(
        select(Event.id)
        .where(
            Event.conversation_id == conversation_id,
            Event.kind.in_((FIRST_REPLY, ABANDONED)),
            Event.id > handoff.id,
        )
        .limit(1)
    )
    return None if ended is not None else handoff


def episode_end(handoff: Event, at: datetime) -> dict[str, Any]:
    """The data of the event ending an episode: how long the customer waited, and
    the handoff's team and channel."""
    waited = (aware(at) - aware(handoff.at)).total_seconds()
    return {
        "handoff_id": handoff.id,
        "wait_seconds": round(max(waited, 0.0), 3),
        "team": handoff.data.get("team"),
        "channel": handoff.data.get("channel"),
    }
