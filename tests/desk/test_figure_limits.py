"""A figure past its time limit has its statements cancelled in the store (SQLite and
PostgreSQL), not merely abandoned: a statement that would never end stops, and the
store is free again."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from desk.analytics.limits import within
from store.db import create_engine, session_factory

# A statement that never ends on its own.
FOREVER = {
    "sqlite": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
    "SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(3600)",
}


async def test_a_figure_past_its_limit_is_stopped_in_the_store(database_url):
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    dialect = engine.dialect.name

    async def figure() -> None:
        async with sessions() as session:
            await session.execute(text(FOREVER[dialect]))

    with pytest.raises(TimeoutError):
        await within(0.2, figure())
    if dialect == "postgresql":
        # the server is no longer running it (asked again until it says so, bounded)
        async with sessions() as session:
            for _ in range(100):
                running = await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                        " AND query LIKE 'SELECT pg_sleep(3600)%'"
                    )
                )
                if not running:
                    break
                await asyncio.sleep(0.1)
            assert running == 0
    # Closing waits for each connection's statement: one still running would hold it
    # (SQLite's runs on in its thread) until the bound below.
    await asyncio.wait_for(engine.dispose(), 30)


async def test_within_its_limit_a_figure_is_answered(database_url):
    engine = create_engine(database_url)
    sessions = session_factory(engine)

    async def figure() -> int:
        async with sessions() as session:
            return int(await session.scalar(text("SELECT 41 + 1")) or 0)

    assert await within(30, figure()) == 42
    await engine.dispose()
