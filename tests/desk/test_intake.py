"""Intake on SQLite and PostgreSQL: a new identity's first messages, acknowledgements,
and what the bot is told of where a message came from."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from desk.conversations import ConversationService
from desk.intake import Inbound
from store.identities import identity_for
from store.models import ChannelIdentity, Contact, Conversation
from tests.desk.test_conversations import Recorder, ScriptedBot


async def test_two_first_messages_at_once_open_one_conversation(sessions):
    service = ConversationService(sessions, ScriptedBot(), Recorder(), auto_assign=False)
    for n in range(10):
        external_id = f"new-identity-{n}"
        first, second = await asyncio.gather(
            service.receive("wechat", Inbound(external_id, text="你好", message_id="a")),
            service.receive("wechat", Inbound(external_id, text="在吗", message_id="b")),
        )
        assert first.refusal is None and second.refusal is None
        assert first.conversation.id == second.conversation.id
    await service.wait_for_bot()
    async with sessions() as session:
        per_identity = (
            await session.execute(
                select(Conversation.external_user_id, func.count()).group_by(
                    Conversation.external_user_id
                )
            )
        ).all()
        identities = await session.scalar(select(func.count()).select_from(ChannelIdentity))
        contacts = await session.scalar(select(func.count()).select_from(Contact))
    assert sorted(per_identity) == [(f"new-identity-{n}", 1) for n in range(10)]
    assert identities == contacts == 10


async def test_two_first_messages_of_a_known_identity_open_one_conversation(sessions):
    """An identity known before its first conversation (its conversations purged, or
    written by another process a moment ago)."""
    service = ConversationService(sessions, ScriptedBot(), Recorder(), auto_assign=False)
    for n in range(10):
        external_id = f"known-identity-{n}"
        async with sessions.begin() as session:
            await identity_for(session, "wechat", external_id)
        first, second = await asyncio.gather(
            service.receive("wechat", Inbound(external_id, text="你好", message_id="a")),
            service.receive("wechat", Inbound(external_id, text="在吗", message_id="b")),
        )
        assert first.conversation.id == second.conversation.id
    await service.wait_for_bot()
    async with sessions() as session:
        opened = await session.scalar(select(func.count()).select_from(Conversation))
    assert opened == 10


async def acknowledged(sessions, conversation_id: int) -> int:
    async with sessions() as session:
        return await session.scalar(
            select(Conversation.customer_ack_seq).where(Conversation.id == conversation_id)
        )


async def test_acknowledgements_are_written_only_forward_and_once_an_interval(sessions):
    service = ConversationService(sessions, ScriptedBot(), Recorder(), auto_assign=False)
    conversation, _ = await service.open("web", "acks-" + "a" * 20)
    for n in range(3):
        await service.customer_message(conversation.id, f"第{n}条", wait_for_bot=True)
    acks = service.acks  # 6 messages; writes at most every 5 s (the clock given here)
    await acks.acknowledge(conversation.id, 1, now=100.0)
    assert await acknowledged(sessions, conversation.id) == 1
    await acks.acknowledge(conversation.id, 2, now=101.0)
    await acks.acknowledge(conversation.id, 3, now=102.0)
    await acks.acknowledge(conversation.id, 2, now=103.0)
    # the newest waits, and a reconnecting client is replayed from it
    assert await acknowledged(sessions, conversation.id) == 1
    assert acks.newest(conversation.id, 1) == 3
    # the housekeeping round (or the customer's disconnect) writes it
    await acks.flush(now=103.0)
    assert await acknowledged(sessions, conversation.id) == 3
    # past the interval an acknowledgement is written at once; one past the last
    # message never is
    await acks.acknowledge(conversation.id, 4, now=108.5)
    assert await acknowledged(sessions, conversation.id) == 4
    await acks.acknowledge(conversation.id, 99, now=120.0)
    await acks.flush(now=130.0)
    assert await acknowledged(sessions, conversation.id) == 4
    await acks.acknowledge(conversation.id, 6, now=140.0)
    assert await acknowledged(sessions, conversation.id) == 6
