"""First-contact resolution, exactly (SQLite and PostgreSQL): a resolve counts as
first-contact when the same customer (across channels) or conversation does not
come back on the same topic within the window; silent and duplicate closes are not
counted; resolves too recent to know are pending."""

from __future__ import annotations

from datetime import timedelta

import pytest

from desk.analytics.queue import QueueQuery
from desk.analytics.resolution import resolution_metrics
from desk.errors import DeskError
from desk.inputs import read
from store.models import AgentRole
from tests.console.test_casework import new_customer
from tests.desk.test_bot_metrics import DAY, Story, at, serial
from tests.desk.test_conversations import make_agent


async def test_a_days_resolves_exactly(sessions):
    boss = await make_agent(sessions, "boss", AgentRole.SUPERVISOR, "general")
    async with sessions.begin() as session:
        customer = new_customer(next(serial), "赵敏", "13712340000")
        session.add(customer)
    story = Story(sessions)
    # A verified customer's claim question, resolved by an agent; two days later the
    # same question on WeChat: not first-contact.
    web = await story.conversation("web", customer.id)
    await story.event(web, "created", at(0))
    await story.says(web, at(0, 1), "ask_claim_status")
    await story.event(web, "handoff", at(0, 2), reason="customer_request")
    await story.event(web, "resolved", at(0, 10), by="agent", reason="answered")
    wechat = await story.conversation("wechat", customer.id)
    await story.event(wechat, "created", at(48))
    await story.says(wechat, at(48, 1), "ask_claim_status")
    # A FAQ the bot saw off; back three days later about another FAQ: first-contact.
    faq = await story.conversation()
    await story.event(faq, "created", at(1))
    await story.says(faq, at(1, 1), "faq", topic="faq/waiting_period")
    await story.event(faq, "resolved", at(1, 2), by="bot")
    await story.event(faq, "reopened", at(72))
    await story.says(faq, at(72, 1), "faq", topic="faq/cooling_off")
    # Closed for no response: not counted.
    silent = await story.conversation()
    await story.event(silent, "created", at(2))
    await story.says(silent, at(2, 1), "file_claim")
    await story.event(silent, "handoff", at(2, 2), reason="customer_request")
    await story.event(silent, "resolved", at(2, 30), by="agent", reason="no_response")
    # Topic unknown (small talk only): back eight days later, past the window.
    chat = await story.conversation()
    await story.event(chat, "created", at(3))
    await story.says(chat, at(3, 1), "greet")
    await story.event(chat, "handoff", at(3, 2), reason="customer_request")
    await story.event(chat, "resolved", at(3, 20), by="agent", reason="answered")
    await story.event(chat, "reopened", at(8 * 24))
    # Seen off by the bot, never back.
    policy = await story.conversation()
    await story.event(policy, "created", at(4))
    await story.says(policy, at(4, 1), "ask_policy")
    await story.event(policy, "resolved", at(4, 5), by="bot")

    later = await resolution_metrics(sessions, boss, read(QueueQuery, DAY), at=at(20 * 24))
    assert {k: v for k, v in later.items() if k not in ("start", "end")} == {
        "channel": None,
        "filters": {},
        "window_days": 7.0,
        "resolved": 5,
        "not_counted": 1,
        "pending": 0,
        "settled": 4,
        "first_contact": 3,
        "first_contact_by_bot": 2,
        "fcr": 0.75,
    }
    # Sixty hours on: the claim question came back; the others are not known yet.
    soon = await resolution_metrics(sessions, boss, read(QueueQuery, DAY), at=at(60))
    assert (soon["pending"], soon["settled"], soon["first_contact"], soon["fcr"]) == (3, 1, 0, 0.0)
    # A shorter window: the claim question came back too late to count against it.
    short = await resolution_metrics(
        sessions, boss, read(QueueQuery, DAY), timedelta(days=1), at=at(20 * 24)
    )
    assert (short["first_contact"], short["fcr"]) == (4, 1.0)
    by_web = await resolution_metrics(
        sessions, boss, read(QueueQuery, {**DAY, "channel": "web"}), at=at(20 * 24)
    )
    assert by_web["resolved"] == 5 and by_web["first_contact"] == 3


async def test_resolution_figures_are_for_managers_per_channel(sessions):
    agent = await make_agent(sessions, "plain")
    boss = await make_agent(sessions, "boss2", AgentRole.SUPERVISOR, "general")
    with pytest.raises(DeskError) as refused:
        await resolution_metrics(sessions, agent, read(QueueQuery, DAY))
    assert refused.value.status == 403
    with pytest.raises(DeskError) as by_team:
        await resolution_metrics(sessions, boss, read(QueueQuery, {**DAY, "team": "claims"}))
    assert by_team.value.code == "bad_filter"
    empty = await resolution_metrics(sessions, boss, read(QueueQuery, DAY))
    assert (empty["resolved"], empty["fcr"]) == (0, None)
