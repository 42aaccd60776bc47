"""Drill-down: the conversations behind a figure are exactly those the figure counts
(SQLite and PostgreSQL), each with a link to its transcript."""

from __future__ import annotations

from datetime import timedelta

import pytest

from desk.analytics.bot import bot_metrics
from desk.analytics.drilldown import QUEUE_PARTS, DrillQuery, drilldown
from desk.analytics.queue import QueueQuery, queue_metrics
from desk.errors import DeskError
from desk.inputs import read
from store.models import AgentRole
from tests.desk import test_bot_metrics as bot_story
from tests.desk.test_conversations import make_agent
from tests.desk.test_queue_metrics import DAY, episode

FIGURE_OF_PART = {
    "handoffs": "handoffs",
    "answered": "answered",
    "within_target": "answered_within_target",
    "abandoned": "abandoned",
    "short_abandons": "short_abandons",
    "waiting": "waiting",
    "closed_unanswered": "closed_unanswered",
}


async def test_each_queue_figure_drills_down_to_its_conversations(sessions):
    boss = await make_agent(sessions, "boss", AgentRole.SUPERVISOR, "general")
    await episode(sessions, 0, waited=3)
    await episode(sessions, 1, waited=40)
    await episode(sessions, 2, waited=2, left=True)
    waiting_since = await episode(sessions, 3, state="queued")
    await episode(sessions, 4)
    at = waiting_since + timedelta(seconds=30)
    figures = await queue_metrics(sessions, boss, read(QueueQuery, DAY), at=at)
    for part, figure in FIGURE_OF_PART.items():
        found = await drilldown(
            sessions, boss, read(DrillQuery, {**DAY, "of": "queue", "part": part}), at=at
        )
        assert found["count"] == figures[figure] == len(found["conversations"]), part
    missed = await drilldown(
        sessions, boss, read(DrillQuery, {**DAY, "of": "queue", "part": "missed_target"}), at=at
    )
    [row] = missed["conversations"]
    assert (row["outcome"], row["wait_seconds"], row["channel"]) == ("answered", 40.0, "web")
    assert row["link"] == f"/console?conversation={row['conversation_id']}"
    assert set(QUEUE_PARTS) == {*FIGURE_OF_PART, "missed_target"}


async def test_bot_figures_drill_down_by_part_and_topic(sessions):
    boss = await make_agent(sessions, "boss2", AgentRole.SUPERVISOR, "general")
    story = bot_story.Story(sessions)
    left = await story.conversation()
    await story.event(left, "created", bot_story.at(0))
    await story.says(left, bot_story.at(0, 1), "file_claim", awaiting="claim_policy_number")
    served = await story.conversation()
    await story.event(served, "created", bot_story.at(1))
    await story.says(served, bot_story.at(1, 1), "faq", topic="faq/waiting_period")
    await story.event(served, "resolved", bot_story.at(1, 2), by="bot")
    at = bot_story.at(5)
    figures = await bot_metrics(sessions, boss, read(QueueQuery, bot_story.DAY), at=at)
    for part in ("sessions", "contained", "durably_contained", "left_mid_form", "seen_off"):
        found = await drilldown(
            sessions, boss, read(DrillQuery, {**bot_story.DAY, "of": "bot", "part": part}), at=at
        )
        assert found["count"] == figures[part], part
    faq = await drilldown(
        sessions,
        boss,
        read(
            DrillQuery,
            {**bot_story.DAY, "of": "bot", "part": "sessions", "topic": "faq/waiting_period"},
        ),
        at=at,
    )
    assert [row["conversation_id"] for row in faq["conversations"]] == [served]


async def test_unknown_parts_are_refused_and_agents_see_none(sessions):
    boss = await make_agent(sessions, "boss3", AgentRole.SUPERVISOR, "general")
    agent = await make_agent(sessions, "plain")
    with pytest.raises(DeskError) as unknown:
        await drilldown(sessions, boss, read(DrillQuery, {**DAY, "of": "queue", "part": "luck"}))
    assert (unknown.value.code, unknown.value.status) == ("unknown_part", 400)
    with pytest.raises(DeskError) as refused:
        await drilldown(
            sessions, agent, read(DrillQuery, {**DAY, "of": "queue", "part": "answered"})
        )
    assert refused.value.status == 403
