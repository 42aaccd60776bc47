"""The wallboard over the agents' namespace: a supervisor's snapshot on asking, an
agent refused, a fresh snapshot pushed to the supervisors after a handoff; a wallboard
socket does not put its supervisor online; and the pushes coalesced, at most one per
interval however many changes come (driven by hand, no timers)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from console.agents import NAMESPACE, SUPERVISORS
from console.keys import service_key
from console.wallboard import Coalesced
from store.models import Agent
from tests.console.test_agent_socket import Console, queued_customer
from tests.console.test_api import token
from tests.console_app import start_console


@pytest.fixture
async def client(sqlite_url):
    client = await start_console(
        sqlite_url, housekeeping=False, auto_assign=False, service_hours="00:00-24:00"
    )
    yield client
    await client.close()


def queued(board: dict) -> dict[str, int]:
    return {team["code"]: team["queued"] for team in board["teams"]}


async def board_of(client, username: str) -> Console:
    """A wallboard's socket: recording the pushed snapshots."""
    console = Console(client.base)
    console.sio.on("wallboard", console._recorder("wallboard"), namespace="/agents")
    await console.sio.connect(
        client.base,
        namespaces=["/agents"],
        auth={"token": await token(client, username), "wallboard": True},
        headers={"Origin": client.base},
        transports=["websocket"],
        wait_timeout=5,
    )
    return console


async def test_supervisors_get_the_board_and_a_fresh_one_after_a_handoff(client):
    board = await board_of(client, "supervisor1")
    answer = await board.call("wallboard")
    assert answer["ok"]
    assert queued(answer["wallboard"]) == {"general": 0, "claims": 0, "complaints": 0}
    assert answer["wallboard"]["service_level"]["target_seconds"] == 20.0
    customer, conversation = await queued_customer(client)
    pushed = await board.pushed("wallboard", lambda d: queued(d)["general"] == 1)
    assert pushed["teams"][0]["longest_wait_seconds"] >= 0
    assert pushed["projection"]["misses_soon"] == 1
    await customer.disconnect()
    await board.disconnect()


async def closed_on_the_server(client, left: int) -> None:
    """Until the supervisors' room holds `left` sockets: the server handled the close."""
    hub = client.app[service_key].hub
    for _ in range(200):
        if len(list(hub.server.manager.get_participants(NAMESPACE, SUPERVISORS))) == left:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the wallboard's socket is still open on the server")


def presence_of(board: dict, name: str) -> str:
    return next(a["presence"] for a in board["agents"] if a["display_name"] == name)


async def test_a_wallboard_closing_leaves_its_supervisor_as_they_were(client):
    """A console closing marks its agent offline; a wallboard only watches."""
    watcher = await board_of(client, "admin1")
    board = await board_of(client, "supervisor1")  # signing in put them online
    name = next(
        a["display_name"]
        for a in (await board.call("wallboard"))["wallboard"]["agents"]
        if a["role"] == "supervisor"
    )
    assert presence_of((await watcher.call("wallboard"))["wallboard"], name) == "online"
    await board.disconnect()
    await closed_on_the_server(client, 1)
    assert presence_of((await watcher.call("wallboard"))["wallboard"], name) == "online"
    console = await Console(client.base).connect(await token(client, "supervisor1"))
    await console.disconnect()
    await watcher.pushed("wallboard", lambda d: presence_of(d, name) == "offline")
    await watcher.disconnect()


async def test_an_agent_who_lapses_is_pushed_to_the_board_as_offline(client):
    """Housekeeping marks offline an agent nobody has heard from: the supervisors'
    boards hear it at once, not at the next change of their own."""
    board = await board_of(client, "admin1")
    service = client.app[service_key]
    await token(client, "agent1")  # signed in through the API: online for a minute
    async with service.sessions() as session:
        name = await session.scalar(select(Agent.display_name).where(Agent.username == "agent1"))
    assert presence_of((await board.call("wallboard"))["wallboard"], name) == "online"
    later = datetime.now(UTC) + service.presence_ttl * 2
    assert await service.lapse_presence(later) >= 1
    pushed = await board.pushed("wallboard", lambda d: presence_of(d, name) == "offline")
    assert presence_of(pushed, name) == "offline"
    await board.disconnect()


async def test_agents_are_refused_the_board_and_hear_none_of_it(client):
    agent = await board_of(client, "agent1")  # the wallboard flag means nothing to them
    refused = await agent.call("wallboard")
    assert refused == {
        "ok": False,
        "error": {
            "code": "forbidden",
            "message": "Only supervisors and admins see these figures.",
        },
    }
    admin = await board_of(client, "admin1")
    assert (await admin.call("wallboard"))["ok"]
    customer, _ = await queued_customer(client)
    await admin.pushed("wallboard", lambda d: queued(d)["general"] == 1)
    assert not [kind for kind, _ in agent.pushes if kind == "wallboard"]
    await customer.disconnect()
    for console in (agent, admin):
        await console.disconnect()


async def test_changes_within_an_interval_make_one_push_at_its_end():
    pushes: list[int] = []
    paused: list[asyncio.Future] = []

    async def push() -> None:
        pushes.append(len(pushes))

    def pause(seconds: float) -> asyncio.Future:
        paused.append(asyncio.get_running_loop().create_future())
        return paused[-1]

    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    coalesced = Coalesced(push, 1.0, pause)
    coalesced.changed()
    await settle()
    assert pushes == [0]  # at once after a quiet spell
    coalesced.changed()
    coalesced.changed()
    coalesced.changed()
    await settle()
    assert pushes == [0]  # held until the interval ends
    paused[-1].set_result(None)
    await settle()
    assert pushes == [0, 1]  # three changes, one push
    paused[-1].set_result(None)
    await settle()
    assert len(paused) == 2 and coalesced.task is not None and coalesced.task.done()
    coalesced.changed()  # quiet again: at once
    await settle()
    assert pushes == [0, 1, 2]
    await coalesced.close()


async def test_the_goal_is_the_consoles_setting(sqlite_url):
    client = await start_console(sqlite_url, housekeeping=False, service_level_goal=0.96)
    try:
        board = await board_of(client, "supervisor1")
        answer = await board.call("wallboard")
        assert answer["wallboard"]["service_level"]["goal"] == 0.96
        await board.disconnect()
    finally:
        await client.close()
