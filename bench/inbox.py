"""The review inbox at size: 100,000 parsed customer messages (with their
conversations and messages), on SQLite and on PostgreSQL, and the time
`desk.training.inbox` takes to read page 1, a filtered page, a later page and a text
search (p50 and p95 over repeats). The target is under 300 ms each.

    .venv/bin/python bench/inbox.py [--messages 100000] [--repeats 20] [--only sqlite|postgres]

PostgreSQL: a database of its own on 127.0.0.1:5432 (user postgres, trust), created
and dropped by the run. The rows are written with bulk inserts, not through the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desk.training import inbox  # noqa: E402
from desk.training.inbox import InboxQuery  # noqa: E402
from store.db import create_engine, migrate_async, session_factory  # noqa: E402
from store.models import Conversation, ConversationState, Message, SenderKind  # noqa: E402
from store.workbench import ParsedMessage  # noqa: E402

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PER_CONVERSATION = 5
BATCH = 5_000
NOW = datetime(2026, 12, 1, tzinfo=UTC)
INTENTS = (
    "ask_claim_status",
    "ask_policy",
    "file_claim",
    "ask_claim_documents",
    "ask_advance_payment",
    "complain",
    "request_human",
    "request_callback",
    "ask_product",
    "inform",
    "faq",
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "out_of_scope",
)
ZH = ("我的理赔到哪了", "保单什么时候到期", "住院能垫付吗", "我要投诉", "等待期多久", "转人工")
EN = ("where is my claim", "when does my policy end", "can you pay the hospital", "agent please")
CHANNELS = ("web", "web", "wechat", "telegram", "app")
STATUSES = ("confirmed", "relabelled", "out_of_scope", "ignored")


def rows(n: int, rng: random.Random, first_message: int) -> dict[str, list[dict[str, Any]]]:
    conversations, messages, parsed = [], [], []
    for c in range(n // PER_CONVERSATION):
        conversation_id = c + 1
        channel = rng.choice(CHANNELS)
        language = "zh" if rng.random() < 0.7 else "en"
        conversations.append(
            {
                "id": conversation_id,
                "uid": uuid.UUID(int=rng.getrandbits(128)).hex,
                "channel": channel,
                "external_user_id": f"bench-{conversation_id}",
                "state": ConversationState.RESOLVED,
                "language": language,
                "team": "general",
                "priority": 0,
                "labels": [],
                "last_seq": PER_CONVERSATION,
                "customer_ack_seq": 0,
                "agent_ack_seq": 0,
                "delivered_seq": 0,
                "delivery_attempts": 0,
            }
        )
        for seq in range(1, PER_CONVERSATION + 1):
            message_id = first_message + len(messages)
            at = NOW - timedelta(minutes=rng.randint(0, 90 * 24 * 60))
            text = f"{rng.choice(ZH if language == 'zh' else EN)} {rng.randint(1, 99999)}"
            messages.append(
                {
                    "id": message_id,
                    "conversation_id": conversation_id,
                    "seq": seq,
                    "sender": SenderKind.CUSTOMER,
                    "text": text,
                    "payload": {},
                    "created_at": at,
                }
            )
            roll = rng.random()
            rank = 0 if roll < 0.03 else 1 if roll < 0.13 else 2 if roll < 0.18 else 9
            reviewed = rng.random() < 0.3
            intent = rng.choice(INTENTS)
            parsed.append(
                {
                    "message_id": message_id,
                    "conversation_id": conversation_id,
                    "seq": seq,
                    "channel": channel,
                    "language": language,
                    "text": text,
                    "intent": intent,
                    "confidence": round(rng.random(), 3),
                    "runner_up": rng.choice(INTENTS),
                    "runner_up_confidence": round(rng.random() / 2, 3),
                    "faq_topic": "faq/waiting_period" if intent == "faq" else None,
                    "fallback": rank == 0,
                    "rank": rank,
                    "status": rng.choice(STATUSES) if reviewed else "new",
                    "reviewed": reviewed,
                    "held_out": False,
                    "at": at,
                }
            )
    return {"conversations": conversations, "messages": messages, "parsed_messages": parsed}


async def fill(url: str, n: int) -> float:
    started = time.perf_counter()
    await migrate_async(url)
    engine = create_engine(url)
    data = rows(n, random.Random(7), 1)
    async with engine.begin() as conn:
        for model, key in (
            (Conversation, "conversations"),
            (Message, "messages"),
            (ParsedMessage, "parsed_messages"),
        ):
            table = model.__table__
            for start in range(0, len(data[key]), BATCH):
                await conn.execute(insert(table), data[key][start : start + BATCH])
        if url.startswith("postgresql"):
            await conn.exec_driver_sql("ANALYZE")
    await engine.dispose()
    return time.perf_counter() - started


CASES: dict[str, InboxQuery] = {
    "page 1": InboxQuery(),
    "filtered page": InboxQuery(
        intent="ask_claim_status",
        language="zh",
        channel="web",
        since=(NOW - timedelta(days=30)).date(),
        min_confidence=0.2,
        max_confidence=0.8,
    ),
    "page 200 (rows 9,951-10,000)": InboxQuery(page=200),
    "search (common word)": InboxQuery(q="理赔", status="all"),
    "search (rare: no match)": InboxQuery(q="没有这句话", status="all"),
}


async def timed(work: Callable[[], Awaitable[Any]], repeats: int) -> tuple[float, float]:
    await work()  # warm
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await work()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * len(times)) - 1)]


async def measure(url: str, repeats: int) -> dict[str, tuple[float, float]]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    found: dict[str, tuple[float, float]] = {}
    try:
        for name, query in CASES.items():
            found[name] = await timed(lambda q=query: inbox.listing(sessions, q), repeats)
        found["status counts (page header)"] = await timed(lambda: inbox.counts(sessions), repeats)
        found["intents seen (page filter)"] = await timed(
            lambda: inbox.intents_seen(sessions), repeats
        )
    finally:
        await engine.dispose()
    return found


async def on_sqlite(n: int, repeats: int) -> tuple[float, dict[str, tuple[float, float]]]:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        filled = await fill(url, n)
        return filled, await measure(url, repeats)


async def on_postgres(n: int, repeats: int) -> tuple[float, dict[str, tuple[float, float]]]:
    name = f"hd_bench_inbox_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        filled = await fill(url, n)
        return filled, await measure(url, repeats)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main(args: argparse.Namespace) -> None:
    runs = {"sqlite": on_sqlite, "postgres": on_postgres}
    chosen = [args.only] if args.only else list(runs)
    results = {}
    for store in chosen:
        filled, found = await runs[store](args.messages, args.repeats)
        print(f"{store}: {args.messages:,} parsed messages written in {filled:.1f} s")
        results[store] = found
    print()
    header = f"{'query':32}" + "".join(f"{s + ' p50':>14}{s + ' p95':>14}" for s in chosen)
    print(header)
    for case in next(iter(results.values())):
        line = f"{case:32}"
        for store in chosen:
            p50, p95 = results[store][case]
            line += f"{p50:>11.1f} ms{p95:>11.1f} ms"
        print(line)
    worst = max(p95 for found in results.values() for _, p95 in found.values())
    print(f"\nslowest p95: {worst:.1f} ms (target: under 300 ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    asyncio.run(main(parser.parse_args()))
