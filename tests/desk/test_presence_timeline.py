"""The agent status timeline (SQLite and PostgreSQL): one `presence` event per change,
from the console's choice, a heartbeat that brings an agent back, a lapse nobody
heard from (timed when it happened), and a process starting that marks all offline."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from desk.clock import aware
from store.models import Agent, Event
from tests.desk.test_conversations import make_agent


async def timeline(sessions, agent_id: int) -> list[tuple[str, str, bool]]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Event)
            .where(Event.kind == "presence", Event.agent_id == agent_id)
            .order_by(Event.id)
        )
        return [(e.data["previous"], e.data["presence"], bool(e.data.get("lapsed"))) for e in rows]


async def test_each_change_is_one_event_and_a_repeat_none(service, sessions):
    agent = await make_agent(sessions, "tl1")
    for presence in ("online", "online", "away", "online", "offline"):
        await service.set_presence(agent.id, presence)
    assert await timeline(sessions, agent.id) == [
        ("offline", "online", False),
        ("online", "away", False),
        ("away", "online", False),
        ("online", "offline", False),
    ]


async def test_a_heartbeat_brings_an_agent_back_once(service, sessions):
    agent = await make_agent(sessions, "tl2")
    # two processes holding their console, heart-beating one after the other
    await service.heartbeat([agent.id])
    await service.heartbeat([agent.id])
    assert await timeline(sessions, agent.id) == [("offline", "online", False)]


async def test_an_agent_nobody_heard_from_lapses_when_it_happened(service, sessions):
    agent = await make_agent(sessions, "tl3")
    await service.set_presence(agent.id, "away")
    async with sessions() as session:
        heard = aware((await session.get(Agent, agent.id)).presence_at)
    # within the time to live: still away
    assert await service.lapse_presence(heard + service.presence_ttl / 2) == 0
    # (and the fixture's agent on duty, heard from no later)
    assert await service.lapse_presence(heard + service.presence_ttl * 3) == 2
    # the consoles hear it (the supervisors' boards are drawn again)
    assert ("presence", (agent.id, "offline")) in service.hub.pushes
    assert await service.lapse_presence(heard + service.presence_ttl * 4) == 0
    async with sessions() as session:
        [lapse] = (
            await session.scalars(
                select(Event)
                .where(Event.agent_id == agent.id, Event.kind == "presence")
                .order_by(Event.id.desc())
                .limit(1)
            )
        ).all()
        assert (await session.get(Agent, agent.id)).presence == "offline"
    assert abs(aware(lapse.at) - (heard + service.presence_ttl)) < timedelta(milliseconds=1)
    await service.heartbeat([agent.id])
    assert await timeline(sessions, agent.id) == [
        ("offline", "away", False),
        ("away", "offline", True),
        ("offline", "online", False),
    ]


async def test_a_process_starting_marks_everyone_offline_on_the_timeline(service, sessions):
    agent = await make_agent(sessions, "tl4")
    await service.set_presence(agent.id, "online")
    await service.mark_all_offline()
    assert (await timeline(sessions, agent.id))[-1] == ("online", "offline", False)
    # the fixture's agent on duty too
    assert (await timeline(sessions, service.on_duty.id))[-1] == ("online", "offline", False)
