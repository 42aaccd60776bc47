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
