"""Shared fixtures: fresh databases (SQLite, and PostgreSQL where marked) and the real stack."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.db import create_engine, migrate, migrate_async, session_factory
from store.demo import generate
from web.stack import Stack

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """One SQLite file migrated to the head revision; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "desk.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path, migrated_sqlite) -> str:
    path = tmp_path / "desk.db"
    shutil.copyfile(migrated_sqlite, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A database of its own on the real PostgreSQL server, dropped afterwards."""
    name = f"hd_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    await migrate_async(url)
    yield url
    admin = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request) -> str:
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
async def sessions(database_url) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """Rasa, the action server and the console, over a small demo store."""
    workdir = tmp_path_factory.mktemp("stack")
    url = f"sqlite+aiosqlite:///{workdir / 'desk.db'}"
    asyncio.run(generate(url, customers=200, progress=lambda *_: None))
    running = Stack.start(workdir, url)
    yield running
    running.stop()
