"""Sessions end when they should: signing out (page or API), a new password or a
deactivation end every session of the agent (tokens, cookies, open consoles); a change
of role or team closes their consoles, which connect again with the new rights."""

from __future__ import annotations

import pytest
import socketio
from sqlalchemy import select

from console.keys import service_key
from desk.housekeeping import run_once
from desk.sign_in import end_sessions
from store.db import create_engine, session_factory
from store.models import Agent
from tests.console.test_admin import sign_in
from tests.console.test_agent_socket import Console
from tests.console.test_api import bearer, token
from tests.console_app import start_console


@pytest.fixture
async def client(sqlite_url):
    client = await start_console(
        sqlite_url, housekeeping=False, auto_assign=False, service_hours="00:00-24:00"
    )
    yield client
    await client.close()


async def signed_in(client, headers=None) -> int:
    return (await client.get("/api/v1/teams", headers=headers)).status


async def test_signing_out_of_the_page_ends_every_session_of_the_agent(client):
    api = bearer(await token(client, "agent1"))
    console = await Console(client.base).connect(await token(client, "agent1"))
    other = await Console(client.base).connect(await token(client, "agent2"))
    csrf = await sign_in(client, "agent1")
    assert (await client.get("/console", allow_redirects=False)).status == 200
    assert await signed_in(client, api) == 200

    out = await client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/login"
    await console.wait_closed()
    assert await signed_in(client, api) == 401
    # the old cookie, replayed, is no good either
    assert (await client.get("/console", allow_redirects=False)).headers["Location"] == "/login"
    # another agent is untouched; signing in again works
    assert (await other.call("queue"))["ok"]
    assert await signed_in(client, bearer(await token(client, "agent1"))) == 200
    await other.disconnect()


async def test_signing_out_of_the_api_ends_the_consoles_too(client):
    first, second = await token(client, "agent1"), await token(client, "agent1")
    console = await Console(client.base).connect(first)
    out = await client.post("/api/v1/auth/logout", headers=bearer(second))
    assert out.status == 204
    await console.wait_closed()
    assert await signed_in(client, bearer(first)) == 401
    assert (await client.post("/api/v1/auth/logout")).status == 401


@pytest.mark.parametrize(
    "change",
    [{"password": "a brand new password"}, {"active": False}],
    ids=["new password", "deactivated"],
)
async def test_a_new_password_or_a_deactivation_ends_every_session(client, change):
    admin = bearer(await token(client, "admin1"))
    agent_token = await token(client, "agent2")
    console = await Console(client.base).connect(agent_token)
    agents = (await (await client.get("/api/v1/agents", headers=admin)).json())["agents"]
    agent_id = next(a["id"] for a in agents if a["username"] == "agent2")
    changed = await client.patch(f"/api/v1/agents/{agent_id}", headers=admin, json=change)
    assert changed.status == 200
    await console.wait_closed()
    assert await signed_in(client, bearer(agent_token)) == 401
    with pytest.raises(socketio.exceptions.ConnectionError):
        await Console(client.base).connect(agent_token)


async def test_a_new_team_closes_the_console_which_comes_back_in_the_new_team(client):
    admin = bearer(await token(client, "admin1"))
    agent_token = await token(client, "agent1")
    console = await Console(client.base).connect(agent_token)
    assert (await console.call("queue"))["me"]["team"] == "general"
    agents = (await (await client.get("/api/v1/agents", headers=admin)).json())["agents"]
    agent_id = next(a["id"] for a in agents if a["username"] == "agent1")
    # a new display name changes no rights: the console stays
    renamed = await client.patch(
        f"/api/v1/agents/{agent_id}", headers=admin, json={"display_name": "王芳"}
    )
    assert renamed.status == 200 and (await console.call("queue"))["ok"]
    moved = await client.patch(f"/api/v1/agents/{agent_id}", headers=admin, json={"team": "claims"})
    assert moved.status == 200
    await console.wait_closed()
    # the sign-in still holds; the console connects again, in its new team's rooms
    again = await Console(client.base).connect(agent_token)
    assert (await again.call("queue"))["me"]["team"] == "claims"
    await again.disconnect()


async def test_a_sign_out_through_another_process_closes_consoles_at_the_next_round(client):
    agent_token = await token(client, "agent1")
    console = await Console(client.base).connect(agent_token)
    service = client.app[service_key]
    engine = create_engine(client.settings.database_url)
    sessions = session_factory(engine)
    async with sessions() as session:
        agent_id = await session.scalar(select(Agent.id).where(Agent.username == "agent1"))
    await end_sessions(sessions, agent_id)  # as another console process would
    await engine.dispose()
    refused = await console.call("queue")  # refused at once
    assert refused["error"]["code"] == "unauthorised" and not console.closed.is_set()
    await run_once(service, grace_seconds=60)  # and closed by this process's next round
    await console.wait_closed()
