"""The bot's turn: a customer's message goes to Rasa, its replies are stored
and delivered, and its directives (handoff, a goodbye that resolves) are carried out."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.delivery import buttons_of
from desk.journal import Outbox, State
from desk.lifecycle import Lifecycle
from desk.rasa import BotUnavailable
from desk.views import message_view
from store.identifiers import mask_identifiers
from store.models import (
    Conversation,
    Message,
    SenderKind,
)

log = logging.getLogger(__name__)


class BotTurns(Lifecycle):
    async def wait_for_bot(self) -> None:
        """Let running bot turns finish (shutdown, tests)."""
        if self._bot_turns:
            await asyncio.gather(*list(self._bot_turns), return_exceptions=True)

    @staticmethod
    def _text_for_bot(text: str, offered: set[str]) -> str:
        """Rasa reads `/intent{...}` as a command. Only the payloads of buttons we
        offered in the last message pass as such; typed text is neutralised."""
        if not text.lstrip().startswith("/") or text in offered:
            return text
        return text.lstrip().lstrip("/") or "?"

    @staticmethod
    async def _offered_buttons(
        session: AsyncSession, conversation: Conversation
    ) -> list[dict[str, Any]]:
        """The buttons in the last message the customer was sent, in order."""
        last = await session.scalar(
            select(Message)
            .where(
                Message.conversation_id == conversation.id, Message.sender != SenderKind.CUSTOMER
            )
            .order_by(Message.seq.desc())
            .limit(1)
        )
        return buttons_of(message_view(last)) if last else []

    async def _bot_turn(self, conversation_id: int, text: str, seq: int) -> None:
        """The bot answers one customer message (sequence number `seq`); a handoff
        it asks for is then offered to the agents."""
        if await self._bot_answers(conversation_id, text, seq):
            await self.dispatch()

    async def _bot_answers(self, conversation_id: int, text: str, seq: int) -> bool:
        async with self._bot_locks.hold(conversation_id):
            conversation = await self.get(conversation_id)
            if conversation is None or conversation.state != State.BOT:
                return False
            understood = None
            try:
                replies = await self.bot.send(
                    conversation.uid,
                    text,
                    {
                        "channel": conversation.channel,
                        "language": conversation.language,
                        "client_address": conversation.client_address,
                    },
                )
                understood = await self.bot.latest_intent(conversation.uid)
            except BotUnavailable as exc:
                log.warning("bot unavailable for conversation %s: %s", conversation_id, exc)
                replies = []
            if not replies:
                # Never leave a customer unanswered: a silent or failing bot hands over.
                replies = [
                    {"text": self._system_text("bot_unavailable", conversation.language)},
                    {"custom": {"handoff": {"reason": "bot_unavailable", "summary": text or ""}}},
                ]
            outbox = Outbox()
            async with self.sessions.begin() as session:
                conversation = await self._load(session, conversation_id)
                outbox.conversation = conversation
                if understood:
                    await self._remember_intent(session, conversation_id, seq, understood)
                handoff = None
                resolved_by_bot = False
                for reply in replies:
                    custom = reply.get("custom")
                    if isinstance(custom, dict) and isinstance(custom.get("handoff"), dict):
                        handoff = custom["handoff"]
                        # Whatever the bot sends, agents and events see identifiers masked.
                        summary = str(handoff.get("summary") or "")
                        handoff = {**handoff, "summary": mask_identifiers(summary)}
                        continue
                    if isinstance(custom, dict) and "rating" in custom:
                        resolved_by_bot = True
                        continue
                    payload = {
                        key: reply[key]
                        for key in ("buttons", "image", "attachment", "custom")
                        if reply.get(key)
                    }
                    outbox.messages.append(
                        await self._append(
                            session, conversation, SenderKind.BOT, reply.get("text"), payload
                        )
                    )
                if outbox.messages:
                    self._record(
                        session, "bot_reply", conversation, data={"messages": len(outbox.messages)}
                    )
                handed_over = False
                if handoff is not None and conversation.state == State.BOT:
                    handed_over = await self._hand_over(session, conversation, handoff, outbox)
                elif resolved_by_bot and conversation.state == State.BOT:
                    await self._resolve_by_bot(session, conversation, outbox)
            await self._publish(outbox)
            if understood:
                await self.hub.intent_seen(conversation_id, {"seq": seq, **understood})
            return handed_over

    @staticmethod
    async def _remember_intent(
        session: AsyncSession, conversation_id: int, seq: int, understood: dict[str, Any]
    ) -> None:
        """Keep what the bot understood on the customer's message, for the agents."""
        message = await session.scalar(
            select(Message).where(Message.conversation_id == conversation_id, Message.seq == seq)
        )
        if message is not None:
            message.payload = {**(message.payload or {}), **understood}
