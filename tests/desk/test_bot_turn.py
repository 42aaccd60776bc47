"""Nothing lost: a customer's message the bot owes an answer to is answered exactly
once, even when the process that took it dies before answering, and when several
processes' housekeeping look for owed turns at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from desk.clock import aware
from desk.conversations import ConversationService
from desk.housekeeping import run_once
from desk.journal import Outbox
from store.db import create_engine, session_factory
from store.models import Message, PendingTurn, SenderKind
from tests.desk.test_conversations import Recorder

LEASE = timedelta(seconds=60)
GRACE = 60


class GatedBot:
    """Rasa's REST channel, counting what it is sent. After `hold()` it answers
    nothing until `release()`: a bot as slow as the test wants."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self._gate: asyncio.Event | None = None

    def hold(self) -> None:
        self._gate = asyncio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        self.sent.append((sender, text, metadata))
        if self._gate is not None:
            await self._gate.wait()
        return [{"recipient_id": sender, "text": f"echo: {text}"}]

    async def latest_parse(self, sender: str, text: str | None = None) -> None:
        return None


@pytest.fixture
async def desk(database_url) -> AsyncIterator:
    """`desk()` starts one more console process's service on the same database:
    its own engine, its own bot, its own in-memory turns."""
    engines = []

    def start() -> ConversationService:
        engine = create_engine(database_url)
        engines.append(engine)
        recorder = Recorder()
        service = ConversationService(session_factory(engine), GatedBot(), bot_turn_lease=LEASE)
        service.add_channel(recorder)
        return service

    yield start
    for engine in engines:
        await engine.dispose()


async def crash_after_storing(service: ConversationService, text: str) -> tuple[int, datetime]:
    """The customer's message is stored, then the process dies before its bot turn
    runs. Returns the conversation and when the dead process's lease on it ends."""
    conversation, _ = await service.open("web", "s1")
    await service.customer_message(conversation.id, text)
    [turn] = list(service._bot_turns)
    turn.cancel()
    await asyncio.gather(turn, return_exceptions=True)
    assert service.bot.sent == []
    return conversation.id, await lease_end(service)


async def lease_end(service: ConversationService) -> datetime:
    """When the one owed turn's lease runs out, as stored: read, not guessed from the
    clock, since a slow machine stores and renews it seconds after the test looked."""
    async with service.sessions() as session:
        [until] = (await session.scalars(select(PendingTurn.lease_until))).all()
    return aware(until)


async def round_at(service: ConversationService, at: datetime) -> None:
    """One housekeeping round, and the bot turns it set going."""
    await run_once(service, GRACE, at)
    await asyncio.wait_for(service.wait_for_bot(), 10)


async def bot_messages(service: ConversationService, conversation_id: int) -> list[str]:
    return [
        m["text"] for m in await service.messages_after(conversation_id) if m["sender"] == "bot"
    ]


async def owed(service: ConversationService) -> int:
    async with service.sessions() as session:
        return await session.scalar(select(func.count()).select_from(PendingTurn))


async def test_a_turn_whose_process_died_is_answered_once_by_housekeeping(desk):
    dead, alive = desk(), desk()
    conversation_id, lease_ends = await crash_after_storing(dead, "我要理赔")
    assert await owed(alive) == 1
    # Within the dead process's lease nobody may answer: it could still be answering.
    await round_at(alive, lease_ends - LEASE / 2)
    assert alive.bot.sent == []
    await round_at(alive, lease_ends + timedelta(seconds=1))
    [(sender, text, metadata)] = alive.bot.sent
    assert text == "我要理赔" and metadata["turn"] == 1  # the customer's message
    assert await bot_messages(alive, conversation_id) == ["echo: 我要理赔"]
    assert await owed(alive) == 0
    # answered once: later rounds, in any process, owe nothing more
    await round_at(alive, lease_ends + 2 * LEASE)
    await round_at(dead, lease_ends + 2 * LEASE)
    assert len(alive.bot.sent) == 1 and dead.bot.sent == []
    assert await bot_messages(alive, conversation_id) == ["echo: 我要理赔"]


async def test_two_processes_looking_at_once_answer_an_owed_turn_once(desk):
    dead, first, second = desk(), desk(), desk()
    conversation_id, lease_ends = await crash_after_storing(dead, "查保单")
    first.bot.hold()
    second.bot.hold()
    at = lease_ends + timedelta(seconds=1)
    await asyncio.gather(run_once(first, GRACE, at), run_once(second, GRACE, at))
    # One of them took the turn and waits on its bot; the other found it taken.
    for _ in range(1000):
        if first.bot.sent or second.bot.sent:
            break
        await asyncio.sleep(0.01)
    first.bot.release()
    second.bot.release()
    await asyncio.wait_for(asyncio.gather(first.wait_for_bot(), second.wait_for_bot()), 10)
    assert len(first.bot.sent) + len(second.bot.sent) == 1
    assert await bot_messages(first, conversation_id) == ["echo: 查保单"]
    assert await owed(first) == 0


async def test_a_turn_housekeeping_took_is_not_taken_again_within_its_lease(desk):
    dead, first, second = desk(), desk(), desk()
    conversation_id, lease_ends = await crash_after_storing(dead, "查保单")
    first.bot.hold()
    at = lease_ends + timedelta(seconds=1)
    await run_once(first, GRACE, at)
    for _ in range(1000):
        if first.bot.sent:
            break
        await asyncio.sleep(0.01)
    assert first.bot.sent, "the first process never asked its bot"
    # the first is still answering: a round elsewhere within its lease leaves it be
    await round_at(second, at + LEASE / 2)
    assert second.bot.sent == []
    first.bot.release()
    await asyncio.wait_for(first.wait_for_bot(), 10)
    assert await bot_messages(first, conversation_id) == ["echo: 查保单"]


async def test_a_turn_taken_over_from_a_hung_process_is_answered_once(desk):
    slow, other = desk(), desk()
    conversation, _ = await slow.open("web", "s1")
    slow.bot.hold()
    await slow.customer_message(conversation.id, "你好")
    [turn] = list(slow._bot_turns)
    for _ in range(1000):
        if slow.bot.sent:
            break
        await asyncio.sleep(0.01)
    assert slow.bot.sent, "the slow process never asked its bot"
    # Its lease runs out while its bot still thinks: another process answers ...
    await round_at(other, await lease_end(slow) + timedelta(seconds=1))
    assert len(other.bot.sent) == 1
    # ... and the slow process's late answer is dropped, not sent as a second one.
    slow.bot.release()
    await asyncio.wait_for(turn, 10)
    assert await bot_messages(other, conversation.id) == ["echo: 你好"]


async def test_an_answered_turn_is_owed_no_more(desk):
    service = desk()
    conversation, _ = await service.open("web", "s1")
    stored_at = datetime.now(UTC)
    await service.customer_message(conversation.id, "你好", wait_for_bot=True)
    assert await owed(service) == 0
    await round_at(service, stored_at + 2 * LEASE)
    assert len(service.bot.sent) == 1


async def test_an_owed_turn_of_a_conversation_an_agent_took_is_settled_without_the_bot(desk):
    dead, alive = desk(), desk()
    conversation_id, lease_ends = await crash_after_storing(dead, "转人工")
    async with alive.sessions.begin() as session:
        conversation = await alive._load(session, conversation_id)
        await alive._queue(session, conversation, {"reason": "customer_request"}, Outbox())
    await round_at(alive, lease_ends + timedelta(seconds=1))
    assert alive.bot.sent == [] and await owed(alive) == 0
    async with alive.sessions() as session:
        senders = (
            await session.scalars(
                select(Message.sender).where(Message.conversation_id == conversation_id)
            )
        ).all()
    assert SenderKind.BOT not in senders
