"""The analytics' rollups (SQLite and PostgreSQL): kept up to date conversation by
conversation, they equal the rollups rebuilt from the raw rows, including the rows of
a customer's earlier conversations that their coming back changes; two refreshes at
once write each row once; and the command rebuilds them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from desk.analytics import rollups
from desk.analytics.bot import bot_metrics
from desk.analytics.queue import QueueQuery
from desk.analytics.rollups import rebuild, refresh
from desk.inputs import read
from store.db import create_engine
from store.demo import generate
from store.models import Agent, AgentRole, Conversation, Event
from store.rollups import (
    ContactFact,
    EpisodeFact,
    HoldFact,
    PresenceFact,
    ResolveFact,
    RollupMark,
    SessionFact,
    SessionIntent,
)
from tests.desk.test_bot_metrics import Story
from tests.desk.test_conversations import make_agent
from web.rollups import main

# In the past, so that on PostgreSQL no row is inside the last minute the marks leave.
END = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def quiet(*_):
    pass


async def snapshot(sessions) -> dict[str, list[tuple]]:
    """Every rollup row, without the ids a rebuild gives anew."""
    found = {}
    async with sessions() as session:
        for table in (
            SessionFact,
            SessionIntent,
            EpisodeFact,
            ResolveFact,
            HoldFact,
            PresenceFact,
            ContactFact,
        ):
            columns = [c for c in table.__table__.columns if c.key != "id"]
            rows = (await session.execute(select(*columns))).all()
            found[table.__tablename__] = sorted(tuple(str(v) for v in row) for row in rows)
    return found


async def seen_off_with_a_customer(sessions) -> tuple[int, int, str, datetime]:
    """A session of a known customer the bot saw off, with its topic and end."""
    async with sessions() as session:
        conversation, customer, topic, ended = (
            await session.execute(
                select(
                    SessionFact.conversation_id,
                    Conversation.customer_id,
                    SessionFact.topic,
                    SessionFact.ended,
                )
                .join(Conversation, Conversation.id == SessionFact.conversation_id)
                .where(
                    SessionFact.outcome == "seen_off",
                    SessionFact.topic.is_not(None),
                    SessionFact.back_after.is_(None),
                    Conversation.customer_id.is_not(None),
                )
                .order_by(SessionFact.id)
                .limit(1)
            )
        ).one()
    return conversation, customer, topic, ended.replace(tzinfo=UTC)


async def back_after(sessions, conversation: int) -> list[float | None]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(SessionFact.back_after)
                .where(SessionFact.conversation_id == conversation)
                .order_by(SessionFact.start)
            )
        )


async def come_back(sessions, customer: int, topic: str, at: datetime) -> int:
    """The customer starts a conversation on another channel about the same topic."""
    story = Story(sessions)
    again = await story.conversation("app", customer)
    await story.event(again, "created", at, channel="app")
    intent, faq = ("faq", topic) if topic.startswith("faq/") else (topic, None)
    await story.says(again, at + timedelta(seconds=20), intent, topic=faq)
    await story.event(again, "handoff", at + timedelta(minutes=1), reason="customer_request")
    return again


async def test_kept_up_equals_rebuilt_and_a_return_reaches_earlier_conversations(
    database_url, sessions
):
    await generate(database_url, 150, progress=quiet, history_days=5, history_end=END)
    # Never built: the first refresh builds everything.
    assert await refresh(sessions) > 0
    built = await snapshot(sessions)
    assert all(built.values()), [name for name, rows in built.items() if not rows]
    assert await refresh(sessions) == 0  # nothing new, nothing computed

    earlier, customer, topic, ended = await seen_off_with_a_customer(sessions)
    before = await back_after(sessions, earlier)
    again = await come_back(sessions, customer, topic, ended + timedelta(hours=3))
    async with sessions.begin() as session:
        agent = await session.scalar(select(Agent.id).where(Agent.role == AgentRole.AGENT))
        timeline = await session.scalar(select(func.count()).where(PresenceFact.agent_id == agent))
        session.add(
            Event(
                at=ended + timedelta(hours=4),
                kind="presence",
                agent_id=agent,
                data={"presence": "away", "previous": "online"},
            )
        )
    computed = await refresh(sessions)
    assert computed >= 2  # the new conversation and the customer's earlier ones
    kept_up = await snapshot(sessions)
    after = await back_after(sessions, earlier)
    assert after != before
    assert 3 * 3600 in after
    async with sessions() as session:
        assert (
            await session.scalar(select(func.count()).where(PresenceFact.agent_id == agent))
            == timeline + 1
        )

    await rebuild(sessions)
    assert await snapshot(sessions) == kept_up
    async with sessions() as session:
        assert (
            await session.scalar(select(func.count()).where(SessionFact.conversation_id == again))
            == 1
        )


async def test_two_refreshes_at_once_write_each_row_once(database_url, sessions):
    await generate(database_url, 100, progress=quiet, history_days=3, history_end=END)
    await refresh(sessions)
    earlier, customer, topic, ended = await seen_off_with_a_customer(sessions)
    await come_back(sessions, customer, topic, ended + timedelta(hours=1))
    await asyncio.gather(refresh(sessions), refresh(sessions))
    kept_up = await snapshot(sessions)
    await rebuild(sessions)
    assert await snapshot(sessions) == kept_up


async def test_the_marks_pass_what_is_surely_committed(sessions):
    """SQLite has one writer at a time: the mark is the last event. On PostgreSQL an
    event of the last minute stays past the mark; it is not computed again, unless a
    row committed late appears among those read (an id below the last one seen)."""
    story = Story(sessions)
    old = await story.conversation()
    await story.event(old, "created", datetime.now(UTC) - timedelta(hours=1))
    new = await story.conversation()
    async with sessions.begin() as session:
        first = await session.scalar(select(func.max(Event.id)))
        # An id left free below it, as a transaction still open would hold one.
        session.add(Event(id=first + 5, at=datetime.now(UTC), kind="created", conversation_id=new))
    await refresh(sessions)
    async with sessions() as session:
        mark = await session.get(RollupMark, "events")
        sqlite = session.bind.dialect.name == "sqlite"
    assert (mark.last_id, mark.seen_id, mark.seen) == (
        (first + 5, first + 5, 0) if sqlite else (first, first + 5, 1)
    )
    assert await refresh(sessions) == 0  # nothing new: nothing computed
    late = await story.conversation()
    async with sessions.begin() as session:
        session.add(Event(id=first + 2, at=datetime.now(UTC), kind="created", conversation_id=late))
    # PostgreSQL reads the late row (and those seen with it) again; SQLite has none such.
    assert await refresh(sessions) == (0 if sqlite else 2)
    async with sessions() as session:
        computed = await session.scalar(
            select(func.count()).where(SessionFact.conversation_id == late)
        )
    assert computed == (0 if sqlite else 1)


async def test_the_command_rebuilds_the_rollups(tmp_path, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    await generate(url, 100, progress=quiet, history_days=3, history_end=END)
    await asyncio.to_thread(main, ["--database-url", url])
    printed = capsys.readouterr().out
    assert "rollups: computing them again" in printed
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            conversations = await conn.scalar(select(func.count()).select_from(Conversation))
            built = await conn.scalar(
                select(func.count(func.distinct(SessionFact.conversation_id)))
            )
    finally:
        await engine.dispose()
    assert conversations and built == conversations
    assert f"rollups: {conversations:,} conversations in" in printed


async def test_a_figure_read_while_the_first_build_runs_is_never_a_part_of_it(
    database_url, sessions, monkeypatch
):
    """A store never built: the first refresh builds it in steps. A figure read before
    those steps are done builds it too, rather than take the part built as the whole
    (the marks come only once every row is there)."""
    await generate(database_url, 80, progress=quiet, history_days=2, history_end=END)
    boss = await make_agent(sessions, "boss", AgentRole.SUPERVISOR, "general")
    release, paused = asyncio.Event(), asyncio.Event()
    real = rollups._customer_steps

    async def held_first(*args):
        if not paused.is_set():
            paused.set()
            await release.wait()
        return await real(*args)

    monkeypatch.setattr(rollups, "_customer_steps", held_first)
    first = asyncio.create_task(refresh(sessions))
    await asyncio.wait_for(paused.wait(), 30)
    last = END.astimezone(ZoneInfo("Asia/Shanghai")).date()
    query = read(QueueQuery, {"start": str(last - timedelta(days=2)), "end": str(last)})
    meanwhile = await bot_metrics(sessions, boss, query)
    release.set()
    await asyncio.wait_for(first, 60)
    assert meanwhile["sessions"] > 0
    assert meanwhile == await bot_metrics(sessions, boss, query)
