"""Keeping the rollups (`store.rollups`) up to date: the conversations whose raw rows
changed since the last refresh have their rollup rows computed again
(`desk.analytics.facts`), with every other conversation of the same customers.

Every figure that reads the rollups refreshes them first, and housekeeping refreshes
them every round, so a figure is never behind the raw rows and the refresh a reader
pays for is small. `rebuild` computes them all again from the raw rows: after demo
history is written, or to check them (`python -m web.rollups`).

Which rows are new is read from each source table's ids, past a mark kept in
`rollup_marks`. On PostgreSQL a transaction can commit after one that took a later id,
so the mark stays behind the rows of the last minute: those are read again at every
refresh rather than risk passing one that was not yet committed. SQLite has one
writer at a time, so there the mark is the last id read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, delete, exists, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.event_facts import presence
from desk.analytics.facts import Facts, facts_of, widen
from desk.analytics.ranges import chunks
from desk.clock import aware, now
from desk.routing import PRESENCE
from store.models import AdvancePayment, Callback, Complaint, Conversation, Event, FollowUp, Message
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
from store.workbench import ParsedMessage

# The raw tables the rollups read, with the column that times each row.
SOURCES: dict[str, tuple[Any, Any]] = {
    "events": (Event, Event.at),
    "messages": (Message, Message.created_at),
    "parsed_messages": (ParsedMessage, ParsedMessage.at),
    "callbacks": (Callback, Callback.created_at),
    "complaints": (Complaint, Complaint.created_at),
    "follow_ups": (FollowUp, FollowUp.created_at),
    "advance_payments": (AdvancePayment, AdvancePayment.created_at),
}
TABLES = (SessionFact, SessionIntent, EpisodeFact, ResolveFact, HoldFact, ContactFact)
LOCK = "refresh"
# How long a PostgreSQL transaction may take to commit and still be read.
SETTLING = timedelta(minutes=1)
# Conversations computed in one step of a rebuild.
REBUILD_STEP = 2000

Progress = Callable[[int, int], None]


@contextmanager
def fresh() -> Iterator[None]:
    """Inside it, `refresh` does nothing: for a reader that refreshed once and then
    reads many figures (a trend reads one per day)."""
    token = _fresh.set(True)
    try:
        yield
    finally:
        _fresh.reset(token)


_fresh: ContextVar[bool] = ContextVar("rollups_fresh", default=False)


class Mark(NamedTuple):
    """How far the rollups have read a source: every id up to `last_id` (committed for
    sure), and `seen` more past it up to `seen_id`."""

    last_id: int = 0
    seen_id: int = 0
    seen: int = 0


async def refresh(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Bring the rollups up to date with the raw rows; the number of conversations
    computed again."""
    if _fresh.get():
        return 0
    async with sessions() as session:
        marks = await _marks(session)
        if not marks:
            # Never built (a store from before the rollups): build it all at once.
            return await rebuild(sessions, clear=False)
        if not await _unread(session, marks):
            return 0
    async with sessions.begin() as session:
        await _lock(session)
        marks = await _marks(session)
        dirty: set[int] = set()
        settled = now() - SETTLING
        sqlite = session.bind.dialect.name == "sqlite"
        presence_since = 0
        for source, (model, timed) in SOURCES.items():
            mark = marks.get(source, Mark())
            rows = (
                await session.execute(
                    select(model.id, model.conversation_id, timed).where(model.id > mark.last_id)
                )
            ).all()
            # Rows read last time are read again only if one committed late among them.
            late = sum(1 for row_id, _, _ in rows if row_id <= mark.seen_id) != mark.seen
            since = mark.last_id if late else mark.seen_id
            if source == "events":
                presence_since = since
            dirty.update(
                conversation
                for row_id, conversation, _ in rows
                if conversation is not None and row_id > since
            )
            done = [row_id for row_id, _, at in rows if sqlite or aware(at) < settled]
            last_id = max(done, default=mark.last_id)
            seen_id = max((row_id for row_id, _, _ in rows), default=mark.seen_id)
            seen = sum(1 for row_id, _, _ in rows if last_id < row_id <= seen_id)
            await _mark(session, source, Mark(last_id, max(seen_id, last_id), seen))
        agents = set(
            await session.scalars(
                select(Event.agent_id).where(Event.kind == PRESENCE, Event.id > presence_since)
            )
        )
        conversations = await widen(session, dirty)
        await replace(session, await facts_of(session, conversations))
        await replace_presence(session, agents)
    return len(conversations)


async def _unread(session: AsyncSession, marks: dict[str, Mark]) -> bool:
    """Whether any source has rows the rollups have not read: past the last seen, or
    committed late among those seen (read without the lock, in one query)."""
    checks: list[ColumnElement[bool]] = []
    for source, (model, _) in SOURCES.items():
        mark = marks.get(source, Mark())
        checks.append(exists().where(model.id > mark.seen_id))
        if mark.seen_id != mark.last_id:
            seen = (
                select(func.count())
                .where(model.id > mark.last_id, model.id <= mark.seen_id)
                .scalar_subquery()
            )
            checks.append(seen != mark.seen)
    return bool(await session.scalar(select(or_(*checks))))


async def _marks(session: AsyncSession) -> dict[str, Mark]:
    return {
        source: Mark(last_id, seen_id, seen)
        for source, last_id, seen_id, seen in (
            await session.execute(
                select(RollupMark.source, RollupMark.last_id, RollupMark.seen_id, RollupMark.seen)
            )
        ).all()
    }


async def _ensure(session: AsyncSession, source: str) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(RollupMark)
        .values(source=source, last_id=0, seen_id=0, seen=0)
        .on_conflict_do_nothing(index_elements=["source"])
    )


async def _mark(session: AsyncSession, source: str, mark: Mark) -> None:
    await _ensure(session, source)
    await session.execute(
        update(RollupMark).where(RollupMark.source == source).values(**mark._asdict())
    )


async def _lock(session: AsyncSession) -> None:
    """One refresh at a time: the lock row's update waits for any other's commit."""
    await _ensure(session, LOCK)
    await session.execute(
        update(RollupMark).where(RollupMark.source == LOCK).values(refreshed_at=now())
    )


async def replace(session: AsyncSession, facts: Facts) -> None:
    """Replace the conversations' rollup rows with `facts`."""
    for part in chunks(facts.conversations):
        for table in TABLES:
            await session.execute(delete(table).where(table.conversation_id.in_(part)))
    for table, rows in (
        (SessionFact, facts.sessions),
        (SessionIntent, facts.intents),
        (EpisodeFact, facts.episodes),
        (ResolveFact, facts.resolves),
        (HoldFact, facts.holds),
        (ContactFact, facts.contacts),
    ):
        await _insert(session, table, rows)


async def _insert(session: AsyncSession, table: Any, rows: list[Any]) -> None:
    for values in _batches([_values(row) for row in rows]):
        await session.execute(insert(table), values)


async def replace_presence(session: AsyncSession, agents: set[int | None]) -> None:
    """Replace the agents' status timelines."""
    chosen = {agent for agent in agents if agent is not None}
    for part in chunks(chosen):
        await session.execute(delete(PresenceFact).where(PresenceFact.agent_id.in_(part)))
    await _insert(session, PresenceFact, await presence(session, chosen))


def _values(row: Any) -> dict[str, Any]:
    return {
        column.key: getattr(row, column.key)
        for column in row.__table__.columns
        if getattr(row, column.key) is not None or not column.primary_key
    }


def _batches(rows: list[dict[str, Any]], size: int = 1000) -> Iterator[list[dict[str, Any]]]:
    for first in range(0, len(rows), size):
        yield rows[first : first + size]


async def rebuild(
    sessions: async_sessionmaker[AsyncSession],
    progress: Progress | None = None,
    clear: bool = True,
) -> int:
    """Compute every rollup row again from the raw rows: the number of conversations.
    With `clear` (the command) the tables start empty, and figures read meanwhile see
    them part rebuilt. The marks are set only once every row is there: a store never
    built shows none until then, so a reader meanwhile builds it too rather than read
    a part as the whole."""
    started = now()
    async with sessions.begin() as session:
        await _lock(session)
        if clear:
            for table in (*TABLES, PresenceFact):
                await session.execute(delete(table))
        await replace_presence(
            session,
            set(await session.scalars(select(Event.agent_id).where(Event.kind == PRESENCE))),
        )
        # A customer's conversations in one step, since each reads the others.
        ordered = (
            (
                await session.execute(
                    select(Conversation.id).order_by(Conversation.customer_id, Conversation.id)
                )
            )
            .scalars()
            .all()
        )
    done = 0
    for step in await _customer_steps(sessions, list(ordered)):
        async with sessions.begin() as session:
            # One writer at a time, as a refresh (two builds at once never interleave
            # a conversation's rows).
            await _lock(session)
            await replace(session, await facts_of(session, await widen(session, set(step))))
        done += len(step)
        if progress is not None:
            progress(done, len(ordered))
    if sessions.kw["bind"].dialect.name == "postgresql":
        # Fresh statistics of the rebuilt tables, or the planner guesses.
        async with sessions.begin() as session:
            for table in (*TABLES, PresenceFact):
                await session.execute(text(f"ANALYZE {table.__tablename__}"))
    # Rows written while it ran, and on PostgreSQL the last minute's, are read again.
    async with sessions.begin() as session:
        for source, (model, timed) in SOURCES.items():
            before = int(
                await session.scalar(select(func.max(model.id)).where(timed < started - SETTLING))
                or 0
            )
            await _mark(session, source, Mark(before, before, 0))
    await refresh(sessions)
    return len(ordered)


async def _customer_steps(
    sessions: async_sessionmaker[AsyncSession], ordered: list[int]
) -> list[list[int]]:
    """The conversations in steps of about `REBUILD_STEP`, never splitting one
    customer's."""
    async with sessions() as session:
        customer_of: dict[int, int | None] = {
            conversation: customer
            for conversation, customer in await session.execute(
                select(Conversation.id, Conversation.customer_id)
            )
        }
    steps: list[list[int]] = [[]]
    for conversation in ordered:
        current = steps[-1]
        customer = customer_of.get(conversation)
        if len(current) >= REBUILD_STEP and (
            customer is None or customer != customer_of.get(current[-1])
        ):
            steps.append(current := [])
        current.append(conversation)
    return [step for step in steps if step]
