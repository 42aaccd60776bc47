"""The supervisors' figures at size: a store with N days of generated service history
(the demo generator's, in the insurer's shape), on SQLite and on PostgreSQL, and the
time each analytics query takes for the last 7 days and the whole history (p50 and
p95 over repeats). The target is a p95 under 300 ms for a 90-day range.

    .venv/bin/python bench/analytics.py [--contacts-per-day 1100] [--days 90]
        [--customers 5000] [--repeats 5] [--only sqlite|postgres]

The defaults write about 100,000 conversations (with their messages, parsed
messages and events), then time the rebuild of the rollups the figures read, the
figures, and a refresh after a minute of a busy desk's new events (50 a second).
PostgreSQL: a database of its own on 127.0.0.1:5432 (user postgres, trust), created
and dropped by the run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desk.analytics.agents import agent_metrics  # noqa: E402
from desk.analytics.bot import bot_metrics  # noqa: E402
from desk.analytics.casework import casework_metrics  # noqa: E402
from desk.analytics.claims import claims_metrics  # noqa: E402
from desk.analytics.contacts import contacts_metrics  # noqa: E402
from desk.analytics.drilldown import DrillQuery, drilldown  # noqa: E402
from desk.analytics.forms import form_metrics  # noqa: E402
from desk.analytics.funnel import funnel  # noqa: E402
from desk.analytics.outcome import OutcomeQuery, outcome_metrics  # noqa: E402
from desk.analytics.queue import QueueQuery, queue_metrics  # noqa: E402
from desk.analytics.ranges import RangeQuery  # noqa: E402
from desk.analytics.resolution import resolution_metrics  # noqa: E402
from desk.analytics.rollups import rebuild, refresh  # noqa: E402
from desk.analytics.tags import TAGS  # noqa: E402
from desk.analytics.trends import TrendQuery, trend  # noqa: E402
from desk.inputs import read  # noqa: E402
from store.db import create_engine, session_factory  # noqa: E402
from store.demo import generate  # noqa: E402
from store.models import (  # noqa: E402
    Agent,
    AgentRole,
    Conversation,
    Event,
    Message,
    SenderKind,
)

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
# Each endpoint's query body, its function, and what it asks beyond the range.
QUERIES: dict[str, tuple[type, Callable[..., Awaitable[Any]], dict[str, str]]] = {
    "queue": (QueueQuery, queue_metrics, {}),
    "agents": (QueueQuery, agent_metrics, {}),
    "bot": (QueueQuery, bot_metrics, {}),
    "forms": (QueueQuery, form_metrics, {}),
    "resolution": (QueueQuery, resolution_metrics, {}),
    "funnel": (QueueQuery, funnel, {}),
    "contacts": (QueueQuery, contacts_metrics, {}),
    "outcome": (OutcomeQuery, outcome_metrics, {}),
    "casework": (RangeQuery, casework_metrics, {}),
    "claims": (QueueQuery, claims_metrics, {}),
    "trend (SL)": (TrendQuery, trend, {"metric": "service_level"}),
    "trend (bot)": (TrendQuery, trend, {"metric": "containment"}),
    "drill-down": (DrillQuery, drilldown, {"of": "queue", "part": "missed_target"}),
}
# The same figures under filters: several values of several filters, and every
# customer tag (the tags are worked out by the store, for every customer, per figure).
FILTERED: dict[str, tuple[Callable[..., Awaitable[Any]], dict[str, Any]]] = {
    "queue, 3 filters": (
        queue_metrics,
        {"channel": ["web", "wechat"], "language": "zh", "intent": "ask_claim_status"},
    ),
    "queue, tags": (queue_metrics, {"tag": list(TAGS)}),
    "bot, tags": (bot_metrics, {"tag": list(TAGS)}),
    "contacts, tags": (contacts_metrics, {"tag": list(TAGS)}),
    "outcome, tags": (outcome_metrics, {"tag": list(TAGS), "language": "zh"}),
}


async def measure(url: str, days: int, repeats: int, end: date) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    reader = Agent(
        username="bench", display_name="bench", role=AgentRole.SUPERVISOR, password_hash=""
    )
    async with sessions() as session:
        sizes = [
            await session.scalar(select(func.count()).select_from(table))
            for table in (Conversation, Message, Event)
        ]
    print(f"  {sizes[0]:,} conversations, {sizes[1]:,} messages, {sizes[2]:,} events")
    try:
        for span in (7, days):
            first = end - timedelta(days=span - 1)
            week = {"start": first.isoformat(), "end": end.isoformat()}
            for name, (body, figures, extra) in [
                *QUERIES.items(),
                *((name, (QueueQuery, figures, {})) for name, (figures, _) in FILTERED.items()),
            ]:
                query = read(body, {**week, **extra, **FILTERED.get(name, (None, {}))[1]})
                times = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    await figures(sessions, reader, query)
                    times.append((time.perf_counter() - started) * 1000)
                times.sort()
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                print(
                    f"  {span:>3} days  {name:<17} p50 {statistics.median(times):7.0f} ms"
                    f"  p95 {p95:7.0f} ms"
                )
    finally:
        await engine.dispose()


async def keeping_up(url: str, events: int, per_second: float) -> None:
    """Write `events` new events (with their conversations and customer messages) as a
    desk taking `per_second` would over `events / per_second` seconds, then time the
    refresh that brings the rollups up to date with them."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        agent = await session.scalar(select(Agent.id).where(Agent.role == AgentRole.AGENT))
    # Each conversation: created, handoff, assigned, first reply, resolved, csat.
    conversations = events // 6
    now = datetime.now(UTC) - timedelta(minutes=5)
    async with sessions.begin() as session:
        for n in range(conversations):
            at = now + timedelta(seconds=n * 6 / per_second)
            conversation = Conversation(channel="web", external_user_id=f"bench-{uuid.uuid4()}")
            session.add(conversation)
            await session.flush()
            handoff = Event(
                at=at + timedelta(seconds=40),
                kind="handoff",
                conversation_id=conversation.id,
                data={"team": "general", "channel": "web", "reason": "customer_request"},
            )
            session.add_all(
                [
                    Event(at=at, kind="created", conversation_id=conversation.id),
                    Message(
                        conversation_id=conversation.id,
                        seq=1,
                        sender=SenderKind.CUSTOMER,
                        text="转人工",
                        created_at=at + timedelta(seconds=30),
                    ),
                    handoff,
                ]
            )
            await session.flush()
            session.add_all(
                [
                    Event(
                        at=at + timedelta(seconds=45),
                        kind="assigned",
                        conversation_id=conversation.id,
                        agent_id=agent,
                    ),
                    Event(
                        at=at + timedelta(seconds=52),
                        kind="first_agent_reply",
                        conversation_id=conversation.id,
                        agent_id=agent,
                        data={"handoff_id": handoff.id, "wait_seconds": 12.0},
                    ),
                    Event(
                        at=at + timedelta(minutes=4),
                        kind="resolved",
                        conversation_id=conversation.id,
                        agent_id=agent,
                        data={"by": "agent", "reason": "answered"},
                    ),
                    Event(
                        at=at + timedelta(minutes=5),
                        kind="csat",
                        conversation_id=conversation.id,
                        agent_id=agent,
                        data={"score": 5},
                    ),
                ]
            )
    started = time.perf_counter()
    computed = await refresh(sessions)
    took = time.perf_counter() - started
    await engine.dispose()
    print(
        f"  refresh after {conversations * 6:,} new events ({conversations:,} conversations,"
        f" {conversations * 6 / per_second:.0f} s at {per_second:.0f} events/s):"
        f" {computed:,} conversations in {took:.2f} s, keeping up with"
        f" {conversations * 6 / took:,.0f} events/s"
    )


async def run(name: str, url: str, arguments: argparse.Namespace, end: datetime) -> None:
    print(f"{name}: writing {arguments.days} days of history ...", flush=True)
    started = time.perf_counter()
    await generate(
        url,
        customers=arguments.customers,
        progress=lambda *_: None,
        history_days=arguments.days,
        history_end=end,
        history_per_day=arguments.contacts_per_day,
    )
    print(f"  written in {time.perf_counter() - started:.0f} s")
    engine = create_engine(url)
    started = time.perf_counter()
    built = await rebuild(session_factory(engine))
    await engine.dispose()
    print(f"  rollups rebuilt for {built:,} conversations in {time.perf_counter() - started:.0f} s")
    await measure(url, arguments.days, arguments.repeats, end.date())
    await keeping_up(url, events=3000, per_second=50)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts-per-day", type=float, default=1100)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    arguments = parser.parse_args()
    end = datetime.now(UTC)
    if arguments.only != "postgres":
        with tempfile.TemporaryDirectory() as folder:
            await run("SQLite", f"sqlite+aiosqlite:///{folder}/bench.db", arguments, end)
    if arguments.only != "sqlite":
        database = f"bench_analytics_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(POSTGRES_ADMIN)
        await admin.execute(f'CREATE DATABASE "{database}"')
        try:
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
            await run("PostgreSQL", url, arguments, end)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
