"""Queue order, automatic assignment within capacity, transfer, queue positions,
returning an absent agent's conversations, notes, labels and canned replies:
the conversation service on SQLite and PostgreSQL with a scripted bot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from desk.conversations import ConversationService
from desk.errors import DeskError
from store.models import Agent, AgentRole, Conversation, Customer, Event, Note
from tests.desk.test_conversations import Recorder, ScriptedBot, make_agent


@pytest.fixture
async def service(sessions):
    recorder = Recorder()
    service = ConversationService(sessions, ScriptedBot(), recorder, default_wait_seconds=30)
    service.add_channel(recorder)
    service.recorder = recorder
    return service


async def online(service, sessions, username, capacity=3, team="claims", role=AgentRole.AGENT):
    agent = await make_agent(sessions, username, role, team)
    async with sessions.begin() as session:
        await session.execute(update(Agent).where(Agent.id == agent.id).values(capacity=capacity))
    agent.capacity = capacity
    await service.set_presence(agent.id, "online")
    return agent


async def handed_over(service, user: str) -> int:
    conversation, _ = await service.open("web", user)
    await service.customer_message(conversation.id, "转人工", wait_for_bot=True)
    return conversation.id


async def stored(sessions, conversation_id) -> Conversation:
    async with sessions() as session:
        return await session.get(Conversation, conversation_id)


async def test_auto_assignment_goes_to_the_least_busy_agent_within_capacity(service, sessions):
    busy = await online(service, sessions, "busy", capacity=2)
    idle = await online(service, sessions, "idle", capacity=1)
    away = await online(service, sessions, "away", capacity=5)
    await service.set_presence(away.id, "away")
    other_team = await online(service, sessions, "general", capacity=5, team="general")

    first = await handed_over(service, "c1")
    second = await handed_over(service, "c2")
    third = await handed_over(service, "c3")
    fourth = await handed_over(service, "c4")
    owners = [(await stored(sessions, c)).assigned_agent_id for c in (first, second, third)]
    # least busy first (ties by id), never beyond capacity, never to away or other teams
    assert owners == [busy.id, idle.id, busy.id]
    assert (await stored(sessions, fourth)).state == "queued"
    assert away.id not in owners and other_team.id not in owners

    # resolving frees room: the waiting conversation goes to that agent at once
    await service.resolve(first, busy, "answered")
    assert (await stored(sessions, fourth)).assigned_agent_id == busy.id
    async with sessions() as session:
        auto = (
            await session.scalars(
                select(Event.data).where(Event.kind == "assigned", Event.conversation_id == fourth)
            )
        ).all()
    assert auto[0]["auto"] is True


async def test_queue_order_is_priority_then_waiting_time_with_positions_told(service, sessions):
    service.auto_assign = False
    await online(service, sessions, "on-duty")
    early = await handed_over(service, "q1")
    late = await handed_over(service, "q2")
    # an urgent handoff (a failing action) goes ahead of both
    conversation, _ = await service.open("web", "q3")

    async def failing(sender, text, metadata):
        return [{"custom": {"handoff": {"reason": "action_failed", "team": "claims"}}}]

    service.bot.send = failing
    await service.customer_message(conversation.id, "查理赔", wait_for_bot=True)
    urgent = conversation.id
    supervisor = await make_agent(sessions, "boss", AgentRole.SUPERVISOR)
    order = [c["id"] for c in await service.conversations("queued", supervisor)]
    assert order == [urgent, early, late]
    # the customers who were moved back heard their new place
    told = await service.messages_after(late)
    assert told[-1]["payload"]["queue"]["position"] == 3
    assert "第 3 位" in told[-1]["text"]
    assert (await service.messages_after(urgent))[-1]["payload"]["queue"]["position"] == 1

    # someone is answered: everyone behind moves up and is told so
    agent = await make_agent(sessions, "picker")
    await service.assign(urgent, agent)
    assert (await service.messages_after(early))[-1]["payload"]["queue"]["position"] == 1
    assert (await service.messages_after(late))[-1]["payload"]["queue"]["position"] == 2


async def test_agents_act_only_on_their_own_or_their_teams_conversations(service, sessions):
    service.auto_assign = False
    await online(service, sessions, "on-duty")
    general = await make_agent(sessions, "gen", team="general")
    trainer = await make_agent(sessions, "trainer", AgentRole.TRAINER)
    conversation = await handed_over(service, "t1")  # queued for claims
    for outsider in (general, trainer):
        assert await service.conversations("queued", outsider) == []
        with pytest.raises(DeskError) as refused:
            await service.assign(conversation, outsider)
        assert refused.value.status == 403
        with pytest.raises(DeskError):
            await service.add_note(conversation, outsider, "peeking")


async def test_transfer_to_a_team_and_to_an_agent_with_a_note(service, sessions):
    service.auto_assign = False
    first = await online(service, sessions, "first")
    conversation = await handed_over(service, "x1")
    await service.assign(conversation, first)
    with pytest.raises(DeskError):
        await service.transfer(conversation, first, "", team="complaints")  # a note is required
    moved = await service.transfer(conversation, first, "客户要投诉理赔时效", team="complaints")
    assert moved["state"] == "queued" and moved["team"] == "complaints"
    assert moved["priority"] >= 1 and moved["assigned_agent_id"] is None
    assert ("withdraw", conversation) in service.recorder.pushes
    texts = [m["text"] for m in await service.messages_after(conversation)]
    assert any("投诉" in t and "转接" in t for t in texts)
    # the first agent no longer sees or acts on it
    with pytest.raises(DeskError):
        await service.agent_message(conversation, first, "还在吗")

    complaints = await make_agent(sessions, "c-agent", team="complaints")
    supervisor = await make_agent(sessions, "sup", AgentRole.SUPERVISOR)
    handed = await service.transfer(
        conversation, supervisor, "直接给投诉组同事", to_agent_id=complaints.id
    )
    assert handed["state"] == "assigned" and handed["assigned_agent_id"] == complaints.id
    notes = await service.notes(conversation)
    assert [n["text"] for n in notes] == ["客户要投诉理赔时效", "直接给投诉组同事"]
    with pytest.raises(DeskError):
        await service.transfer(conversation, complaints, "no such team", team="nowhere")


async def test_an_agent_who_does_not_come_back_loses_their_conversations(service, sessions):
    agent = await online(service, sessions, "leaver")
    conversation = await handed_over(service, "d1")
    assert (await stored(sessions, conversation)).assigned_agent_id == agent.id
    await service.set_presence(agent.id, "offline")
    # within the grace period nothing moves
    assert await service.requeue_absent(grace_seconds=60) == 0
    async with sessions.begin() as session:
        await session.execute(
            update(Agent)
            .where(Agent.id == agent.id)
            .values(presence_at=datetime.now(UTC) - timedelta(seconds=90))
        )
    assert await service.requeue_absent(grace_seconds=60) == 1
    back = await stored(sessions, conversation)
    assert back.state == "queued" and back.assigned_agent_id is None and back.priority >= 1
    last = (await service.messages_after(conversation))[-1]
    assert last["payload"]["queue"]["position"] == 1
    # a colleague coming online takes it
    colleague = await online(service, sessions, "colleague")
    assert (await stored(sessions, conversation)).assigned_agent_id == colleague.id


async def test_an_agent_still_connected_to_another_process_stays_online(service, sessions):
    """Two console processes on one store: the agent's socket on this one closes
    (it marks them offline), their socket on the other is still open, and that
    process's next heartbeat puts them back; nothing of theirs is requeued."""
    other = ConversationService(sessions, ScriptedBot(), Recorder())
    agent = await online(service, sessions, "two-tabs")
    conversation = await handed_over(service, "p1")
    assert (await stored(sessions, conversation)).assigned_agent_id == agent.id

    await service.set_presence(agent.id, "offline")  # this process's last socket closed
    await other.heartbeat([agent.id])  # the other process still holds one
    async with sessions() as session:
        assert (await session.get(Agent, agent.id)).presence == "online"
    assert await service.requeue_absent(grace_seconds=0) == 0
    assert await other.requeue_absent(grace_seconds=0) == 0
    assert (await stored(sessions, conversation)).assigned_agent_id == agent.id

    # with no process holding a socket of theirs, the grace period runs out
    await service.set_presence(agent.id, "offline")
    assert await other.requeue_absent(grace_seconds=0) == 1
    assert await service.requeue_absent(grace_seconds=0) == 0  # requeued once, not twice
    async with sessions() as session:
        requeued = (
            await session.scalars(
                select(Event.id).where(
                    Event.kind == "requeued", Event.conversation_id == conversation
                )
            )
        ).all()
    assert len(requeued) == 1


async def test_a_process_that_stops_heart_beating_is_taken_to_be_gone(service, sessions):
    service.presence_ttl = timedelta(seconds=30)
    agent = await online(service, sessions, "crashed")
    conversation = await handed_over(service, "p2")
    async with sessions.begin() as session:
        await session.execute(
            update(Agent)
            .where(Agent.id == agent.id)
            .values(presence_at=datetime.now(UTC) - timedelta(seconds=31))
        )
    # still "online" in the row, but nobody has heard from their console
    assert await service.requeue_absent(grace_seconds=10) == 1
    assert (await stored(sessions, conversation)).state == "queued"
    assert await service.dispatch() == 0  # and nothing is given to them


async def test_an_agent_not_heard_from_for_a_minute_is_not_online(service, sessions):
    """With the service's own presence time (not one a test chose): an agent whose
    console nobody heart-beats stops counting for handoffs within a minute or so,
    not after the twelve hours their sign-in lasts."""
    agent = await online(service, sessions, "silent")
    async with sessions.begin() as session:
        await session.execute(
            update(Agent)
            .where(Agent.id == agent.id)
            .values(presence_at=datetime.now(UTC) - timedelta(minutes=2))
        )
    conversation = await handed_over(service, "unheard")
    assert (await stored(sessions, conversation)).state == "bot"  # a callback is offered
    assert await service.dispatch() == 0
    # their console is heard from again (a housekeeping round's heartbeat): online again
    await service.heartbeat([agent.id])
    again = await handed_over(service, "heard")
    assert (await stored(sessions, again)).assigned_agent_id == agent.id


@pytest.mark.parametrize("role", [AgentRole.ADMIN, AgentRole.TRAINER])
async def test_only_those_who_take_conversations_count_as_online(service, sessions, role):
    await online(service, sessions, f"signed-in-{role.value}", role=role, team="general")
    conversation = await handed_over(service, f"nobody-{role.value}")
    # nobody who could answer: a callback is offered instead of a queue nobody serves
    assert (await stored(sessions, conversation)).state == "bot"
    async with sessions() as session:
        kinds = (
            await session.scalars(select(Event.kind).where(Event.conversation_id == conversation))
        ).all()
    assert "handoff_deferred" in kinds and "queued" not in kinds
    await online(service, sessions, "a-supervisor", role=AgentRole.SUPERVISOR, team="general")
    assert (await stored(sessions, await handed_over(service, "someone"))).state == "queued"


async def backlog(sessions, team: str, count: int, since: datetime) -> None:
    """`count` conversations waiting in `team`'s queue, all longer than anything after."""
    async with sessions.begin() as session:
        session.add_all(
            Conversation(
                channel="web",
                external_user_id=f"backlog-{team}-{n}",
                state="queued",
                team=team,
                queued_at=since + timedelta(seconds=n),
            )
            for n in range(count)
        )


async def test_a_long_queue_of_another_team_hides_nothing_of_an_agents(service, sessions):
    service.auto_assign = False
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    await backlog(sessions, "claims", 520, long_ago)
    agent = await online(service, sessions, "general-agent", team="general")
    waiting = await handed_over_to(service, sessions, "general-customer", "general")
    mine = await handed_over_to(service, sessions, "my-customer", "general")
    await service.assign(mine, agent)
    queued = [c["id"] for c in await service.conversations("queued", agent)]
    assert queued == [waiting]
    assert [c["id"] for c in await service.conversations("assigned", agent)] == [mine]
    supervisor = await make_agent(sessions, "sup", AgentRole.SUPERVISOR, "general")
    assert len(await service.conversations("queued", supervisor)) == 500  # one page


async def test_a_long_queue_of_one_team_does_not_stop_another_being_served(service, sessions):
    service.auto_assign = False
    await backlog(sessions, "claims", 230, datetime.now(UTC) - timedelta(hours=1))
    agent = await online(service, sessions, "general-agent", team="general")
    waiting = await handed_over_to(service, sessions, "general-customer", "general")
    service.auto_assign = True
    assert await service.dispatch() == 1
    assert (await stored(sessions, waiting)).assigned_agent_id == agent.id


async def handed_over_to(service, sessions, user: str, team: str) -> int:
    conversation = await handed_over(service, user)
    async with sessions.begin() as session:
        await session.execute(
            update(Conversation).where(Conversation.id == conversation).values(team=team)
        )
    return conversation


async def test_locks_of_finished_turns_are_forgotten(service, sessions):
    for n in range(5):
        conversation, _ = await service.open("web", f"l{n}")
        await service.customer_message(conversation.id, "你好", wait_for_bot=True)
    assert len(service._bot_locks) == 0


async def test_notes_are_private_and_resends_are_harmless(service, sessions):
    agent = await online(service, sessions, "noter")
    conversation = await handed_over(service, "n1")
    delivered_before = list(service.recorder.log)
    note, new = await service.add_note(conversation, agent, "客户情绪激动,注意安抚", "n-1")
    again, duplicate = await service.add_note(conversation, agent, "客户情绪激动,注意安抚", "n-1")
    assert new and not duplicate and again["id"] == note["id"]
    assert service.recorder.log == delivered_before  # nothing reached the customer
    assert ("note", note) in service.recorder.pushes
    async with sessions() as session:
        assert len((await session.scalars(select(Note))).all()) == 1


async def test_labels_reasons_intents_and_canned_replies(service, sessions):
    agent = await online(service, sessions, "labeller")
    conversation = await handed_over(service, "l1")
    view = await service.set_labels(conversation, agent, ["理赔", "VIP", "理赔"])
    assert view["labels"] == ["理赔", "VIP"]
    with pytest.raises(DeskError):
        await service.set_labels(conversation, agent, ["x" * 40])
    # the intent the bot saw is kept on the customer's message and pushed live
    first = (await service.messages_after(conversation))[0]
    assert first["payload"]["intent"] == "request_human"
    assert ("intent", {"seq": 1, "intent": "request_human", "confidence": 0.9}) in (
        service.recorder.pushes
    )
    # canned replies in the conversation's language, with the verified customer's name
    async with sessions.begin() as session:
        customer = Customer(
            name="李娜",
            id_card_number="110101199001011234",
            mobile="13800000000",
            birth_date=datetime(1990, 1, 1).date(),
            gender="F",
            province="北京",
            city="北京",
            city_tier=1,
            has_social_insurance=True,
        )
        session.add(customer)
        await session.flush()
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation)
            .values(customer_id=customer.id)
        )
    text = await service.fill_canned(conversation, agent, "hello")
    assert text.startswith("李女士您好") and "LABELLER" in text
    with pytest.raises(DeskError):
        await service.resolve(conversation, agent, "because")
    resolved = await service.resolve(conversation, agent, "answered")
    assert resolved["resolution_reason"] == "answered"
