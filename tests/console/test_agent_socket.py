"""The agents' socket.io namespace against the real aiohttp app (Rasa unreachable,
so every customer is handed to people at once): authorisation of every event,
replay after a reconnect, idempotent resends, private notes and typing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import socketio
from sqlalchemy import select

from console.agents import AgentConsole, agent_room
from console.keys import service_key
from desk.casework import REMIND_AHEAD
from desk.clock import aware
from desk.errors import CONNECTION_EVENTS, UNEXPECTED, UNKNOWN_EVENT, DeskError
from desk.housekeeping import run_once
from store.models import Agent, Callback
from tests.console.test_api import bearer, token
from tests.console_app import start_console
from web.stack import Customer


@pytest.fixture
async def client(sqlite_url):
    client = await start_console(
        sqlite_url,
        auto_assign=False,
        # Around the clock, so that handoffs do not depend on when the tests run.
        service_hours="00:00-24:00",
        housekeeping_seconds=0.2,
        agent_reconnect_grace_seconds=1,
    )
    yield client
    await client.close()


@pytest.fixture
async def quiet_client(sqlite_url):
    """The same app, running no housekeeping of its own: the test runs each round."""
    client = await start_console(
        sqlite_url, housekeeping=False, auto_assign=False, service_hours="00:00-24:00"
    )
    yield client
    await client.close()


class Console:
    """One agent's console connection, recording every push."""

    def __init__(self, base: str):
        self.base = base
        self.sio = socketio.AsyncClient(reconnection=False)
        self.pushes: list[tuple[str, dict]] = []
        self.closed = asyncio.Event()  # set when the server closes the connection
        self.sio.on("disconnect", self.closed.set, namespace="/agents")
        for event in ("conversation", "conversation_gone", "message", "note", "typing", "reminder"):
            self.sio.on(event, self._recorder(event), namespace="/agents")

    def _recorder(self, event):
        async def record(data):
            self.pushes.append((event, data))

        return record

    async def connect(self, agent_token: str) -> Console:
        await self.sio.connect(
            self.base,
            namespaces=["/agents"],
            auth={"token": agent_token},
            headers={"Origin": self.base},
            transports=["websocket"],
            wait_timeout=5,
        )
        return self

    async def call(self, event: str, data: dict | None = None) -> dict:
        return await self.sio.call(event, data or {}, namespace="/agents", timeout=10)

    async def pushed(self, event: str, predicate=lambda d: True, timeout=10.0) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for kind, data in self.pushes:
                if kind == event and predicate(data):
                    return data
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {event} push; got {[k for k, _ in self.pushes]}")

    async def wait_closed(self) -> None:
        await asyncio.wait_for(self.closed.wait(), 10)

    async def disconnect(self) -> None:
        await self.sio.disconnect()


async def queued_customer(client, text="我要转人工") -> tuple[Customer, int]:
    customer = Customer(client.base)
    await customer.connect()
    await customer.say(text)
    await customer.until(lambda m: (m.get("text") or "").find("队列") >= 0, timeout=15)
    supervisor = await token(client, "supervisor1")
    listed = await (
        await client.get("/api/v1/conversations?state=queued", headers=bearer(supervisor))
    ).json()
    return customer, listed["conversations"][-1]["id"]


async def test_every_event_is_authorised_against_the_conversation(client):
    general = await Console(client.base).connect(await token(client, "agent1"))
    claims = await Console(client.base).connect(await token(client, "agent2"))
    customer, conversation = await queued_customer(client)  # queued for the general team
    # the claims agent neither sees nor touches the general team's conversation
    queue = await claims.call("queue")
    assert conversation not in [c["id"] for c in queue["conversations"]]
    for event, extra in [
        ("watch", {"after": 0}),
        ("accept", {}),
        ("note", {"text": "x"}),
        ("labels", {"labels": ["x"]}),
        ("resolve", {"reason": "answered"}),
        ("transfer", {"team": "claims", "note": "x"}),
        ("canned", {"shortcut": "hello"}),
    ]:
        answer = await claims.call(event, {"conversation_id": conversation, **extra})
        assert not answer["ok"], event
        assert answer["error"]["code"] == "forbidden", event
    # malformed requests get a clear refusal, not an exception
    assert (await general.call("send", {"conversation_id": "1", "text": "x"}))["error"][
        "code"
    ] == "malformed"
    no_reason = await general.call("resolve", {"conversation_id": conversation})
    assert no_reason["error"]["code"] == "bad_reason"
    # the general agent may; sending before accepting is refused
    queue = await general.call("queue")
    assert conversation in [c["id"] for c in queue["conversations"]]
    assert queue["resolution_reasons"][0] == "answered" and queue["canned"]
    assert not (await general.call("send", {"conversation_id": conversation, "text": "hi"}))["ok"]
    accepted = await general.call("accept", {"conversation_id": conversation})
    assert accepted["ok"] and accepted["conversation"]["assigned_agent_name"].startswith("王芳")
    await customer.disconnect()
    await general.disconnect()
    await claims.disconnect()


async def test_trainers_and_strangers_cannot_connect(client):
    trainer = Console(client.base)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await trainer.connect(await token(client, "trainer1"))


async def test_replay_after_reconnect_and_idempotent_resends(client):
    agent_token = await token(client, "agent1")
    agent = await Console(client.base).connect(agent_token)
    customer, conversation = await queued_customer(client)
    assert (await agent.call("accept", {"conversation_id": conversation}))["ok"]
    first = await agent.call(
        "send", {"conversation_id": conversation, "text": "您好", "client_message_id": "a-1"}
    )
    again = await agent.call(
        "send", {"conversation_id": conversation, "text": "您好", "client_message_id": "a-1"}
    )
    assert first["ok"] and again["duplicate"] and again["message"]["seq"] == first["message"]["seq"]
    assert (await customer.until(lambda m: m.get("sender") == "agent"))[-1]["text"] == "您好"
    # Delivered once: a second copy would have come before the next message.
    after = await agent.call("send", {"conversation_id": conversation, "text": "请稍等"})
    heard = await customer.until(lambda m: m.get("seq") == after["message"]["seq"])
    assert [m["text"] for m in heard] == ["请稍等"]
    seen = after["message"]["seq"]
    assert (await agent.call("ack", {"conversation_id": conversation, "seq": seen}))["ok"]

    # the agent's console drops; the customer writes meanwhile
    await agent.disconnect()
    await customer.say("我的理赔到哪了")
    await customer.say("还在吗")
    back = await Console(client.base).connect(agent_token)
    watched = await back.call("watch", {"conversation_id": conversation, "after": seen})
    assert [m["text"] for m in watched["messages"]] == ["我的理赔到哪了", "还在吗"]
    # it is still theirs (back within the grace period), and live again
    assert watched["conversation"]["assigned_agent_id"] is not None
    await customer.say("喂")
    assert (await back.pushed("message", lambda m: m["text"] == "喂"))["sender"] == "customer"
    await customer.disconnect()
    await back.disconnect()


async def test_notes_stay_with_agents_and_typing_goes_both_ways(client):
    agent = await Console(client.base).connect(await token(client, "agent1"))
    supervisor = await Console(client.base).connect(await token(client, "supervisor1"))
    customer, conversation = await queued_customer(client)
    await agent.call("accept", {"conversation_id": conversation})
    await customer.until(lambda m: "王芳" in (m.get("text") or ""))  # the agent has joined
    await supervisor.call("watch", {"conversation_id": conversation, "after": 0})
    note = await agent.call(
        "note",
        {"conversation_id": conversation, "text": "<b>核实过身份</b>", "client_note_id": "n1"},
    )
    assert note["ok"] and note["note"]["text"] == "<b>核实过身份</b>"
    assert (await supervisor.pushed("note"))["id"] == note["note"]["id"]
    watched = await supervisor.call("watch", {"conversation_id": conversation, "after": 0})
    assert [n["text"] for n in watched["notes"]] == ["<b>核实过身份</b>"]

    typing_seen = []
    customer.sio.on("agent_typing", lambda data: typing_seen.append(data))
    await agent.call("typing", {"conversation_id": conversation, "typing": True})
    await customer.sio.emit("typing", {"typing": True})
    pushed = await supervisor.pushed("typing", lambda d: d["who"] == "customer")
    assert pushed["typing"] is True
    deadline = asyncio.get_running_loop().time() + 10
    while not typing_seen:
        assert asyncio.get_running_loop().time() < deadline, "no agent_typing for the customer"
        await asyncio.sleep(0.05)
    assert typing_seen[0]["typing"] is True
    # the note never reached the customer: it would have come before this message
    after = await agent.call("send", {"conversation_id": conversation, "text": "请稍等"})
    heard = await customer.until(lambda m: m.get("seq") == after["message"]["seq"])
    assert [m["text"] for m in heard] == ["请稍等"]
    await customer.disconnect()
    await agent.disconnect()
    await supervisor.disconnect()


async def test_a_console_that_does_not_come_back_returns_its_conversations(client):
    agent = await Console(client.base).connect(await token(client, "agent1"))
    customer, conversation = await queued_customer(client)
    await agent.call("accept", {"conversation_id": conversation})
    await agent.disconnect()
    # the grace period here is a second; housekeeping runs five times a second
    returned = await customer.until(lambda m: "转接其他客服" in (m.get("text") or ""), timeout=10)
    assert returned[-1]["sender"] == "system"
    supervisor = await token(client, "supervisor1")
    view = await (
        await client.get(f"/api/v1/conversations/{conversation}", headers=bearer(supervisor))
    ).json()
    assert view["state"] == "queued" and view["assigned_agent_id"] is None
    await customer.disconnect()


async def test_a_due_callback_is_pushed_to_its_agent_as_a_reminder(quiet_client):
    client = quiet_client
    service = client.server.app[service_key]
    grace = client.settings.agent_reconnect_grace_seconds
    agent_token = await token(client, "agent1")
    agent = await Console(client.base).connect(agent_token)

    async def reminders() -> list[dict]:
        # Answered after whatever was pushed to this console before: all of it is here.
        await agent.call("queue")
        return [data for kind, data in agent.pushes if kind == "reminder"]

    async def reminded_at() -> datetime | None:
        async with service.sessions() as session:
            at = await session.scalar(select(Callback.reminded_at))
        return aware(at) if at else None

    customer, conversation = await queued_customer(client)
    await agent.call("accept", {"conversation_id": conversation})
    now = datetime.now(UTC)
    scheduled = await client.post(
        "/api/v1/callbacks",
        headers=bearer(agent_token),
        json={
            "conversation_id": conversation,
            "phone": "13800001234",
            "window_start": (now + timedelta(hours=2)).isoformat(),
            "window_end": (now + timedelta(hours=2, minutes=30)).isoformat(),
            "reason": "核对理赔材料",
        },
    )
    assert scheduled.status == 201, await scheduled.text()
    callback = await scheduled.json()
    due = datetime.fromisoformat(callback["window_start"]).astimezone(UTC) - REMIND_AHEAD

    # Housekeeping rounds, run here at chosen times (the app runs none of its own).
    await run_once(service, grace, now)
    await run_once(service, grace, due - timedelta(microseconds=1))
    assert await reminded_at() is None
    assert await reminders() == []
    await run_once(service, grace, due)
    assert await reminded_at() == due
    [reminder] = await reminders()
    assert reminder["callback"]["id"] == callback["id"]
    assert reminder["callback"]["reason"] == "核对理赔材料"
    for minutes in (1, 5, 30):  # later rounds: still reminded once
        await run_once(service, grace, due + timedelta(minutes=minutes))
    assert await reminded_at() == due
    assert len(await reminders()) == 1
    await customer.disconnect()
    await agent.disconnect()


async def test_an_event_that_fails_unexpectedly_is_still_answered(quiet_client, monkeypatch):
    console = await Console(quiet_client.base).connect(await token(quiet_client, "agent1"))
    service = quiet_client.app[service_key]

    async def broken(*args, **kwargs):
        raise RuntimeError("the store went away")

    monkeypatch.setattr(service, "conversations", broken)
    answer = await console.call("queue")
    assert answer == {
        "ok": False,
        "error": {"code": "internal", "message": answer["error"]["message"]},
    }
    monkeypatch.undo()
    assert (await console.call("queue"))["ok"]  # and the socket still works
    await console.disconnect()


EVENTS = sorted(
    name[3:]
    for name in dir(AgentConsole)
    if name.startswith("on_") and name[3:] not in CONNECTION_EVENTS
)


@pytest.mark.parametrize("event", EVENTS)
async def test_every_event_that_fails_answers_without_telling_why(quiet_client, monkeypatch, event):
    console = await Console(quiet_client.base).connect(await token(quiet_client, "agent1"))
    hub = quiet_client.app[service_key].hub

    async def broken(*args, **kwargs):
        raise KeyError("postgresql://desk:secret@db/desk")

    monkeypatch.setattr(hub, f"on_{event}", broken)
    answer = await console.call(event, {"conversation_id": 1})
    assert answer == {"ok": False, **UNEXPECTED}
    assert "secret" not in str(answer)
    monkeypatch.undo()
    assert (await console.call("queue"))["ok"]  # and the socket still works
    await console.disconnect()


async def test_a_refusal_raised_anywhere_is_answered_with_its_own_code(quiet_client, monkeypatch):
    console = await Console(quiet_client.base).connect(await token(quiet_client, "agent1"))
    hub = quiet_client.app[service_key].hub

    async def refused(*args, **kwargs):
        raise DeskError("not_assigned", "Take the conversation first.")

    monkeypatch.setattr(hub, "on_unwatch", refused)
    answer = await console.call("unwatch", {"conversation_id": 1})
    assert answer == {
        "ok": False,
        "error": {"code": "not_assigned", "message": "Take the conversation first."},
    }
    await console.disconnect()


@pytest.mark.parametrize("event", ["disconnect", "connect"])
async def test_a_console_cannot_send_the_connections_own_events(quiet_client, event):
    """socket.io hands a client's "disconnect" event to the handler of a real one:
    the agent, still connected, would be counted out and marked offline."""
    agent_token = await token(quiet_client, "agent1")
    console = await Console(quiet_client.base).connect(agent_token)
    service = quiet_client.app[service_key]
    [agent_id] = service.hub.connected_agents()

    async def presence() -> str:
        async with service.sessions() as session:
            return (await session.get(Agent, agent_id)).presence

    answer = await console.call(event, {"HTTP_ORIGIN": quiet_client.base, "token": agent_token})
    assert answer == {"ok": False, **UNKNOWN_EVENT}
    assert service.hub.connected_agents() == [agent_id]
    assert await presence() == "online"
    assert (await console.call("queue"))["ok"]
    # the real one still counts (once the server has seen it)
    await console.disconnect()
    deadline = asyncio.get_running_loop().time() + 10
    while await presence() != "offline" and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert await presence() == "offline"
    assert service.hub.connected_agents() == []


async def test_an_unknown_event_is_answered(quiet_client):
    console = await Console(quiet_client.base).connect(await token(quiet_client, "agent1"))
    assert await console.call("recheck", {}) == {"ok": False, **UNKNOWN_EVENT}
    assert await console.call("no such thing", {}) == {"ok": False, **UNKNOWN_EVENT}
    await console.disconnect()


async def test_a_connection_is_counted_out_once_however_often_its_end_is_heard(quiet_client):
    agent_token = await token(quiet_client, "agent1")
    first = await Console(quiet_client.base).connect(agent_token)
    second = await Console(quiet_client.base).connect(agent_token)
    hub = quiet_client.app[service_key].hub
    [agent_id] = hub.connected_agents()
    assert hub.connections[agent_id] == 2
    sid = first.sio.namespaces["/agents"]
    sids = [s for s, _ in hub.server.manager.get_participants("/agents", agent_room(agent_id))]
    assert sid in sids
    for _ in range(2):
        await hub.on_disconnect(sid, "transport close")
    # the other console still holds them
    assert hub.connections[agent_id] == 1
    async with hub.service.sessions() as session:
        assert (await session.get(Agent, agent_id)).presence == "online"
    await first.disconnect()
    await second.disconnect()
