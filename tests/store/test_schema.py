"""The Alembic migrations build exactly the models' schema, and the store's constraints hold."""

import asyncio
import sqlite3

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from store.db import alembic_config, create_engine
from store.demo import generate
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


def test_one_conversation_per_identity_keeps_what_a_race_left(tmp_path):
    """Migrating to one conversation per channel identity: of two an identity has,
    the newest stays its conversation, the older keeps its history under a marked id."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    command.upgrade(alembic_config(url), "0009")  # just before one conversation per identity
    with sqlite3.connect(tmp_path / "desk.db") as db:
        for uid, external in (("c1", "openid-1"), ("c2", "openid-1"), ("c3", "openid-2")):
            db.execute(
                "INSERT INTO conversations (uid, channel, external_user_id, state, language,"
                " team, priority, labels, last_seq, customer_ack_seq, agent_ack_seq,"
                " delivered_seq, delivery_attempts)"
                " VALUES (?, 'wechat', ?, 'bot', 'zh', 'general', 0, '[]', 0, 0, 0, 0, 0)",
                (uid, external),
            )
    command.upgrade(alembic_config(url), "head")
    with sqlite3.connect(tmp_path / "desk.db") as db:
        rows = db.execute("SELECT id, external_user_id FROM conversations ORDER BY id").fetchall()
    assert rows == [(1, "openid-1#1"), (2, "openid-1"), (3, "openid-2")]


async def test_a_store_with_data_is_migrated_down_and_up_again(tmp_path):
    """A store in use upgrades (and downgrades): SQLite's batch migrations copy whole
    tables, which must not trip over the foreign keys that point at them."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    # Alembic runs its own event loop: in a thread of its own, off the test's.
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    await generate(url, customers=5, progress=lambda *_: None)
    tables = ("customers", "policies", "insured_members", "claims", "claim_stage_changes")

    def counts() -> list[int]:
        with sqlite3.connect(tmp_path / "desk.db") as db:
            return [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables]

    before = counts()
    assert all(before)
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0006")
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    assert counts() == before
    with sqlite3.connect(tmp_path / "desk.db") as db:
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
