"""The Alembic migrations build exactly the models' schema, and the store's constraints hold."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from store.db import create_engine
from store.models import Base, Conversation, Message, SenderKind


async def test_migrations_match_the_models(database_url):
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    await engine.dispose()
    assert diff == []


async def test_sequence_numbers_and_client_ids_are_unique(sessions):
    async with sessions.begin() as session:
        conversation = Conversation(channel="web", external_user_id="x")
        session.add(conversation)
        await session.flush()
        session.add(
            Message(
                conversation_id=conversation.id,
                seq=1,
                sender=SenderKind.CUSTOMER,
                text="a",
                client_message_id="c1",
            )
        )
    for duplicate in (
        {"seq": 1, "client_message_id": "c2"},
        {"seq": 2, "client_message_id": "c1"},
    ):
        with pytest.raises(IntegrityError):
            async with sessions.begin() as session:
                session.add(
                    Message(
                        conversation_id=conversation.id,
                        sender=SenderKind.BOT,
                        text="b",
                        **duplicate,
                    )
                )
