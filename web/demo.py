"""`python -m web.demo`: deterministic demo data in the store the settings name, with
the analytics' rollups brought up to date with it."""

from __future__ import annotations

import asyncio

from desk.analytics.rollups import refresh
from desk.settings import get_settings
from store.db import create_engine, session_factory
from store.demo import main


async def _refresh(url: str) -> None:
    engine = create_engine(url)
    print("demo data: bringing the analytics rollups up to date ...", flush=True)
    try:
        built = await refresh(session_factory(engine))
    finally:
        await engine.dispose()
    print(f"demo data: analytics rollups for {built:,} conversations computed")


if __name__ == "__main__":
    asyncio.run(_refresh(main(default_url=get_settings().database_url)))
