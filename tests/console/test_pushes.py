"""Who hears what over the agents' socket: pushes reach only those the API would show
the conversation to, and every change of hands closes the conversation's room, so a
watcher hears its messages only after watching again, which checks their rights."""

from __future__ import annotations

import pytest

from tests.console.test_agent_socket import Console, queued_customer
from tests.console.test_api import bearer, token
from tests.console_app import start_console

PASSWORD = "a long password"


@pytest.fixture
async def client(sqlite_url):
    client = await start_console(
        sqlite_url, housekeeping=False, auto_assign=False, service_hours="00:00-24:00"
    )
    admin = bearer(await token(client, "admin1"))
    created = await client.post(
        "/api/v1/agents",
        headers=admin,
        json={"username": "colleague1", "display_name": "同事", "password": PASSWORD},
    )
    assert created.status == 201
    yield client
    await client.close()


def views_of(console: Console, conversation: int) -> list[dict]:
    return [d for kind, d in console.pushes if kind == "conversation" and d["id"] == conversation]


def gone(console: Console, conversation: int) -> bool:
    return ("conversation_gone", {"conversation_id": conversation}) in console.pushes


async def test_a_taken_conversation_leaves_the_colleagues_screens(client):
    owner = await Console(client.base).connect(await token(client, "agent1"))
    colleague = await Console(client.base).connect(await token(client, "colleague1", PASSWORD))
    other = await Console(client.base).connect(await token(client, "agent2"))
    supervisor = await Console(client.base).connect(await token(client, "supervisor1"))
    customer, conversation = await queued_customer(client)
    # queued for the general team: its agents and the supervisors see it, claims does not
    await colleague.pushed("conversation", lambda d: d["id"] == conversation)
    watched = await colleague.call("watch", {"conversation_id": conversation, "after": 0})
    assert watched["ok"]
    assert (await supervisor.call("watch", {"conversation_id": conversation, "after": 0}))["ok"]

    assert (await owner.call("accept", {"conversation_id": conversation}))["ok"]
    await colleague.pushed("conversation_gone", lambda d: d["conversation_id"] == conversation)
    # the supervisor keeps the full view; the colleague's last view is the queued one
    taken = await supervisor.pushed(
        "conversation", lambda d: d["id"] == conversation and d["state"] == "assigned"
    )
    assert taken["customer_id"] == views_of(colleague, conversation)[-1]["customer_id"]
    assert [v["state"] for v in views_of(colleague, conversation)] == ["queued"]
    assert not views_of(other, conversation) and not gone(other, conversation)
    assert not gone(supervisor, conversation) and not gone(owner, conversation)

    # The customer goes on: the supervisor, watching again, hears it; the colleague does
    # not, though they heard everything up to a later push to their team.
    assert (await supervisor.call("watch", {"conversation_id": conversation, "after": 0}))["ok"]
    await customer.say("我的身份证号是 110101198001010017")
    await supervisor.pushed("message", lambda d: "身份证" in (d.get("text") or ""))
    second, later = await queued_customer(client, "还是转人工吧")
    await colleague.pushed("conversation", lambda d: d["id"] == later)
    assert not [
        d for kind, d in colleague.pushes if kind == "message" and "身份证" in (d.get("text") or "")
    ]
    assert not (await colleague.call("watch", {"conversation_id": conversation, "after": 0}))["ok"]
    for console in (owner, colleague, other, supervisor):
        await console.disconnect()
    await customer.disconnect()
    await second.disconnect()


async def test_a_transfer_tells_the_old_hands_it_is_gone_and_the_new_team_everything(client):
    owner = await Console(client.base).connect(await token(client, "agent1"))
    colleague = await Console(client.base).connect(await token(client, "colleague1", PASSWORD))
    claims = await Console(client.base).connect(await token(client, "agent2"))
    customer, conversation = await queued_customer(client)
    assert (await owner.call("accept", {"conversation_id": conversation}))["ok"]
    assert (await owner.call("watch", {"conversation_id": conversation, "after": 0}))["ok"]
    moved = await owner.call(
        "transfer", {"conversation_id": conversation, "team": "claims", "note": "理赔问题"}
    )
    assert moved["ok"]
    await owner.pushed("conversation_gone", lambda d: d["conversation_id"] == conversation)
    await colleague.pushed("conversation_gone", lambda d: d["conversation_id"] == conversation)
    view = await claims.pushed("conversation", lambda d: d["id"] == conversation)
    assert view["state"] == "queued" and view["team"] == "claims"
    # the old hands' last view is from before the transfer
    assert all(v["team"] == "general" for v in views_of(owner, conversation))
    assert all(v["team"] == "general" for v in views_of(colleague, conversation))
    # the owner's room was closed: watching again is refused, the claims agent may
    assert not (await owner.call("watch", {"conversation_id": conversation, "after": 0}))["ok"]
    assert (await claims.call("watch", {"conversation_id": conversation, "after": 0}))["ok"]
    for console in (owner, colleague, claims):
        await console.disconnect()
    await customer.disconnect()


async def test_agents_see_their_colleagues_but_not_their_presence_or_load(client):
    agent = await Console(client.base).connect(await token(client, "agent1"))
    supervisor = await Console(client.base).connect(await token(client, "supervisor1"))
    plain = (await agent.call("queue"))["agents"]
    full = (await supervisor.call("queue"))["agents"]
    assert {a["username"] for a in plain} == {a["username"] for a in full}
    assert all("presence" not in a and "active_conversations" not in a for a in plain)
    assert all("presence" in a and "active_conversations" in a for a in full)
    # their own state they do see
    me = (await agent.call("queue"))["me"]
    assert me["presence"] == "online" and me["active_conversations"] == 0
    await agent.disconnect()
    await supervisor.disconnect()
