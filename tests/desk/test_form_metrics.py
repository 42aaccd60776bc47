"""The bot's forms, exactly (SQLite and PostgreSQL): started when the bot began asking
after the form's intent, completed when its row was made in that conversation,
cancelled on a "no" to one of its questions, left half done when the customer went
quiet while it waited."""

from __future__ import annotations

from desk.analytics.forms import form_metrics
from desk.analytics.queue import QueueQuery
from desk.inputs import read
from store.models import AgentRole, Callback
from tests.desk.test_bot_metrics import DAY, Story, at
from tests.desk.test_conversations import make_agent


async def test_a_days_forms_exactly(sessions):
    boss = await make_agent(sessions, "boss", AgentRole.SUPERVISOR, "general")
    story = Story(sessions)
    filed = await story.conversation()
    await story.event(filed, "created", at(0))
    await story.says(filed, at(0, 1), "file_claim", awaiting="identity_number")
    await story.says(filed, at(0, 2), "inform", awaiting="claim_policy")
    await story.event(filed, "claim_filed", at(0, 6), claim_id=1)
    quit_ = await story.conversation()
    await story.event(quit_, "created", at(1))
    await story.says(quit_, at(1, 1), "complain", awaiting="complaint_category")
    await story.says(quit_, at(1, 2), "deny")
    quiet = await story.conversation()
    await story.event(quiet, "created", at(2))
    await story.says(quiet, at(2, 1), "ask_advance_payment", awaiting="identity_number")
    called = await story.conversation()
    await story.event(called, "created", at(3))
    await story.says(called, at(3, 1), "request_callback", awaiting="callback_window")
    handed = await story.conversation()
    await story.event(handed, "created", at(4))
    await story.says(handed, at(4, 1), "file_claim", awaiting="identity_number")
    await story.event(handed, "handoff", at(4, 2), reason="customer_request")
    chat = await story.conversation()
    await story.event(chat, "created", at(5))
    await story.says(chat, at(5, 1), "greet")
    async with sessions.begin() as session:
        session.add(
            Callback(
                conversation_id=called,
                phone="13800000000",
                window_start=at(24),
                window_end=at(25),
                reason="…",
                created_at=at(3, 3),
            )
        )
    figures = await form_metrics(sessions, boss, read(QueueQuery, DAY), at=at(10))
    assert figures["forms"] == [
        {
            "form": "claim",
            "started": 2,
            "completed": 1,
            "cancelled": 0,
            "left": 0,
            "completion_rate": 0.5,
            "cancel_rate": 0.0,
        },
        {
            "form": "advance_payment",
            "started": 1,
            "completed": 0,
            "cancelled": 0,
            "left": 1,
            "completion_rate": 0.0,
            "cancel_rate": 0.0,
        },
        {
            "form": "complaint",
            "started": 1,
            "completed": 0,
            "cancelled": 1,
            "left": 0,
            "completion_rate": 0.0,
            "cancel_rate": 1.0,
        },
        {
            "form": "callback",
            "started": 1,
            "completed": 1,
            "cancelled": 0,
            "left": 0,
            "completion_rate": 1.0,
            "cancel_rate": 0.0,
        },
    ]
