"""The bot funnel per topic, exactly (SQLite and PostgreSQL): sessions, handed over,
queued, answered, resolved, and the branches to callbacks and complaints."""

from __future__ import annotations

from desk.analytics.funnel import funnel
from desk.analytics.queue import QueueQuery
from desk.inputs import read
from store.identifiers import make_complaint_number
from store.models import AgentRole, Callback, Complaint
from tests.desk.test_bot_metrics import DAY, Story, at
from tests.desk.test_conversations import make_agent


async def test_a_days_funnel_exactly(sessions):
    boss = await make_agent(sessions, "boss", AgentRole.SUPERVISOR, "general")
    story = Story(sessions)
    served = await story.conversation()
    await story.event(served, "created", at(0))
    await story.says(served, at(0, 1), "ask_claim_status")
    await story.event(served, "handoff", at(0, 2), reason="customer_request")
    await story.event(served, "first_agent_reply", at(0, 3), wait_seconds=60)
    await story.event(served, "resolved", at(0, 9), by="agent", reason="answered")
    offered = await story.conversation()
    await story.event(offered, "created", at(1))
    await story.says(offered, at(1, 1), "ask_claim_status")
    await story.event(offered, "handoff_deferred", at(1, 2), reason="customer_request")
    upset = await story.conversation()
    await story.event(upset, "created", at(2))
    await story.says(upset, at(2, 1), "complain")
    await story.event(upset, "handoff", at(2, 5), reason="complaint")
    faq = await story.conversation()
    await story.event(faq, "created", at(3))
    await story.says(faq, at(3, 1), "faq", topic="faq/waiting_period")
    await story.event(faq, "resolved", at(3, 2), by="bot")
    hello = await story.conversation()
    await story.event(hello, "created", at(4))
    await story.says(hello, at(4, 1), "greet")
    async with sessions.begin() as session:
        for conversation, minutes in ((served, 8), (offered, 3)):
            session.add(
                Callback(
                    conversation_id=conversation,
                    phone="13800000000",
                    window_start=at(24),
                    window_end=at(25),
                    reason="…",
                    created_at=at(0 if conversation == served else 1, minutes),
                )
            )
        session.add(
            Complaint(
                number=make_complaint_number(901),
                conversation_id=upset,
                category="service",
                description="…",
                due_at=at(72),
                created_at=at(2, 4),
            )
        )
    figures = await funnel(sessions, boss, read(QueueQuery, DAY), at=at(10))
    assert figures["total"] == {
        "sessions": 5,
        "handed_over": 3,
        "queued": 2,
        "answered": 1,
        "resolved": 1,
        "callback": 2,
        "follow_up": 0,
        "complaint": 1,
    }
    rows = {row["topic"]: row for row in figures["topics"]}
    assert [row["topic"] for row in figures["topics"]] == [
        "ask_claim_status",
        "(none)",
        "complain",
        "faq/waiting_period",
    ]
    assert {k: v for k, v in rows["ask_claim_status"].items() if k != "topic"} == {
        "sessions": 2,
        "handed_over": 2,
        "queued": 1,
        "answered": 1,
        "resolved": 1,
        "callback": 2,
        "follow_up": 0,
        "complaint": 0,
    }
    assert (rows["complain"]["queued"], rows["complain"]["answered"]) == (1, 0)
    assert rows["complain"]["complaint"] == 1
    assert rows["faq/waiting_period"]["handed_over"] == 0
