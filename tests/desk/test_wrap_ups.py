"""Wrap-up after an agent resolves (SQLite and PostgreSQL): finished by hand, or by
housekeeping at the limit (with the round's time given, no waiting), exactly once even
with several processes at once; a bot's resolve has none; a conversation the customer
reopens keeps its wrap-up with the resolve before, in the rollups too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from desk.analytics.rollups import refresh
from desk.clock import aware
from desk.conversations import ConversationService
from desk.errors import DeskError
from desk.housekeeping import run_once
from store.db import create_engine, session_factory
from store.models import AgentRole, Event
from store.rollups import ResolveFact
from store.wrap_ups import WrapUp
from tests.desk.test_conversations import Recorder, ScriptedBot, make_agent

LIMIT = timedelta(seconds=120)


@pytest.fixture
async def desk(database_url) -> AsyncIterator:
    """`desk()` starts one console process's service on the same database."""
    engines = []

    def start() -> ConversationService:
        engine = create_engine(database_url)
        engines.append(engine)
        service = ConversationService(
            session_factory(engine), ScriptedBot(), auto_assign=False, wrap_up_max=LIMIT
        )
        service.add_channel(Recorder())
        return service

    yield start
    for engine in engines:
        await engine.dispose()


async def resolved_by(service: ConversationService, agent, name: str) -> int:
    """A customer handed over, answered and resolved by `agent`."""
    await service.set_presence(agent.id, "online")
    conversation, _ = await service.open("web", name)
    await service.customer_message(conversation.id, "转人工", wait_for_bot=True)
    await service.assign(conversation.id, agent)
    await service.agent_message(conversation.id, agent, "您好")
    await service.resolve(conversation.id, agent, "answered")
    return conversation.id


async def wrap_up_events(service: ConversationService, conversation_id: int) -> list[Event]:
    async with service.sessions() as session:
        return list(
            await session.scalars(
                select(Event)
                .where(Event.kind == "wrap_up_done", Event.conversation_id == conversation_id)
                .order_by(Event.id)
            )
        )


async def the_wrap_up(service: ConversationService, conversation_id: int) -> WrapUp:
    async with service.sessions() as session:
        [wrap_up] = await session.scalars(
            select(WrapUp).where(WrapUp.conversation_id == conversation_id)
        )
    return wrap_up


async def resolve_event(service: ConversationService, conversation_id: int) -> Event:
    async with service.sessions() as session:
        [resolved] = await session.scalars(
            select(Event).where(Event.kind == "resolved", Event.conversation_id == conversation_id)
        )
    return resolved


async def test_the_agent_finishes_their_wrap_up_by_hand_once(desk, sessions):
    service = desk()
    agent = await make_agent(sessions, "wa")
    colleague = await make_agent(sessions, "wb")
    conversation_id = await resolved_by(service, agent, "w1")
    resolved = await resolve_event(service, conversation_id)
    started = await the_wrap_up(service, conversation_id)
    assert (started.agent_id, started.finished_at) == (agent.id, None)
    assert aware(started.started_at) == aware(resolved.at)
    with pytest.raises(DeskError) as refused:
        await service.finish_wrap_up(conversation_id, colleague)
    assert (refused.value.code, refused.value.status) == ("forbidden", 403)
    done = await service.finish_wrap_up(conversation_id, agent)
    finished = await the_wrap_up(service, conversation_id)
    seconds = (aware(finished.finished_at) - aware(finished.started_at)).total_seconds()
    assert done == {
        "conversation_id": conversation_id,
        "agent_id": agent.id,
        "seconds": seconds,
        "auto": False,
        "resolve_id": resolved.id,
    }
    [event] = await wrap_up_events(service, conversation_id)
    assert (event.agent_id, event.data) == (
        agent.id,
        {"seconds": seconds, "auto": False, "resolve_id": resolved.id},
    )
    with pytest.raises(DeskError) as again:
        await service.finish_wrap_up(conversation_id, agent)
    assert (again.value.code, again.value.status) == ("no_wrap_up", 409)
    assert len(await wrap_up_events(service, conversation_id)) == 1


async def test_housekeeping_finishes_a_wrap_up_at_the_limit(desk, sessions):
    service = desk()
    agent = await make_agent(sessions, "wc")
    conversation_id = await resolved_by(service, agent, "w2")
    started = aware((await the_wrap_up(service, conversation_id)).started_at)
    await run_once(service, 60, started + LIMIT - timedelta(seconds=1))
    assert await wrap_up_events(service, conversation_id) == []
    await run_once(service, 60, started + LIMIT)
    [event] = await wrap_up_events(service, conversation_id)
    assert (event.agent_id, event.data["seconds"], event.data["auto"]) == (agent.id, 120.0, True)
    assert aware((await the_wrap_up(service, conversation_id)).finished_at) == started + LIMIT
    # Later rounds and the agent's late button change nothing.
    await run_once(service, 60, started + 2 * LIMIT)
    with pytest.raises(DeskError) as late:
        await service.finish_wrap_up(conversation_id, agent)
    assert late.value.code == "no_wrap_up"
    assert len(await wrap_up_events(service, conversation_id)) == 1


async def test_several_processes_finish_a_wrap_up_once(desk, sessions):
    first, second = desk(), desk()
    agent = await make_agent(sessions, "wd")
    conversation_id = await resolved_by(first, agent, "w3")
    started = aware((await the_wrap_up(first, conversation_id)).started_at)
    at = started + LIMIT + timedelta(seconds=5)
    answers = await asyncio.gather(
        first.finish_overdue_wrap_ups(at),
        second.finish_overdue_wrap_ups(at),
        second.finish_wrap_up(conversation_id, agent),
        return_exceptions=True,
    )
    finished = [a for a in answers if a == 1 or isinstance(a, dict)]
    assert len(finished) == 1, answers
    assert len(await wrap_up_events(first, conversation_id)) == 1


async def test_a_bot_resolve_has_no_wrap_up(desk, sessions):
    service = desk()
    boss = await make_agent(sessions, "we", AgentRole.SUPERVISOR, "general")
    conversation, _ = await service.open("web", "w4")
    await service.customer_message(conversation.id, "bye", wait_for_bot=True)
    assert (await resolve_event(service, conversation.id)).data == {"by": "bot"}
    async with sessions() as session:
        assert list(await session.scalars(select(WrapUp))) == []
    with pytest.raises(DeskError) as none:
        await service.finish_wrap_up(conversation.id, boss)
    assert none.value.code == "no_wrap_up"


async def test_a_reopened_conversation_keeps_the_wrap_up_with_the_resolve_before(desk, sessions):
    service = desk()
    agent = await make_agent(sessions, "wf")
    conversation_id = await resolved_by(service, agent, "w5")
    resolved = await resolve_event(service, conversation_id)
    # The customer writes again before the agent finished: back with the bot.
    await service.customer_message(conversation_id, "还有一个问题", wait_for_bot=True)
    assert (await service.get(conversation_id)).state == "bot"
    done = await service.finish_wrap_up(conversation_id, agent)
    assert done["resolve_id"] == resolved.id
    await refresh(sessions)
    async with sessions() as session:
        [fact] = await session.scalars(
            select(ResolveFact).where(ResolveFact.conversation_id == conversation_id)
        )
    assert (fact.event_id, fact.wrap_up_seconds) == (resolved.id, done["seconds"])
