"""The bot's turn: a customer's message goes to Rasa, its replies are stored
and delivered, and its directives (handoff, a goodbye that resolves) are carried out.

Nothing is lost: the turn is owed in the store (a pending turn, written with the
customer's message) until the bot's answer is stored in the transaction that
removes it. The process that took the message answers it while its lease runs;
a turn whose lease ran out (its process died) is answered by housekeeping in
any process, which takes the lease first, so no turn is answered twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.clock import aware, now
from desk.delivery import buttons_of
from desk.journal import Outbox, State
from desk.lifecycle import Lifecycle
from desk.rasa import BotUnavailable, Parse
from desk.training.capture import capture
from desk.views import message_view
from store.identifiers import mask_identifiers
from store.models import (
    Conversation,
    Message,
    PendingTurn,
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

    # ---- the turns the bot owes ------------------------------------------------------

    def _owe_turn(self, session: AsyncSession, conversation_id: int, seq: int, text: str) -> None:
        """Written with the customer's message: the bot owes it an answer, which this
        process gives (it holds the lease)."""
        session.add(
            PendingTurn(
                conversation_id=conversation_id,
                seq=seq,
                text=text,
                lease_holder=self._turn_holder,
                lease_until=now() + self.bot_turn_lease,
            )
        )

    def _start_turn(self, conversation_id: int, text: str, seq: int) -> asyncio.Task:
        return self._in_background(self._bot_turn(conversation_id, text, seq))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> asyncio.Task:
        """Bot turns run as tasks `wait_for_bot` knows of."""
        task = asyncio.create_task(work)
        self._bot_turns.add(task)
        task.add_done_callback(self._bot_turns.discard)
        return task

    async def answer_owed(self, at: datetime | None = None) -> int:
        """Start answering the turns nobody is answering (their lease ran out by `at`,
        the clock's time by default), each conversation's in order, in the background
        like any bot turn (`wait_for_bot` waits for them); a conversation with a turn
        still being answered waits. Returns how many conversations it took up."""
        at = at or now()
        async with self.sessions() as session:
            stale = select(PendingTurn.conversation_id).where(
                or_(PendingTurn.lease_until.is_(None), PendingTurn.lease_until < at)
            )
            rows = (
                await session.scalars(
                    select(PendingTurn)
                    .where(PendingTurn.conversation_id.in_(stale))
                    .order_by(PendingTurn.conversation_id, PendingTurn.seq)
                )
            ).all()
        owed: dict[int, list[PendingTurn]] = {}
        for turn in rows:
            owed.setdefault(turn.conversation_id, []).append(turn)
        taken = 0
        for turns in owed.values():
            if any(t.lease_until is not None and aware(t.lease_until) >= at for t in turns):
                continue
            self._in_background(self._answer_in_order(turns, at))
            taken += 1
        return taken

    async def _answer_in_order(self, turns: list[PendingTurn], at: datetime) -> None:
        for turn in turns:
            if not await self._take_lease(turn.id, at):
                return  # another process took it: it answers the rest too
            await self._bot_turn(turn.conversation_id, turn.text, turn.seq)

    async def _take_lease(self, turn_id: int, at: datetime) -> bool:
        """Take a turn whose lease ran out; the row count decides, across processes."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(PendingTurn)
                .where(
                    PendingTurn.id == turn_id,
                    or_(PendingTurn.lease_until.is_(None), PendingTurn.lease_until < at),
                )
                .values(lease_holder=self._turn_holder, lease_until=at + self.bot_turn_lease)
            )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def _this_turn(self, conversation_id: int, seq: int):
        return (
            PendingTurn.conversation_id == conversation_id,
            PendingTurn.seq == seq,
            PendingTurn.lease_holder == self._turn_holder,
        )

    async def _renew_lease(self, conversation_id: int, seq: int) -> bool:
        """Still ours (nobody took it while it waited for the conversation's earlier
        turns)? Then ours for another lease from now, never for less than we had."""
        renewed = now() + self.bot_turn_lease
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(PendingTurn)
                .where(*self._this_turn(conversation_id, seq))
                .values(
                    lease_until=case(
                        (PendingTurn.lease_until > renewed, PendingTurn.lease_until),
                        else_=renewed,
                    )
                )
            )
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def _settle_turn(self, session: AsyncSession, conversation_id: int, seq: int) -> bool:
        """The turn is answered (in the transaction storing the answer). False when
        another process took it meanwhile: it answers, and this answer is dropped."""
        result = await session.execute(
            delete(PendingTurn).where(*self._this_turn(conversation_id, seq))
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    # ---- one turn --------------------------------------------------------------------

    async def _bot_turn(self, conversation_id: int, text: str, seq: int) -> None:
        """The bot answers one customer message (sequence number `seq`); a handoff
        it asks for is then offered to the agents."""
        if await self._bot_answers(conversation_id, text, seq):
            await self.dispatch()

    async def _bot_answers(self, conversation_id: int, text: str, seq: int) -> bool:
        async with self._bot_locks.hold(conversation_id):
            if not await self._renew_lease(conversation_id, seq):
                return False  # answered, or being answered by another process
            conversation = await self.get(conversation_id)
            if conversation is None or conversation.state != State.BOT:
                # An agent has the conversation now: the bot owes nothing.
                async with self.sessions.begin() as session:
                    await self._settle_turn(session, conversation_id, seq)
                return False
            parse = None
            try:
                replies = await self.bot.send(
                    conversation.uid,
                    text,
                    # `turn` names the customer's message: the actions create what
                    # they create once per turn, however often the turn is sent.
                    {
                        "channel": conversation.channel,
                        "language": conversation.language,
                        "turn": seq,
                        "client_address": conversation.client_address,
                    },
                )
                parse = await self.bot.latest_parse(conversation.uid, text)
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
                if not await self._settle_turn(session, conversation_id, seq):
                    log.warning("turn %s of conversation %s was taken over", seq, conversation_id)
                    return False
                conversation = await self._load(session, conversation_id)
                outbox.conversation = conversation
                message = await session.scalar(
                    select(Message).where(
                        Message.conversation_id == conversation_id, Message.seq == seq
                    )
                )
                if parse and message is not None:
                    # What the bot understood, for the agents beside the message.
                    message.payload = {**(message.payload or {}), **parse.for_agents()}
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
                if parse and message is not None:
                    await self._keep_for_trainers(
                        session, conversation, message, parse, handoff is not None
                    )
            await self._publish(outbox)
            if parse:
                await self.hub.intent_seen(conversation_id, {"seq": seq, **parse.for_agents()})
            return handed_over

    async def _keep_for_trainers(
        self,
        session: AsyncSession,
        conversation: Conversation,
        message: Message,
        parse: Parse,
        handed_over: bool,
    ) -> None:
        """The message as the bot parsed it, masked, for the trainers' review inbox."""
        await capture(session, conversation, message, parse, handed_over, self.inbox_thresholds)
