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


async def _on_postgres(statement: str) -> None:
    admin = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


def _postgres_url(name: str) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


@pytest.fixture(scope="session")
async def postgres_template() -> AsyncIterator[str]:
    """One database migrated to the head revision (per test process); each test
    gets a copy (CREATE DATABASE ... TEMPLATE), which costs far less than migrating."""
    name = f"hd_template_{uuid.uuid4().hex[:12]}"
    await _on_postgres(f'CREATE DATABASE "{name}"')
    await migrate_async(_postgres_url(name))
    yield name
    await _on_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def postgres_url(postgres_template) -> AsyncIterator[str]:
    """A database of its own on the real PostgreSQL server, dropped afterwards."""
    name = f"hd_test_{uuid.uuid4().hex[:12]}"
    await _on_postgres(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield _postgres_url(name)
    await _on_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
