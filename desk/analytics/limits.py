"""How long a figure may read the store: past the limit its statements are cancelled
in the store, not merely abandoned by the request (an abandoned SQLite statement
would go on running in its connection's thread, holding the store).

PostgreSQL's driver (asyncpg) cancels the statement on the server when the task
awaiting it is cancelled; SQLite's runs in a thread of its own, which is told to
stop with `interrupt()`. The connections a figure uses are those checked out of a
pool while it runs (SQLAlchemy carries the context into its greenlets)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.pool import Pool

T = TypeVar("T")

_used: ContextVar[list[Any] | None] = ContextVar("figure_connections", default=None)


@event.listens_for(Pool, "checkout")
def _remember(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    used = _used.get()
    if used is not None:
        used.append(dbapi_connection)
        record.info["figure_connections"] = used


@event.listens_for(Pool, "checkin")
def _forget(dbapi_connection: Any, record: Any) -> None:
    # Back in the pool, it may serve another request: never interrupt that one's.
    used = record.info.pop("figure_connections", None)
    if used is not None and dbapi_connection in used:
        used.remove(dbapi_connection)


def _interrupt(dbapi_connection: Any) -> None:
    driver = getattr(dbapi_connection, "driver_connection", None)
    # aiosqlite's sqlite3 connection (SQLAlchemy's own adapter reaches it the same way)
    sqlite = getattr(driver, "_connection", None)
    if sqlite is not None and hasattr(sqlite, "interrupt"):
        sqlite.interrupt()


def _interrupt_all(used: list[Any]) -> None:
    for connection in list(used):
        _interrupt(connection)


async def within(seconds: float, work: Awaitable[T]) -> T:
    """`work`'s result, or TimeoutError past `seconds`, its statements cancelled."""
    used: list[Any] = []
    token = _used.set(used)
    # Interrupted at the deadline, before the timeout cancels the work: the work's
    # cleanup (a rollback) waits behind its statement in SQLite's thread.
    stop = asyncio.get_running_loop().call_later(seconds, _interrupt_all, used)
    try:
        async with asyncio.timeout(seconds):
            return await work
    finally:
        stop.cancel()
        _used.reset(token)
