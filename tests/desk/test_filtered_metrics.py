"""The figures under the filters, exactly (SQLite and PostgreSQL): several values of a
filter keep any of them, several filters keep what passes them all; each family reads
the language and topic its rows record (the handoff's, the session's) and the
customer's tags now; unknown values and filters a figure cannot split by are refused."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import select

from desk.analytics.agents import agent_metrics
from desk.analytics.bot import bot_metrics
from desk.analytics.claims import claims_metrics
from desk.analytics.contacts import contacts_metrics
from desk.analytics.drilldown import DrillQuery, drilldown
from desk.analytics.export import conversations_csv
from desk.analytics.filters import known_intents
from desk.analytics.forms import form_metrics
from desk.analytics.funnel import funnel
from desk.analytics.outcome import outcome_metrics
from desk.analytics.queue import QueueQuery, queue_metrics
from desk.analytics.resolution import resolution_metrics
from desk.analytics.tags import behaviour_tags, conversation_tags
from desk.analytics.trends import TrendQuery, trend
from desk.clock import now
from desk.errors import DeskError
from desk.inputs import read
from store.models import (
    Agent,
    AgentRole,
    Complaint,
    Conversation,
    ConversationState,
    Event,
    TaskStatus,
)
from tests.console.test_casework import new_customer
from tests.desk.test_bot_metrics import Story
from tests.desk.test_conversations import make_agent

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 China time
DAY = {"start": "2026-12-01", "end": "2026-12-01"}
LATER = T0 + timedelta(days=30)  # every resolve's first-contact window has passed
serial = count(900)


def at(hours: float = 0, minutes: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, minutes=minutes)


class World(Story):
    async def conversation(  # type: ignore[override]
        self, channel: str = "web", customer_id: int | None = None, language: str = "zh"
    ) -> int:
        async with self.sessions.begin() as session:
            row = Conversation(
                channel=channel,
                external_user_id=f"filters-{next(serial)}",
                customer_id=customer_id,
                language=language,
                created_at=T0,
            )
            session.add(row)
        return row.id

    async def by(self, conversation: int, kind: str, when: datetime, agent, **data) -> int:
        async with self.sessions.begin() as session:
            row = Event(
                at=when, kind=kind, conversation_id=conversation, agent_id=agent.id, data=data
            )
            session.add(row)
        return row.id

    async def handoff(self, conversation: int, when: datetime, **data) -> int:
        async with self.sessions.begin() as session:
            row = Event(at=when, kind="handoff", conversation_id=conversation, data=data)
            session.add(row)
        return row.id


@pytest.fixture
async def world(sessions):
    """Four contacts on 1 December:
    c1 web, zh, a customer with an open complaint: asks about a claim, handed to claims
       (zh), answered by a1 in 60 s, resolved by a1, rated 5;
    c2 wechat, en, an untagged customer: a FAQ on the waiting period, handed to general
       (en), answered by a2 in 10 s, resolved by a2, rated 2;
    c3 app, zh, nobody verified: starts a claim and is seen off by the bot;
    c4 web, en, the tagged customer again: asks about their policy, handed to claims
       (en), leaves the queue after 30 s."""
    boss = await make_agent(sessions, "boss", AgentRole.SUPERVISOR, "general")
    a1 = await make_agent(sessions, "a1", AgentRole.AGENT, "claims")
    a2 = await make_agent(sessions, "a2", AgentRole.AGENT, "general")
    async with sessions.begin() as session:
        tagged = new_customer(next(serial), "王芳", "13912340001")
        plain = new_customer(next(serial), "李雷", "13912340002")
        session.add_all([tagged, plain])
        await session.flush()
        session.add(
            Complaint(
                number=f"TS{next(serial)}",
                customer_id=tagged.id,
                category="service",
                description="…",
                status=TaskStatus.OPEN,
                due_at=T0 + timedelta(days=3),
            )
        )
    w = World(sessions)
    c1 = await w.conversation("web", tagged.id, "zh")
    c2 = await w.conversation("wechat", plain.id, "en")
    c3 = await w.conversation("app", None, "zh")
    c4 = await w.conversation("web", tagged.id, "en")

    await w.event(c1, "created", at(0), channel="web")
    await w.says(c1, at(0, 1), "ask_claim_status")
    h1 = await w.handoff(c1, at(0, 2), team="claims", channel="web", language="zh")
    await w.by(c1, "first_agent_reply", at(0, 3), a1, handoff_id=h1, wait_seconds=60)
    await w.by(c1, "resolved", at(1), a1, by="agent", reason="answered")
    await w.by(c1, "csat", at(1, 1), a1, score=5)

    await w.event(c2, "created", at(2), channel="wechat")
    await w.says(c2, at(2, 1), "faq", topic="faq/waiting_period")
    h2 = await w.handoff(c2, at(2, 2), team="general", channel="wechat", language="en")
    await w.by(
        c2,
        "first_agent_reply",
        at(
            2,
            2,
        ),
        a2,
        handoff_id=h2,
        wait_seconds=10,
    )
    await w.by(c2, "resolved", at(3), a2, by="agent", reason="answered")
    await w.by(c2, "csat", at(3, 1), a2, score=2)

    await w.event(c3, "created", at(4), channel="app")
    await w.says(c3, at(4, 1), "file_claim", awaiting="policy_number")
    await w.event(c3, "resolved", at(4, 5), by="bot")

    await w.event(c4, "created", at(5), channel="web")
    await w.says(c4, at(5, 1), "ask_policy")
    h4 = await w.handoff(c4, at(5, 2), team="claims", channel="web", language="en")
    await w.event(c4, "abandoned", at(5, 3), handoff_id=h4, wait_seconds=30)
    return {"boss": boss, "c": (c1, c2, c3, c4), "tagged": tagged.id}


def q(model=QueueQuery, **filters):
    return read(model, {**DAY, **filters})


async def test_the_queue_under_each_filter(sessions, world):
    boss = world["boss"]

    async def handoffs(**filters) -> int:
        return (await queue_metrics(sessions, boss, q(**filters), at=LATER))["handoffs"]

    assert await handoffs() == 3
    # several values: any of them; repeated or comma-separated alike
    assert await handoffs(channel=["web", "wechat"]) == 3
    assert await handoffs(channel="web,wechat") == 3
    assert await handoffs(channel="web") == 2
    # the handoff's language, not the conversation's now
    assert await handoffs(language="en") == 2
    # several filters: all of them
    assert await handoffs(language="en", channel="web") == 1
    # intent: the topic of the session that handed over
    assert await handoffs(intent="ask_claim_status") == 1
    assert await handoffs(intent=["ask_claim_status", "ask_policy"]) == 2
    assert await handoffs(intent="faq/waiting_period") == 1
    # agent: who answered
    assert await handoffs(agent="a1") == 1
    assert await handoffs(team="claims") == 2
    # tag: the customer's tags now
    assert await handoffs(tag="open_complaint") == 2
    assert await handoffs(tag="open_complaint", language="zh") == 1
    figures = await queue_metrics(
        sessions, boss, q(channel=["web", "wechat"], language="en"), at=LATER
    )
    assert (figures["answered"], figures["abandoned"], figures["channel"]) == (1, 1, None)
    assert figures["filters"] == {"channel": ["web", "wechat"], "language": ["en"]}


async def test_the_bot_forms_and_funnel_under_the_filters(sessions, world):
    boss = world["boss"]
    both = await bot_metrics(sessions, boss, q(channel="web,wechat"), at=LATER)
    assert (both["sessions"], both["handed_over"]) == (3, 3)
    english = await bot_metrics(sessions, boss, q(language="en"), at=LATER)
    assert (english["sessions"], english["handed_over"]) == (2, 2)
    # a session not handed over: the conversation's language
    chinese = await bot_metrics(sessions, boss, q(language="zh"), at=LATER)
    assert (chinese["sessions"], chinese["seen_off"]) == (2, 1)
    claim = await bot_metrics(sessions, boss, q(intent="file_claim"), at=LATER)
    assert claim["top_intents"] == [{"intent": "file_claim", "count": 1}]
    tagged = await bot_metrics(sessions, boss, q(tag="open_complaint"), at=LATER)
    assert (tagged["sessions"], tagged["containment"]) == (2, 0.0)

    forms = await form_metrics(sessions, boss, q(language="zh", intent="file_claim"), at=LATER)
    assert [f["started"] for f in forms["forms"] if f["form"] == "claim"] == [1]
    none = await form_metrics(sessions, boss, q(channel="web"), at=LATER)
    assert [f["started"] for f in none["forms"] if f["form"] == "claim"] == [0]

    funnelled = await funnel(sessions, boss, q(language="en"), at=LATER)
    assert [(t["topic"], t["sessions"], t["answered"]) for t in funnelled["topics"]] == [
        ("ask_policy", 1, 0),
        ("faq/waiting_period", 1, 1),
    ]


async def test_resolution_and_outcome_under_the_filters(sessions, world):
    boss = world["boss"]

    async def resolved(**filters) -> int:
        return (await resolution_metrics(sessions, boss, q(**filters), at=LATER))["resolved"]

    assert await resolved() == 3
    assert await resolved(agent="a1") == 1
    assert await resolved(language="zh") == 2
    assert await resolved(intent="faq/waiting_period") == 1
    assert await resolved(tag="open_complaint") == 1
    assert await resolved(channel=["app", "wechat"], language="en") == 1

    both = await outcome_metrics(sessions, boss, q(agent=["a1", "a2"]))
    assert (both["rating_requests"], both["ratings"], both["satisfied"]) == (2, 2, 1)
    assert both["agent"] is None and both["filters"] == {"agent": ["a1", "a2"]}
    general = await outcome_metrics(sessions, boss, q(team="general", language="en"))
    assert (general["rating_requests"], general["mean_score"]) == (1, 2.0)
    claim = await outcome_metrics(sessions, boss, q(intent="ask_claim_status"))
    assert claim["per_score"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1}


async def test_contacts_and_agents_under_the_filters(sessions, world):
    boss = world["boss"]
    topics = await contacts_metrics(
        sessions, boss, q(intent=["ask_claim_status", "faq/waiting_period"])
    )
    assert (topics["contacts"], topics["per_channel"]["wechat"]) == (2, 1)
    english = await contacts_metrics(sessions, boss, q(language="en"))
    assert (english["contacts"], english["per_language"]) == (2, {"en": 2})
    claims = await contacts_metrics(sessions, boss, q(team="claims", tag="open_complaint"))
    assert (claims["contacts"], claims["per_channel"]["web"]) == (2, 2)

    agents = await agent_metrics(sessions, boss, q(agent="a2"))
    assert [(a["username"], a["answered"]) for a in agents["agents"]] == [("a2", 1)]
    team = await agent_metrics(sessions, boss, q(team="claims", agent=["a1", "a2"]))
    assert [a["username"] for a in team["agents"]] == ["a1"]


async def test_the_trend_drilldown_and_export_take_the_same_filters(sessions, world):
    boss = world["boss"]
    c1, c2, c3, c4 = world["c"]
    filters = {"channel": ["web", "wechat"], "language": "en"}
    handoffs = await trend(sessions, boss, q(TrendQuery, metric="handoffs", **filters))
    assert [p["value"] for p in handoffs["points"]] == [2]
    assert (handoffs["period"], handoffs["previous_period"]) == (2, 0)
    tagged = await trend(sessions, boss, q(TrendQuery, metric="handoffs", tag="open_complaint"))
    assert ([p["value"] for p in tagged["points"]], tagged["period"]) == ([2], 2)
    drilled = await drilldown(sessions, boss, q(DrillQuery, of="queue", part="handoffs", **filters))
    assert (drilled["count"], [r["conversation_id"] for r in drilled["conversations"]]) == (
        2,
        [c2, c4],
    )
    bot = await drilldown(
        sessions, boss, q(DrillQuery, of="bot", part="sessions", intent="file_claim")
    )
    assert [r["conversation_id"] for r in bot["conversations"]] == [c3]

    async def exported(**filters) -> list[int]:
        lines = await conversations_csv(sessions, boss, q(**filters))
        text = "".join([chunk async for chunk in lines]).lstrip("\ufeff")
        return [int(row["conversation_id"]) for row in csv.DictReader(io.StringIO(text))]

    assert await exported(language="en") == [c2, c4]
    assert await exported(intent="ask_claim_status") == [c1]
    assert await exported(tag="open_complaint", channel="web") == [c1, c4]


async def test_the_tag_filter_agrees_with_the_customers_tags(sessions, world):
    async with sessions() as session:
        tags = await behaviour_tags(session, [world["tagged"]], now())
    assert "open_complaint" in tags[world["tagged"]]


def test_the_intents_are_the_bots_domain():
    intents = known_intents()
    assert {"ask_claim_status", "file_claim", "faq", "faq/waiting_period"} <= intents
    assert "ask_nothing" not in intents


@pytest.mark.parametrize(
    ("figures", "filters", "code"),
    [
        (queue_metrics, {"intent": "ask_nothing"}, "unknown_intent"),
        (queue_metrics, {"language": "fr"}, "unknown_language"),
        (queue_metrics, {"tag": "vip"}, "unknown_tag"),
        (queue_metrics, {"agent": ["a1", "nobody"]}, "unknown_agent"),
        (queue_metrics, {"channel": "web,fax"}, "unknown_channel"),
        (queue_metrics, {"team": ["claims", "astronauts"]}, "unknown_team"),
        (bot_metrics, {"agent": "a1"}, "bad_filter"),
        (resolution_metrics, {"team": "claims"}, "bad_filter"),
        (contacts_metrics, {"agent": "a1"}, "bad_filter"),
        (agent_metrics, {"tag": "open_complaint"}, "bad_filter"),
        (agent_metrics, {"language": "zh"}, "bad_filter"),
        (claims_metrics, {"language": "zh"}, "bad_filter"),
        (queue_metrics, {"channel": [f"c{n}" for n in range(51)]}, "bad_filter"),
    ],
)
async def test_unknown_values_and_filters_are_refused(sessions, world, figures, filters, code):
    with pytest.raises(DeskError) as refused:
        await figures(sessions, world["boss"], q(**filters))
    assert (refused.value.code, refused.value.status) == (code, 400)


async def test_an_agent_gets_the_tags_only_of_conversations_they_may_view(sessions, world):
    c1, c2, c3, c4 = world["c"]
    async with sessions.begin() as session:
        for conversation_id, team in ((c1, "claims"), (c2, "claims"), (c4, "general")):
            row = await session.get(Conversation, conversation_id)
            row.state, row.team = ConversationState.QUEUED, team
    async with sessions() as session:
        a1 = await session.scalar(select(Agent).where(Agent.username == "a1"))
        seen = await conversation_tags(session, a1, [c1, c2, c3, c4], now())
        everything = await conversation_tags(session, world["boss"], [c1, c4], now())
    # c3 is the bot's, c4 another team's queue; c2's customer has no tag
    assert set(seen) == {c1, c2}
    assert "open_complaint" in seen[c1] and seen[c2] == []
    assert everything[c1] == everything[c4] and "open_complaint" in everything[c4]
