"""Two console processes sharing one PostgreSQL store and a Redis message
queue: a customer connected to one and an agent connected to the other still
talk to each other. Rasa is deliberately unreachable, so the bot-outage
handoff puts the conversation in the queue."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import socketio

from web.stack import AgentApi, Customer, web_processes

pytestmark = pytest.mark.postgres


@pytest.fixture
def consoles(postgres_url, tmp_path):
    # agents pick from the queue: nothing depends on which process assigns
    with web_processes(postgres_url, tmp_path, AUTO_ASSIGN="false") as bases:
        yield bases


async def test_customer_and_agent_on_different_processes(consoles):
    customer_side, agent_side = consoles
    async with aiohttp.ClientSession() as http:
        agent = AgentApi(http, agent_side)
        await agent.login("agent1", "pw")
        console = socketio.AsyncClient(reconnection=False)
        changes: asyncio.Queue = asyncio.Queue()
        live: asyncio.Queue = asyncio.Queue()
        console.on("conversation", changes.put, namespace="/agents")
        console.on("message", live.put, namespace="/agents")
        await console.connect(
            agent_side,
            namespaces=["/agents"],
            auth={"token": agent.token},
            transports=["websocket"],
        )

        customer = Customer(customer_side)
        await customer.connect()
        await customer.say("hello, is anyone there?")
        await customer.until(lambda m: "queue" in m.get("text", ""))

        # the queue change happened on the customer's process and reached the agent's
        queued = await asyncio.wait_for(changes.get(), 10)
        assert queued["state"] == "queued"
        watched = await console.call(
            "watch", {"conversation_id": queued["id"]}, namespace="/agents"
        )
        assert watched["messages"][0]["text"] == "hello, is anyone there?"

        status, _ = await agent.request("POST", f"/api/v1/conversations/{queued['id']}/assign")
        assert status == 200
        # a change of hands closes the conversation's room: the console watches again,
        # as the console page does when the change reaches it
        taken = await asyncio.wait_for(changes.get(), 10)
        assert taken["state"] == "assigned"
        again = await console.call("watch", {"conversation_id": queued["id"]}, namespace="/agents")
        assert again["ok"]
        joined = await customer.next(10)
        assert joined["sender"] == "system" and "Wang Fang" in joined["text"]
        status, _ = await agent.request(
            "POST", f"/api/v1/conversations/{queued['id']}/messages", json={"text": "Hi, I'm here."}
        )
        assert status == 201
        reply = await customer.next(10)
        assert (reply["sender"], reply["text"]) == ("agent", "Hi, I'm here.")

        await customer.say("great, thanks")
        while (message := await asyncio.wait_for(live.get(), 10))["sender"] != "customer" or (
            message["text"] != "great, thanks"
        ):
            pass
        await customer.disconnect()
        await console.disconnect()
