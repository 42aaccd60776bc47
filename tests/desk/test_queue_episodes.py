"""The events the queue metrics read (SQLite and PostgreSQL): each handoff keeps its
team and channel as they were; the first agent reply of each queue episode records
how long the customer waited; a customer who stops waiting leaves the queue as an
abandon, with their wait, and the customers behind them move up; one whose page is
gone past the grace has left silently."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from desk.routing import LEAVE_QUEUE_PAYLOAD
from store.models import Conversation, Event
from tests.desk.test_conversations import make_agent


async def events(sessions, conversation_id: int) -> list[Event]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(Event).where(Event.conversation_id == conversation_id).order_by(Event.id)
            )
        )


async def queued(service, session_id: str) -> int:
    conversation, _ = await service.open("web", session_id)
    await service.customer_message(conversation.id, "转人工", wait_for_bot=True)
    return conversation.id


async def test_each_queue_episode_ends_with_one_first_reply_and_its_wait(service, sessions):
    agent = await make_agent(sessions)
    conversation_id = await queued(service, "episodes")
    [handoff] = [e for e in await events(sessions, conversation_id) if e.kind == "handoff"]
    assert (handoff.data["team"], handoff.data["channel"], handoff.data["language"]) == (
        "claims",
        "web",
        "zh",
    )
    await service.assign(conversation_id, agent)
    await service.agent_message(conversation_id, agent, "您好")
    await service.agent_message(conversation_id, agent, "请问有什么可以帮您")
    [first] = [e for e in await events(sessions, conversation_id) if e.kind == "first_agent_reply"]
    waited = (first.at - handoff.at).total_seconds()
    assert first.data["handoff_id"] == handoff.id and first.agent_id == agent.id
    assert abs(first.data["wait_seconds"] - waited) < 0.01 and waited > 0
    assert first.data["team"] == "claims"
    # Resolved, back with the bot, handed over again: a new episode, a new first reply.
    await service.resolve(conversation_id, agent, "answered")
    await service.customer_message(conversation_id, "转人工", wait_for_bot=True)
    await service.assign(conversation_id, agent)
    await service.agent_message(conversation_id, agent, "又见面了")
    kinds = [e.kind for e in await events(sessions, conversation_id)]
    assert kinds.count("handoff") == 2 and kinds.count("first_agent_reply") == 2
    assert kinds[-1] == "first_agent_reply"


async def test_a_customer_who_stops_waiting_leaves_the_queue_as_an_abandon(service, sessions):
    ahead = await queued(service, "leaves")
    behind = await queued(service, "stays")
    offer = (await service.messages_after(ahead))[-1]
    assert offer["payload"]["buttons"][0] == {"title": "不等了", "payload": LEAVE_QUEUE_PAYLOAD}
    await service.customer_message(ahead, LEAVE_QUEUE_PAYLOAD)
    async with sessions() as session:
        left = await session.get(Conversation, ahead)
        assert (left.state, left.resolution_reason, left.queue_position) == (
            "resolved",
            "abandoned",
            None,
        )
    [handoff, abandoned] = [
        e for e in await events(sessions, ahead) if e.kind in ("handoff", "abandoned")
    ]
    assert abandoned.data["how"] == "left" and abandoned.data["handoff_id"] == handoff.id
    assert abandoned.data["wait_seconds"] > 0 and abandoned.data["channel"] == "web"
    said = await service.messages_after(ahead)
    assert said[-1]["text"].startswith("好的,已为您取消排队")
    # the one behind is first now, and told so
    assert (await service.messages_after(behind))[-1]["payload"]["queue"]["position"] == 1
    # writing again starts over with the bot; the old button means nothing now
    await service.customer_message(ahead, LEAVE_QUEUE_PAYLOAD, wait_for_bot=True)
    kinds = [e.kind for e in await events(sessions, ahead)]
    assert kinds.count("abandoned") == 1 and kinds[-2:] == ["reopened", "bot_reply"]


async def test_the_leave_button_is_no_command_once_an_agent_has_the_conversation(service, sessions):
    agent = await make_agent(sessions)
    conversation_id = await queued(service, "taken")
    await service.assign(conversation_id, agent)
    # typed from an old screen: just text for the agent, nothing changes
    await service.customer_message(conversation_id, LEAVE_QUEUE_PAYLOAD)
    async with sessions() as session:
        assert (await session.get(Conversation, conversation_id)).state == "assigned"
    assert "abandoned" not in [e.kind for e in await events(sessions, conversation_id)]


async def test_a_queued_customer_unseen_past_the_grace_has_left_silently(service, sessions):
    """Web chat customers are heart-beaten while their page is connected; one nobody
    has seen for the grace has left the queue, having waited until last seen."""
    gone = await queued(service, "gone")
    stays = await queued(service, "stays")
    # a WeChat customer has no live connection: never taken for gone
    wechat, _ = await service.open("wechat", "wechat-queued")
    await service.customer_message(wechat.id, "转人工", wait_for_bot=True)
    [handoff] = [e for e in await events(sessions, gone) if e.kind == "handoff"]
    seen = handoff.at + timedelta(seconds=10)
    grace = timedelta(minutes=2)
    await service.customers_seen({gone, stays}, seen)
    assert await service.abandon_silent(grace, seen + grace - timedelta(seconds=1)) == 0
    await service.customers_seen({stays}, seen + timedelta(minutes=1))
    assert await service.abandon_silent(grace, seen + grace + timedelta(seconds=1)) == 1
    async with sessions() as session:
        states = {
            c.id: (c.state, c.resolution_reason)
            for c in await session.scalars(select(Conversation))
        }
    assert states[gone] == ("resolved", "abandoned")
    assert states[stays] == states[wechat.id] == ("queued", None)
    [abandoned] = [e for e in await events(sessions, gone) if e.kind == "abandoned"]
    assert abandoned.data["how"] == "silent" and abandoned.data["handoff_id"] == handoff.id
    assert abandoned.data["wait_seconds"] == 10.0
    assert (await service.messages_after(gone))[-1]["text"].startswith("您已离开")
    # and nobody is abandoned twice
    assert await service.abandon_silent(grace, seen + timedelta(hours=1)) == 1  # `stays` now
