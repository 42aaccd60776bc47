"""The demo history: deterministic, inside its range, and in the seed's shape as the
real metric queries read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from desk.analytics.agents import agent_metrics
from desk.analytics.bot import bot_metrics
from desk.analytics.claims import claims_metrics
from desk.analytics.queue import QueueQuery, queue_metrics
from desk.analytics.resolution import resolution_metrics
from desk.inputs import read
from store.db import create_engine
from store.demo import CST, generate, main
from store.demo.history import HISTORY_TABLES
from store.models import Agent, Base

END = datetime(2027, 3, 10, 7, 30, 15, 250_000, tzinfo=UTC)
DAYS = 14


def quiet(*_):
    pass


async def _history(url: str, days: int = DAYS) -> dict[str, list[tuple]]:
    await generate(url, 200, progress=quiet, history_days=days, history_end=END)
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                name: [
                    tuple(row)
                    for row in await conn.execute(
                        select(Base.metadata.tables[name]).order_by(Base.metadata.tables[name].c.id)
                    )
                ]
                for name in HISTORY_TABLES
            }
    finally:
        await engine.dispose()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def test_the_same_seed_gives_the_same_history(tmp_path):
    first = await _history(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}")
    second = await _history(f"sqlite+aiosqlite:///{tmp_path / 'two.db'}")
    assert first == second
    assert all(first[name] for name in HISTORY_TABLES)


async def test_no_history_days_means_no_history(tmp_path):
    rows = await _history(f"sqlite+aiosqlite:///{tmp_path / 'none.db'}", days=0)
    assert not rows["conversations"] and not rows["events"]


async def test_events_fall_in_the_range_numbered_in_time_order(database_url):
    await generate(database_url, 200, progress=quiet, history_days=DAYS, history_end=END)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            events = (await conn.execute(select(Base.metadata.tables["events"]))).all()
            messages = (await conn.execute(select(Base.metadata.tables["messages"]))).all()
    finally:
        await engine.dispose()
    since = END - timedelta(days=DAYS)
    ats = [_aware(e.at) for e in sorted(events, key=lambda e: e.id)]
    assert all(since <= at <= END for at in ats)
    assert ats == sorted(ats)
    assert any(at.microsecond for at in ats)  # timed to the microsecond, as the desk does
    assert all(since <= _aware(m.created_at) <= END for m in messages)
    kinds = {e.kind for e in events}
    expected = {"created", "bot_reply", "handoff", "assigned", "first_agent_reply"}
    assert expected | {"resolved", "csat", "presence", "claim_filed"} <= kinds


async def test_the_figures_are_in_the_seeds_shape(database_url, sessions):
    # Enough customers for the shares to be steady (about 70 contacts a day).
    await generate(database_url, 1000, progress=quiet, history_days=DAYS, history_end=END)
    async with sessions() as session:
        reader = await session.scalar(select(Agent).where(Agent.username == "supervisor1"))
    assert reader is not None
    last = END.astimezone(CST).date() - timedelta(days=1)  # whole days only
    query = read(QueueQuery, {"start": str(last - timedelta(days=DAYS - 2)), "end": str(last)})

    queue = await queue_metrics(sessions, reader, query)
    assert queue["handoffs"] > 50
    assert queue["service_level"] >= 0.9
    assert queue["abandoned"] > 0
    assert queue["asa"]["mean"] < 5

    bot = await bot_metrics(sessions, reader, query, at=END)
    assert 0.5 <= bot["containment"] <= 0.95
    assert bot["durable_containment"] <= bot["containment"]
    assert bot["left_mid_form"] > 0
    assert {"complaint", "customer_request", "fallback"} <= set(bot["handoffs_by_reason"])

    agents = await agent_metrics(sessions, reader, query)
    general = next(t for t in agents["teams"] if t["team"] == "general")
    assert general["handled"] > 0 and general["online_seconds"] > 0
    assert 0 < general["occupancy"] < 1

    resolution = await resolution_metrics(sessions, reader, query, at=END)
    assert resolution["settled"] > 0
    assert 0.7 <= resolution["fcr"] < 1

    claims = await claims_metrics(sessions, reader, query)
    assert claims["submitted"] > 10
    assert claims["self_service_share"] >= 0.9
    assert 0.65 <= claims["first_time_success"] <= 0.95
    assert claims["cycle_seconds"]["fastest"] >= 27 * 60
    assert claims["cycle_seconds"]["mean"] < 3 * 86400
    assert claims["advance_payments"]["requested"] > 0


@pytest.mark.parametrize("days", ["-1", "367"])
def test_the_command_refuses_history_days_out_of_range(days, capsys):
    with pytest.raises(SystemExit):
        main(["--history-days", days, "--database-url", "sqlite+aiosqlite:///unused.db"])
    assert "--history-days must be from 0 to 366" in capsys.readouterr().err


async def test_a_store_with_conversations_gets_no_second_history(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'again.db'}"
    first = await generate(url, 50, progress=quiet, history_days=3, history_end=END)
    assert first["conversations"] > 0
    lines: list[str] = []
    added = await generate(url, 50, progress=lines.append, history_days=3, history_end=END)
    assert added["customers"] == 50
    assert "conversations" not in added
    assert any("no history" in line for line in lines)
