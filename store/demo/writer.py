"""Writing the demo data: `generate()` adds customers to a store, batch by batch
in transactions of their own, and `main()` is its command line."""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from store.db import create_engine, migrate_async
from store.demo.fixed_customers import DEMO_CUSTOMERS
from store.demo.generator import Generator
from store.demo.history_writer import write_history
from store.demo.rows import TABLES
from store.models import Base, Conversation, Customer, InsuredMember

BATCH = 10_000  # customers per transaction
PROGRESS_EVERY = 20_000


async def _first_ids(conn) -> dict[str, int]:
    ids = {}
    for table in TABLES:
        ids[table.name] = ((await conn.scalar(select(func.max(table.c.id)))) or 0) + 1
    return ids


async def _id_cards_in_use(conn) -> set[str]:
    taken = set(await conn.scalars(select(Customer.__table__.c.id_card_number)))
    taken.update(await conn.scalars(select(InsuredMember.__table__.c.id_card_number)))
    return taken


async def _after_bulk_load(engine: AsyncEngine) -> None:
    """On PostgreSQL, move each table's id sequence past the ids written here (they are
    given explicitly), so that the desk's own inserts do not collide with them, and
    gather the tables' statistics: without them the planner guesses, and a season's
    figures took seconds instead of milliseconds."""
    if engine.dialect.name != "postgresql":
        return
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
        for table in Base.metadata.sorted_tables:
            column = table.c.get("id")
            if column is None or not column.autoincrement or column.type.python_type is not int:
                continue
            await conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"coalesce(max(id), 0) + 1, false) FROM {table.name}"
                )
            )


async def generate(
    url: str,
    customers: int,
    seed: int = 7,
    progress: Callable[[str], Any] = print,
    *,
    if_empty: bool = False,
    history_days: int = 0,
    history_end: datetime | None = None,
    history_per_day: float | None = None,
) -> dict[str, int]:
    """Add `customers` demo customers, with their policies, insured members, claims and
    claim histories, to the store at `url` (migrated first), then `history_days` days
    of service history ending at `history_end` (now). Returns the rows added per table.
    With `if_empty`, adds nothing when the store already has customers."""
    started = time.perf_counter()
    counts = {table.name: 0 for table in TABLES}
    await migrate_async(url)
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            existing = await conn.scalar(select(func.count()).select_from(Customer.__table__))
            if if_empty and existing:
                progress(f"demo data: the store already has {existing:,} customers; nothing added")
                return counts
            first = await _first_ids(conn)
            taken = await _id_cards_in_use(conn) if existing else set()
        for spec in DEMO_CUSTOMERS.values():
            taken.add(spec["id_card_number"])
            for policy in spec["policies"]:
                taken.update(m["id_card_number"] for m in policy["members"])
        progress(f"demo data: generating {customers:,} customers (seed {seed})")
        # A run that appends draws from a stream of its own.
        rng = random.Random(f"health-desk demo data: seed {seed}, from {first['customers']}")
        gen = Generator(rng, first, taken)
        done = 0
        while done < customers:
            size = min(BATCH, customers - done)
            rows = gen.batch(first["customers"] + done, size)
            async with engine.begin() as conn:
                for table in TABLES:
                    if rows[table.name]:
                        await conn.execute(insert(table), rows[table.name])
                    counts[table.name] += len(rows[table.name])
            done += size
            if done % PROGRESS_EVERY == 0 and done < customers:
                elapsed = time.perf_counter() - started
                progress(f"  {done:,} / {customers:,} customers ({elapsed:.1f} s)")
        if history_days > 0:
            async with engine.connect() as conn:
                served = await conn.scalar(select(func.count()).select_from(Conversation.__table__))
            if served:
                # A second history would interleave with the store's own events.
                progress(f"demo data: the store already has {served:,} conversations; no history")
            else:
                progress(f"demo data: {history_days} days of service history")
                added = await write_history(
                    engine, seed, history_days, history_end, history_per_day
                )
                counts.update(added)
        await _after_bulk_load(engine)
    finally:
        await engine.dispose()
    elapsed = time.perf_counter() - started
    progress(
        "demo data: added "
        + ", ".join(f"{count:,} {name.replace('_', ' ')}" for name, count in counts.items())
        + f" in {elapsed:.1f} s"
    )
    for line in gen.demo:
        progress(line)
    return counts


async def _main(args: argparse.Namespace) -> None:
    await generate(
        args.database_url,
        args.customers,
        args.seed,
        print,
        if_empty=args.if_empty,
        history_days=args.history_days,
        history_per_day=args.history_contacts,
    )


def main(argv: list[str] | None = None, default_url: str | None = None) -> str:
    """The command line; `python -m web.demo` runs it on the settings' store. Returns
    the store's URL."""
    parser = argparse.ArgumentParser(
        prog="python -m web.demo", description="Add deterministic demo data to the store."
    )
    parser.add_argument("--customers", type=int, default=2000, help="how many (default 2000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--database-url",
        default=default_url,
        required=default_url is None,
        help="default: the settings' DATABASE_URL",
    )
    parser.add_argument(
        "--if-empty", action="store_true", help="do nothing when the store has customers"
    )
    parser.add_argument(
        "--history-days",
        type=int,
        default=90,
        help="days of service history ending now (default 90, 0 for none)",
    )
    parser.add_argument(
        "--history-contacts",
        type=float,
        default=None,
        help="contacts on a busy weekday (default: 7 per 100 customers, at most 600)",
    )
    args = parser.parse_args(argv)
    if args.customers < 0:
        parser.error("--customers must not be negative")
    if not 0 <= args.history_days <= 366:
        parser.error("--history-days must be from 0 to 366")
    asyncio.run(_main(args))
    return str(args.database_url)
