"""Bot figures from bot sessions, exactly (SQLite and PostgreSQL): containment (seen
off, or left without a form waiting), durable containment (the same customer, across
channels, or the same conversation, not back on the same topic within a day),
handoffs by reason, the fallback rate and the top intents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from desk.analytics.bot import Windows, bot_metrics
from desk.analytics.queue import QueueQuery
from desk.errors import DeskError
from desk.inputs import read
from store.models import AgentRole, Conversation, Event, Message, SenderKind
from store.workbench import ParsedMessage
from tests.console.test_casework import new_customer
from tests.desk.test_conversations import make_agent

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 China time
DAY = {"start": "2026-12-01", "end": "2026-12-01"}
serial = count(1)


def at(hours: float = 0, minutes: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, minutes=minutes)


class Story:
    """Conversations with their events, customer messages and what the bot parsed."""

    def __init__(self, sessions):
        self.sessions = sessions

    async def conversation(self, channel: str = "web", customer_id: int | None = None) -> int:
        async with self.sessions.begin() as session:
            row = Conversation(
                channel=channel, external_user_id=f"bot-{next(serial)}", customer_id=customer_id
            )
            session.add(row)
        return row.id

    async def event(self, conversation: int, kind: str, when: datetime, **data) -> None:
        async with self.sessions.begin() as session:
            session.add(Event(at=when, kind=kind, conversation_id=conversation, data=data))

    async def says(
        self, conversation: int, when: datetime, intent: str, *, topic=None, awaiting=None
    ) -> None:
        async with self.sessions.begin() as session:
            seq = next(serial)
            message = Message(
                conversation_id=conversation,
                seq=seq,
                sender=SenderKind.CUSTOMER,
                text="…",
                created_at=when,
            )
            session.add(message)
            await session.flush()
            session.add(
                ParsedMessage(
                    message_id=message.id,
                    conversation_id=conversation,
                    seq=seq,
                    channel="web",
                    language="zh",
                    text="…",
                    intent=intent,
                    confidence=0.3 if intent == "nlu_fallback" else 0.9,
                    fallback=intent == "nlu_fallback",
                    faq_topic=topic,
                    awaiting=awaiting,
                    at=when,
                )
            )


async def test_a_days_bot_sessions_exactly(sessions):
    boss = await make_agent(sessions, "boss", AgentRole.SUPERVISOR, "general")
    async with sessions.begin() as session:
        customer = new_customer(next(serial), "王芳", "13912340000")
        session.add(customer)
    story = Story(sessions)
    web, wechat = (
        await story.conversation("web", customer.id),
        await story.conversation("wechat", customer.id),
    )
    # S1: a verified customer asks about a claim and goes quiet: left, contained ...
    await story.event(web, "created", at(0), channel="web")
    await story.says(web, at(0, 1), "ask_claim_status")
    await story.says(web, at(0, 2), "thank")
    # ... but comes back on WeChat about the same claim that afternoon (S2, handed over)
    await story.event(wechat, "created", at(5), channel="wechat")
    await story.says(wechat, at(5, 1), "ask_claim_status")
    await story.event(wechat, "handoff", at(5, 2), reason="customer_request")
    # S3: starts a claim and leaves while the form waits for the policy number
    form = await story.conversation()
    await story.event(form, "created", at(1))
    await story.says(form, at(1, 1), "file_claim", awaiting="claim_policy_number")
    # S4: a FAQ answered and seen off by the bot; S5: back an hour later, same FAQ
    faq = await story.conversation()
    await story.event(faq, "created", at(2))
    await story.says(faq, at(2, 1), "faq", topic="faq/waiting_period")
    await story.event(faq, "resolved", at(2, 3), by="bot")
    await story.event(faq, "reopened", at(3))
    await story.says(faq, at(3, 1), "faq", topic="faq/waiting_period")
    # S6: not understood, handed over although nobody was online
    lost = await story.conversation()
    await story.event(lost, "created", at(4))
    await story.says(lost, at(4, 1), "nlu_fallback")
    await story.event(lost, "handoff_deferred", at(4, 2), reason="fallback")
    # S7: still talking (open); and one from the day before, not counted
    talking = await story.conversation()
    await story.event(talking, "created", at(9, 55))
    await story.says(talking, at(9, 56), "greet")
    before = await story.conversation()
    await story.event(before, "created", at(-10))

    figures = await bot_metrics(sessions, boss, read(QueueQuery, DAY), at=at(10))
    assert {k: v for k, v in figures.items() if k not in ("start", "end")} == {
        "channel": None,
        "filters": {},
        "idle_minutes": 30.0,
        "durable_hours": 24.0,
        "sessions": 7,
        "open": 1,
        "finished": 6,
        "seen_off": 1,
        "left": 3,
        "left_mid_form": 1,
        "handed_over": 2,
        "contained": 3,
        "containment": 0.5,
        # only S5: S1's customer came back on WeChat, S4's conversation an hour later
        "durably_contained": 1,
        "durable_containment": round(1 / 6, 4),
        "handoff_rate": round(2 / 6, 4),
        "handoffs_by_reason": {"customer_request": 1, "fallback": 1},
        "parsed_messages": 8,
        "fallbacks": 1,
        "fallback_rate": 0.125,
        "top_intents": [
            {"intent": "ask_claim_status", "count": 2},
            {"intent": "faq/waiting_period", "count": 2},
            {"intent": "file_claim", "count": 1},
            {"intent": "greet", "count": 1},
            {"intent": "thank", "count": 1},
        ],
    }
    on_wechat = await bot_metrics(
        sessions, boss, read(QueueQuery, {**DAY, "channel": "wechat"}), at=at(10)
    )
    assert (on_wechat["sessions"], on_wechat["handed_over"], on_wechat["containment"]) == (
        1,
        1,
        0.0,
    )
    # with a shorter memory, coming back five hours later no longer counts
    short = await bot_metrics(
        sessions, boss, read(QueueQuery, DAY), Windows(durable=timedelta(hours=2)), at=at(10)
    )
    assert short["durably_contained"] == 2


async def test_bot_figures_are_per_channel_and_for_managers(sessions):
    agent = await make_agent(sessions, "plain")
    boss = await make_agent(sessions, "boss2", AgentRole.SUPERVISOR, "general")
    with pytest.raises(DeskError) as refused:
        await bot_metrics(sessions, agent, read(QueueQuery, DAY))
    assert refused.value.status == 403
    with pytest.raises(DeskError) as by_team:
        await bot_metrics(sessions, boss, read(QueueQuery, {**DAY, "team": "claims"}))
    assert by_team.value.code == "bad_filter"
    empty = await bot_metrics(sessions, boss, read(QueueQuery, DAY))
    assert (empty["sessions"], empty["containment"], empty["top_intents"]) == (0, None, [])


async def test_what_the_desk_records_is_what_the_bot_figures_count(service, sessions):
    boss = await make_agent(sessions, "boss3", AgentRole.SUPERVISOR, "general")
    conversation, _ = await service.open("web", "bot-figures")
    await service.customer_message(conversation.id, "你好", wait_for_bot=True)
    await service.customer_message(conversation.id, "转人工", wait_for_bot=True)
    today = datetime.now(UTC).date()
    # (from yesterday: a run across midnight still finds its session)
    days = {"start": str(today - timedelta(days=1)), "end": str(today), "tz": "UTC"}
    figures = await bot_metrics(sessions, boss, read(QueueQuery, days))
    assert (figures["sessions"], figures["handed_over"], figures["parsed_messages"]) == (1, 1, 2)
    assert figures["handoffs_by_reason"] == {"customer_request": 1}
    assert [row["intent"] for row in figures["top_intents"]] == ["greet", "request_human"]
