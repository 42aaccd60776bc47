"""`python -m web.rollups`: compute the analytics' rollups again from the raw events,
messages and casework of the store the settings name (or `--database-url`). The
console keeps them up to date on its own; this is for checking them, or after rows
were written behind its back."""

from __future__ import annotations

import argparse
import asyncio
import time

from desk.analytics.rollups import rebuild
from desk.settings import get_settings
from store.db import create_engine, migrate_async, session_factory


async def rebuild_store(url: str) -> int:
    await migrate_async(url)
    engine = create_engine(url)
    started = time.perf_counter()
    last = [0.0]

    def progress(done: int, whole: int) -> None:
        if done == whole or time.perf_counter() - last[0] > 5:
            last[0] = time.perf_counter()
            print(f"  {done:,} / {whole:,} conversations ({last[0] - started:.0f} s)", flush=True)

    try:
        print("rollups: computing them again from the raw rows", flush=True)
        built = await rebuild(session_factory(engine), progress)
    finally:
        await engine.dispose()
    print(f"rollups: {built:,} conversations in {time.perf_counter() - started:.1f} s")
    return built


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m web.rollups", description=__doc__)
    parser.add_argument(
        "--database-url",
        default=get_settings().database_url,
        help="default: the settings' DATABASE_URL",
    )
    args = parser.parse_args(argv)
    asyncio.run(rebuild_store(args.database_url))


if __name__ == "__main__":
    main()
