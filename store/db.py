"""One engine and one session factory per process; migrations through Alembic."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def create_engine(url: str, **kwargs) -> AsyncEngine:
    """An async engine; SQLite files get WAL and a busy timeout, since the
    gateway and the action server write to the same file."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def insert_if_absent(
    session: AsyncSession, model: Any, values: dict[str, Any], unique: list[str]
) -> int | None:
    """`INSERT ... ON CONFLICT DO NOTHING`: the new row's id, or None when a row with
    the same `unique` columns exists, or is being inserted by another transaction at
    this moment (the database waits for that one to finish). Safe across processes on
    SQLite and PostgreSQL alike, without the savepoints that pysqlite handles badly."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(model).values(**values).on_conflict_do_nothing(index_elements=unique)
    ).returning(model.id)
    return await session.scalar(statement)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema (creating it if needed)."""
    command.upgrade(alembic_config(url), "head")


async def migrate_async(url: str) -> None:
    # Alembic's env.py runs its own event loop; keep it off ours.
    await asyncio.to_thread(migrate, url)
