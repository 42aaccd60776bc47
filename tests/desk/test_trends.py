"""Trends: a figure day by day beside the period before, each day computed by the
figure's own query (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from desk.analytics.queue import DEFAULT_TARGETS, queue_metrics
from desk.analytics.trends import GROUPED, METRICS, TrendQuery, figure_value, trend
from desk.errors import DeskError
from desk.inputs import read
from store.demo import generate
from store.models import AgentRole
from tests.desk.test_conversations import make_agent
from tests.desk.test_queue_metrics import MORNING, episode

DAYS = {"start": "2026-12-01", "end": "2026-12-03"}
BOT = ("bot_sessions", "containment", "durable_containment", "fallback_rate")


async def test_the_service_level_day_by_day_beside_the_period_before(sessions):
    boss = await make_agent(sessions, "boss", AgentRole.SUPERVISOR, "general")
    await episode(sessions, 0, waited=3)
    await episode(sessions, 1, waited=40)
    await episode(sessions, 2, waited=5, at=MORNING + timedelta(days=1))
    await episode(sessions, 3, waited=50, at=MORNING - timedelta(days=1))
    figures = await trend(sessions, boss, read(TrendQuery, {**DAYS, "metric": "service_level"}))
    assert figures["points"] == [
        {"day": "2026-12-01", "value": 0.5},
        {"day": "2026-12-02", "value": 1.0},
        {"day": "2026-12-03", "value": None},
    ]
    assert [p["day"] for p in figures["previous"]] == ["2026-11-28", "2026-11-29", "2026-11-30"]
    assert [p["value"] for p in figures["previous"]] == [None, None, 0.0]
    assert (figures["period"], figures["previous_period"]) == (round(2 / 3, 4), 0.0)
    # the period's figure is the figure's own query over the whole range
    whole = await queue_metrics(sessions, boss, read(TrendQuery, {**DAYS, "metric": "handoffs"}))
    handoffs = await trend(sessions, boss, read(TrendQuery, {**DAYS, "metric": "handoffs"}))
    assert handoffs["period"] == whole["handoffs"] == 3
    assert [p["value"] for p in handoffs["points"]] == [2, 1, 0]


async def test_every_metric_has_a_trend_and_unknown_ones_are_refused(sessions):
    boss = await make_agent(sessions, "boss2", AgentRole.SUPERVISOR, "general")
    one_day = {"start": "2026-12-01", "end": "2026-12-01"}
    for metric in METRICS:
        figures = await trend(sessions, boss, read(TrendQuery, {**one_day, "metric": metric}))
        assert len(figures["points"]) == 1, metric
    with pytest.raises(DeskError) as unknown:
        await trend(sessions, boss, read(TrendQuery, {**one_day, "metric": "happiness"}))
    assert (unknown.value.code, unknown.value.status) == ("unknown_metric", 400)


async def test_the_grouped_days_equal_each_days_own_figure(database_url, sessions):
    """The queue's and the bot's trends read every day in one grouped query: each
    day's value is the figure's own query over that day, on a fortnight of history."""
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    await generate(database_url, 150, progress=lambda *_: None, history_days=14, history_end=end)
    boss = await make_agent(sessions, "boss", AgentRole.SUPERVISOR, "general")
    last = end.astimezone(ZoneInfo("Asia/Shanghai")).date()
    days = {"start": str(last - timedelta(days=6)), "end": str(last)}
    moved = set()
    for metric in GROUPED:
        for where in ({}, {"team": "claims"}, {"channel": "wechat"}):
            if metric in BOT and "team" in where:
                continue
            query = read(TrendQuery, {**days, **where, "metric": metric})
            figures = await trend(sessions, boss, query)
            whole = await figure_value(
                sessions, boss, query, query.start, query.end, DEFAULT_TARGETS
            )
            assert figures["period"] == whole, (metric, where)
            for point in figures["points"] + figures["previous"]:
                day = date.fromisoformat(point["day"])
                own = await figure_value(sessions, boss, query, day, day, DEFAULT_TARGETS)
                assert point["value"] == own, (metric, where, day)
                moved.add((metric, point["value"] is not None))
    # every metric had days with something to show
    assert {metric for metric, shown in moved if shown} == set(GROUPED)
