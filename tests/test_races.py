"""Two console processes on one PostgreSQL store and a Redis message queue, both
dispatching, requeueing and resolving at once: every state change happens
exactly once, because each is a conditional UPDATE whose row count decides.

No Rasa here: the conversations are put in the queue directly, a hundred in one
commit, while agents are online on both processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
import socketio
from sqlalchemy import func, select

from desk.clock import now
from store.db import create_engine, session_factory
from store.models import (
    Agent,
    AgentRole,
    Conversation,
    ConversationState,
    Event,
    Message,
    SenderKind,
)
from tests.passwords import password_hash
from web.stack import AgentApi, web_processes

pytestmark = pytest.mark.postgres

AGENTS = 6
CAPACITY = 10  # 60 places for 100 conversations: the dispatchers fill every one
CONVERSATIONS = 100
DEADLINE = 120  # seconds; a bound on waiting for the processes, not a speed target


@pytest.fixture
async def store(postgres_url):
    engine = create_engine(postgres_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def consoles(postgres_url, tmp_path):
    settings = {
        "AUTO_ASSIGN": "true",
        "HOUSEKEEPING_SECONDS": "0.2",
        "AGENT_RECONNECT_GRACE_SECONDS": "1",
    }
    with web_processes(postgres_url, tmp_path, **settings) as bases:
        yield bases


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for the processes to reach a state (bounded), checking the store."""
    deadline = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def count(store, query) -> int:
    async with store() as session:
        return await session.scalar(query) or 0


async def per_conversation(store, kind: str) -> dict[int, int]:
    async with store() as session:
        rows = await session.execute(
            select(Event.conversation_id, func.count())
            .where(Event.kind == kind)
            .group_by(Event.conversation_id)
        )
        return {conversation_id: n for conversation_id, n in rows}


async def test_two_processes_change_each_state_exactly_once(consoles, store):
    async with store.begin() as session:
        agents = [
            Agent(
                username=f"racer{n}",
                display_name=f"Racer {n}",
                password_hash=password_hash("pw"),
                role=AgentRole.AGENT,
                team="general",
                capacity=CAPACITY,
            )
            for n in range(AGENTS)
        ]
        session.add_all(agents)
    async with aiohttp.ClientSession() as http:
        sockets = []
        for n, agent in enumerate(agents):
            api = AgentApi(http, consoles[n % 2])
            await api.login(agent.username, "pw")
            # Every agent online on one process, the first two on both.
            for base in {consoles[n % 2], *(consoles if n < 2 else [])}:
                console = socketio.AsyncClient(reconnection=False)
                await console.connect(
                    base,
                    namespaces=["/agents"],
                    auth={"token": api.token},
                    transports=["websocket"],
                )
                sockets.append(console)
        # demo agent1 (general) is online nowhere; keep it out of the way
        async with store.begin() as session:
            ids = [a.id for a in agents]
            assert (
                await session.scalar(
                    select(func.count()).where(Agent.id.in_(ids), Agent.presence == "online")
                )
                == AGENTS
            )

        # a hundred conversations join the queue in one commit
        async with store.begin() as session:
            session.add_all(
                Conversation(
                    channel="web",
                    external_user_id=f"race-{n}",
                    state=ConversationState.QUEUED,
                    team="general",
                    queued_at=now(),
                    handoff_reason="request_human",
                )
                for n in range(CONVERSATIONS)
            )
        assigned = select(func.count()).where(Conversation.state == ConversationState.ASSIGNED)
        await until(
            lambda: _equals(count(store, assigned), AGENTS * CAPACITY), "every place filled"
        )

        # each conversation assigned exactly once, told "joined" once; nobody over capacity
        events = await per_conversation(store, "assigned")
        assert sorted(set(events.values())) == [1] and len(events) == AGENTS * CAPACITY
        async with store() as session:
            joined = dict(
                (
                    await session.execute(
                        select(Message.conversation_id, func.count())
                        .where(
                            Message.sender == SenderKind.SYSTEM,
                            Message.payload["agent_name"].as_string().is_not(None),
                        )
                        .group_by(Message.conversation_id)
                    )
                ).all()
            )
            loads = dict(
                (
                    await session.execute(
                        select(Conversation.assigned_agent_id, func.count())
                        .where(Conversation.state == ConversationState.ASSIGNED)
                        .group_by(Conversation.assigned_agent_id)
                    )
                ).all()
            )
        assert joined == events
        assert loads == {agent.id: CAPACITY for agent in agents}

        # every agent leaves at once: both processes requeue, each conversation once
        for console in sockets:
            await console.disconnect()
        queued = select(func.count()).where(Conversation.state == ConversationState.QUEUED)
        await until(lambda: _equals(count(store, queued), CONVERSATIONS), "all requeued")
        requeued = await per_conversation(store, "requeued")
        assert requeued == {conversation_id: 1 for conversation_id in events}

        # a supervisor resolves twenty conversations through both processes at once
        supervisors = [AgentApi(http, base) for base in consoles]
        for supervisor in supervisors:
            await supervisor.login("supervisor1", "pw")
        async with store() as session:
            chosen = (
                await session.scalars(select(Conversation.id).order_by(Conversation.id).limit(20))
            ).all()
        answers = await asyncio.gather(
            *(
                supervisor.request(
                    "POST", f"/api/v1/conversations/{cid}/resolve", json={"reason": "answered"}
                )
                for cid in chosen
                for supervisor in supervisors
            )
        )
        assert {status for status, _ in answers} == {200}
        assert {body["state"] for _, body in answers} == {"resolved"}
        resolved = await per_conversation(store, "resolved")
        assert resolved == {cid: 1 for cid in chosen}


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected
