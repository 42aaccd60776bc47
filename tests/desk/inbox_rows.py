"""Inbox messages stored for tests as the bot turn would have left them: a
conversation, the customer's message and the bot's answer, and the parsed message."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from store.models import Agent, AgentRole, Conversation, ConversationState, Message, SenderKind
from store.workbench import ParsedMessage
from tests.passwords import password_hash

serial = itertools.count(1)
START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


async def store_message(
    sessions,
    text: str,
    *,
    intent: str = "ask_policy",
    confidence: float = 0.9,
    minutes: int = 0,
    bot_text: str = "好的",
    conversation: dict[str, Any] | None = None,
    customer_text: str | None = None,
    **parsed: Any,
) -> ParsedMessage:
    """A conversation of its own with the customer's message (`customer_text`, the
    text as written; `text` as masked) and the bot's answer, kept for the inbox
    `minutes` after START."""
    n = next(serial)
    at = START + timedelta(minutes=minutes)
    async with sessions.begin() as session:
        talk = Conversation(
            channel=parsed.pop("channel", "web"),
            external_user_id=f"inbox-{n}",
            language=parsed.pop("language", "zh"),
            state=ConversationState.BOT,
            last_seq=2,
            **(conversation or {}),
        )
        session.add(talk)
        await session.flush()
        said = Message(
            conversation_id=talk.id,
            seq=1,
            sender=SenderKind.CUSTOMER,
            text=customer_text if customer_text is not None else text,
            created_at=at,
        )
        answer = Message(
            conversation_id=talk.id, seq=2, sender=SenderKind.BOT, text=bot_text, created_at=at
        )
        session.add_all([said, answer])
        await session.flush()
        row = ParsedMessage(
            message_id=said.id,
            conversation_id=talk.id,
            seq=1,
            channel=talk.channel,
            language=talk.language,
            text=text,
            intent=intent,
            confidence=confidence,
            fallback=parsed.pop("fallback", False),
            rank=parsed.pop("rank", 9),
            at=at,
            **parsed,
        )
        session.add(row)
    return row


async def make_staff(sessions, username: str, role: AgentRole, team: str = "general") -> Agent:
    async with sessions.begin() as session:
        agent = Agent(
            username=username,
            display_name=username,
            role=role,
            team=team,
            password_hash=password_hash("pw"),
        )
        session.add(agent)
    return agent
