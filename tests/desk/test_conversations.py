"""The conversation service on SQLite and PostgreSQL, with a scripted bot
standing in for Rasa (the end-to-end tests use the real one)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from desk.conversations import ConversationService
from desk.errors import DeskError
from desk.rasa import BotUnavailable, Parse
from store.models import Agent, AgentRole, Conversation, Event, Message
from tests.passwords import password_hash


class ScriptedBot:
    """Answers like Rasa's REST channel; records what it was sent."""

    def __init__(self):
        self.sent: list[tuple[str, str]] = []
        self.down = False

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        if self.down:
            raise BotUnavailable("connection refused")
        self.sent.append((sender, text))
        if text == "bye":
            return [
                {"recipient_id": sender, "text": "再见"},
                {"recipient_id": sender, "custom": {"rating": {}}},
            ]
        if "人工" in text or "human" in text:
            return [
                {"recipient_id": sender, "text": "正在为您转接"},
                {
                    "recipient_id": sender,
                    "custom": {
                        "handoff": {"reason": "customer_request", "team": "claims", "summary": text}
                    },
                },
            ]
        return [
            {
                "recipient_id": sender,
                "text": f"echo: {text}",
                "buttons": [{"title": "是", "payload": "/affirm"}],
            }
        ]

    async def latest_parse(self, sender: str, text: str | None = None) -> Parse | None:
        last = [text for who, text in self.sent if who == sender][-1:]
        if not last:
            return None
        intent = "request_human" if "人工" in last[0] else "greet"
        return Parse(shown=intent, shown_confidence=0.9, intent=intent, confidence=0.9)


class Recorder:
    """Collects what the service delivers, in order, to agents and the channel."""

    name = "web"

    def __init__(self):
        self.log: list[tuple[str, Any]] = []
        self.pushes: list[tuple[str, Any]] = []

    async def conversation_changed(self, conversation, previous_agent_id=None):
        self.log.append(("conversation", conversation["state"]))

    async def note_added(self, conversation_id, note):
        self.pushes.append(("note", note))

    async def typing(self, conversation_id, data):
        self.pushes.append(("typing", data))

    async def intent_seen(self, conversation_id, data):
        self.pushes.append(("intent", data))

    async def withdraw(self, conversation_id):
        self.pushes.append(("withdraw", conversation_id))

    async def presence_changed(self, agent_id, presence):
        self.pushes.append(("presence", (agent_id, presence)))

    async def message_added(self, conversation_id, message):
        self.log.append(("agents", message["seq"]))

    async def deliver(self, conversation, message):
        self.log.append(("customer", message["seq"]))


@pytest.fixture
async def service(sessions):
    recorder = Recorder()
    # Agents pick from the queue here; tests/console/test_routing.py covers auto-assignment.
    service = ConversationService(
        sessions, ScriptedBot(), recorder, default_wait_seconds=30, auto_assign=False
    )
    service.add_channel(recorder)
    service.recorder = recorder
    # Someone is on duty, so handoffs queue; the callback-offer tests take them off.
    on_duty = await make_agent(sessions, "on-duty")
    await service.set_presence(on_duty.id, "online")
    service.on_duty = on_duty
    return service


async def make_agent(sessions, username="a1", role=AgentRole.AGENT, team="claims") -> Agent:
    """An agent of the claims team, where the scripted bot hands customers over."""
    async with sessions.begin() as session:
        agent = Agent(
            username=username,
            display_name=username.upper(),
            role=role,
            team=team,
            password_hash=password_hash("x"),
        )
        session.add(agent)
    return agent


async def test_messages_are_persisted_with_sequence_numbers_before_delivery(service, sessions):
    conversation, created = await service.open("web", "s1")
    assert created
    message, new = await service.customer_message(conversation.id, "你好", "c1", wait_for_bot=True)
    assert new and message["seq"] == 1
    rows = await service.messages_after(conversation.id)
    assert [(m["seq"], m["sender"], m["text"]) for m in rows] == [
        (1, "customer", "你好"),
        (2, "bot", "echo: 你好"),
    ]
    # delivered after being stored, in sequence order, never to the customer twice
    assert service.recorder.log == [("agents", 1), ("agents", 2), ("customer", 2)]
    async with sessions() as session:
        stored = await session.get(Conversation, conversation.id)
    assert stored.last_seq == 2 and stored.language == "zh"


async def test_resend_with_the_same_client_id_is_stored_once(service):
    conversation, _ = await service.open("web", "s2")
    first, _ = await service.customer_message(conversation.id, "hi", "same", wait_for_bot=True)
    again, new = await service.customer_message(conversation.id, "hi", "same", wait_for_bot=True)
    assert not new and again["seq"] == first["seq"]
    assert len(service.bot.sent) == 1
    assert len(await service.messages_after(conversation.id)) == 2


async def test_typed_commands_are_neutralised_but_offered_buttons_pass(service):
    conversation, _ = await service.open("web", "s3")
    await service.customer_message(conversation.id, '/greet{"x": 1}', wait_for_bot=True)
    assert service.bot.sent[-1][1] == 'greet{"x": 1}'
    # the bot's last message offered /affirm as a button
    await service.customer_message(conversation.id, "/affirm", wait_for_bot=True)
    assert service.bot.sent[-1][1] == "/affirm"


async def test_handoff_queues_with_position_and_events(service, sessions):
    conversation, _ = await service.open("web", "s4")
    await service.customer_message(conversation.id, "转人工", wait_for_bot=True)
    async with sessions() as session:
        stored = await session.get(Conversation, conversation.id)
        kinds = (
            await session.scalars(
                select(Event.kind)
                .where(Event.conversation_id == conversation.id)
                .order_by(Event.id)
            )
        ).all()
    assert stored.state == "queued" and stored.team == "claims"
    assert kinds == ["created", "bot_reply", "handoff"]
    messages = await service.messages_after(conversation.id)
    assert messages[-1]["sender"] == "system"
    assert messages[-1]["payload"]["queue"] == {"position": 1, "expected_wait_seconds": 30}
    assert "前面还有 0 位" in messages[-1]["text"]
    # while queued, the customer talks to people, not to the bot
    await service.customer_message(conversation.id, "还在吗", wait_for_bot=True)
    assert service.bot.sent[-1][1] == "转人工"


async def test_queue_position_counts_those_ahead(service):
    for n in range(3):
        conversation, _ = await service.open("web", f"q{n}")
        await service.customer_message(conversation.id, "I want a human", wait_for_bot=True)
    last = (await service.messages_after(conversation.id))[-1]
    assert last["payload"]["queue"]["position"] == 3
    assert "2 customer(s) ahead" in last["text"]


async def test_with_nobody_online_a_handoff_offers_a_callback_or_waiting(service, sessions):
    await service.set_presence(service.on_duty.id, "away")
    conversation, _ = await service.open("web", "s-away")
    await service.customer_message(conversation.id, "转人工", wait_for_bot=True)
    offer = (await service.messages_after(conversation.id))[-1]
    assert offer["sender"] == "system" and "没有人工客服在线" in offer["text"]
    assert [b["payload"] for b in offer["payload"]["buttons"]] == ["预约回电", "/queue"]
    async with sessions() as session:
        assert (await session.get(Conversation, conversation.id)).state == "bot"
    # "Call me back" is an ordinary message for the bot (its callback form)
    await service.customer_message(conversation.id, "预约回电", wait_for_bot=True)
    assert service.bot.sent[-1][1] == "预约回电"
    # "Keep waiting" queues after all, with the team the bot chose, without asking the bot
    await service.customer_message(conversation.id, "转人工", wait_for_bot=True)
    sent = len(service.bot.sent)
    await service.customer_message(conversation.id, "/queue", wait_for_bot=True)
    assert len(service.bot.sent) == sent
    async with sessions() as session:
        stored = await session.get(Conversation, conversation.id)
        kinds = (
            await session.scalars(
                select(Event.kind).where(Event.conversation_id == conversation.id)
            )
        ).all()
    assert stored.state == "queued" and stored.team == "claims"
    assert kinds.count("handoff_deferred") == 2 and kinds[-1] == "handoff"


async def test_outside_service_hours_only_a_callback_is_offered(service, sessions):
    service.in_service_hours = lambda now: False
    service.service_hours_text = "09:00–21:00"
    conversation, _ = await service.open("web", "s-night")
    await service.customer_message(conversation.id, "I want a human", wait_for_bot=True)
    offer = (await service.messages_after(conversation.id))[-1]
    assert "09:00–21:00" in offer["text"]
    assert [b["payload"] for b in offer["payload"]["buttons"]] == ["Call me back"]
    # a typed /queue is not an offered button: it goes to the bot as plain text
    await service.customer_message(conversation.id, "/queue", wait_for_bot=True)
    assert service.bot.sent[-1][1] == "queue"
    async with sessions() as session:
        assert (await session.get(Conversation, conversation.id)).state == "bot"


async def test_bot_outage_hands_the_customer_to_people(service, sessions):
    service.bot.down = True
    conversation, _ = await service.open("web", "s5")
    await service.customer_message(conversation.id, "hello", wait_for_bot=True)
    async with sessions() as session:
        stored = await session.get(Conversation, conversation.id)
    assert stored.state == "queued" and stored.handoff_reason == "bot_unavailable"


@pytest.mark.parametrize("bot_down", [False, True], ids=["bot's handoff", "bot outage"])
async def test_a_handoff_summary_reaches_agents_and_events_masked(service, sessions, bot_down):
    """Whatever the summary the bot (or an outage) hands over carries, agents, pushes
    and events get ID card numbers, mobiles and codes masked."""
    service.bot.down = bot_down
    conversation, _ = await service.open("web", f"masked-{bot_down}")
    typed = "转人工 身份证110105198604120353 手机13800138000 验证码 184457"
    await service.customer_message(conversation.id, typed, wait_for_bot=True)
    async with sessions() as session:
        stored = await session.get(Conversation, conversation.id)
        events = (
            await session.scalars(
                select(Event.data).where(
                    Event.conversation_id == conversation.id, Event.kind == "handoff"
                )
            )
        ).all()
    masked = "转人工 身份证110***********0353 手机138****8000 验证码 ******"
    assert stored.state == "queued" and stored.handoff_summary == masked
    assert [data["summary"] for data in events] == [masked]
    assert (await service.view(stored))["handoff_summary"] == masked


async def test_assign_reply_resolve_and_reopen(service, sessions):
    agent = await make_agent(sessions)
    other = await make_agent(sessions, "a2")
    conversation, _ = await service.open("web", "s6")
    with pytest.raises(DeskError):
        await service.assign(conversation.id, agent)  # not queued yet
    await service.customer_message(conversation.id, "转人工", wait_for_bot=True)
    assigned = await service.assign(conversation.id, agent)
    assert assigned["state"] == "assigned" and assigned["assigned_agent_id"] == agent.id
    with pytest.raises(DeskError) as taken:
        await service.assign(conversation.id, other)
    assert taken.value.code == "already_assigned"
    with pytest.raises(DeskError):
        await service.agent_message(conversation.id, other, "hi")
    reply, _ = await service.agent_message(conversation.id, agent, "您好", "agent-1")
    again, new = await service.agent_message(conversation.id, agent, "您好", "agent-1")
    assert not new and again["seq"] == reply["seq"]
    await service.customer_message(conversation.id, "谢谢")
    with pytest.raises(DeskError):
        await service.resolve(conversation.id, other)
    resolved = await service.resolve(conversation.id, agent, "answered")
    assert resolved["state"] == "resolved"
    await service.customer_message(conversation.id, "你好", wait_for_bot=True)
    async with sessions() as session:
        stored = await session.get(Conversation, conversation.id)
        kinds = (
            await session.scalars(
                select(Event.kind)
                .where(Event.conversation_id == conversation.id)
                .order_by(Event.id)
            )
        ).all()
        count = len(
            (
                await session.scalars(
                    select(Message.seq).where(Message.conversation_id == conversation.id)
                )
            ).all()
        )
    assert stored.state == "bot"
    # One first reply however many the agent sent; the customer's message after the
    # resolution reopens it with the bot, which answers.
    assert kinds == [
        "created",
        "bot_reply",
        "handoff",
        "assigned",
        "first_agent_reply",
        "resolved",
        "reopened",
        "bot_reply",
    ]
    assert count == stored.last_seq


async def test_supervisor_sees_everything_agents_their_own(service, sessions):
    agent = await make_agent(sessions)
    other = await make_agent(sessions, "a2")
    supervisor = await make_agent(sessions, "s1", AgentRole.SUPERVISOR)
    conversation, _ = await service.open("web", "s7")
    await service.customer_message(conversation.id, "转人工", wait_for_bot=True)
    await service.assign(conversation.id, agent)
    assert [c["id"] for c in await service.conversations("assigned", other)] == []
    assert [c["id"] for c in await service.conversations("assigned", supervisor)] == [
        conversation.id
    ]
    with pytest.raises(DeskError):
        await service.conversation_for(conversation.id, other)


async def test_acknowledgements_only_move_forward(service, sessions):
    conversation, _ = await service.open("web", "s8")
    await service.customer_message(conversation.id, "hello", wait_for_bot=True)
    await service.acknowledge(conversation.id, 2)
    await service.acknowledge(conversation.id, 1)
    await service.acknowledge(conversation.id, 99)  # beyond what was sent: ignored
    async with sessions() as session:
        stored = await session.get(Conversation, conversation.id)
    assert stored.customer_ack_seq == 2


async def test_a_silent_bot_hands_the_customer_to_people(service, sessions):
    async def silent(sender, text, metadata):
        return []

    service.bot.send = silent
    conversation, _ = await service.open("web", "s9")
    await service.customer_message(conversation.id, "hello", wait_for_bot=True)
    messages = await service.messages_after(conversation.id)
    assert [m["sender"] for m in messages] == ["customer", "bot", "system"]
    async with sessions() as session:
        assert (await session.get(Conversation, conversation.id)).state == "queued"


async def test_ratings_after_an_agent_resolves(service, sessions):
    agent = await make_agent(sessions)
    conversation, _ = await service.open("web", "r1")
    await service.customer_message(conversation.id, "转人工", wait_for_bot=True)
    await service.assign(conversation.id, agent)
    await service.resolve(conversation.id, agent, "answered")
    asked = (await service.messages_after(conversation.id))[-1]
    payloads = [b["payload"] for b in asked["payload"]["buttons"]]
    assert asked["sender"] == "system" and len(payloads) == 5
    assert '/rate{"score": 4}' in payloads
    await service.customer_message(conversation.id, '/rate{"score": 4}', wait_for_bot=True)
    async with sessions() as session:
        stored = await session.get(Conversation, conversation.id)
        csat = (await session.scalars(select(Event).where(Event.kind == "csat"))).all()
    assert stored.state == "resolved"  # a rating does not reopen the conversation
    assert [(e.data, e.agent_id) for e in csat] == [({"score": 4}, agent.id)]
    assert (await service.messages_after(conversation.id))[-1]["text"] == "感谢您的评价!"
    # typed, not offered: ordinary (neutralised) text that reopens the conversation
    await service.customer_message(conversation.id, '/rate{"score": 1}', wait_for_bot=True)
    assert service.bot.sent[-1][1] == 'rate{"score": 1}'


async def test_the_bot_seeing_the_customer_off_resolves_and_asks_for_a_rating(service, sessions):
    conversation, _ = await service.open("web", "r2")
    await service.customer_message(conversation.id, "bye", wait_for_bot=True)
    messages = await service.messages_after(conversation.id)
    assert [m["sender"] for m in messages] == ["customer", "bot", "system"]
    assert len(messages[-1]["payload"]["buttons"]) == 5
    async with sessions() as session:
        stored = await session.get(Conversation, conversation.id)
        resolved = await session.scalar(select(Event).where(Event.kind == "resolved"))
    assert stored.state == "resolved" and resolved.data == {"by": "bot"}
