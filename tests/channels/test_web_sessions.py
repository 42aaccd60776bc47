"""Web chat sessions against the real app in-process: a session costs nothing in the
store until its customer says something, new sessions are limited per client
address, and the bot is told the address each message came from."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import socketio

from desk.texts import REFUSALS
from tests.channels.test_webchat import RasaWebchat, as_rasa_webchat_sees
from web.stack import Customer

TABLES = ("conversations", "contacts", "channel_identities", "events", "messages")


class RawCustomer:
    """A socket.io customer that can say where it is (a trusted proxy's header)."""

    def __init__(self, base: str, forwarded_for: str | None = None):
        self.base = base
        self.headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        self.sio = socketio.AsyncClient(reconnection=False)
        self.uttered: list[dict[str, Any]] = []
        self.confirmed: list[str] = []
        self.sio.on("bot_uttered", self.uttered.append)
        self.sio.on("session_confirm", lambda data: self.confirmed.append(data["session_id"]))

    async def request(self, **data: Any) -> dict[str, Any]:
        if not self.sio.connected:
            await self.sio.connect(self.base, transports=["websocket"], headers=self.headers)
        return await self.sio.call("session_request", data, timeout=10)

    async def say(self, text: str, session_id: str) -> dict[str, Any]:
        message = {"message": text, "session_id": session_id}
        return await self.sio.call("user_uttered", message, timeout=10)


def counts(desk) -> dict[str, int]:
    return {table: desk.rows(f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}


async def test_a_session_costs_nothing_until_its_first_message(channel_app):
    desk = await channel_app()
    empty = counts(desk)
    customer = RawCustomer(desk.base)
    answer = await customer.request(session_id=None)
    session_id = answer["session_id"]
    assert customer.confirmed == [session_id] and answer["last_seq"] == 0
    assert counts(desk) == empty

    # the id it issued is kept by any connection, though nothing of it is stored; the
    # history of a session that said nothing is empty (answered after any replay)
    again = RawCustomer(desk.base)
    answer = await again.request(session_id=session_id, history=True, last_seq=0)
    assert answer == {"session_id": session_id, "last_seq": 0}
    assert again.confirmed == [session_id] and again.uttered == []
    # one made up, of the same length, is replaced
    forged = secrets.token_urlsafe(33)[:44]
    assert (await again.request(session_id=forged))["session_id"] not in (forged, session_id)
    assert counts(desk) == empty

    # the first message opens the conversation, with its contact and identity
    assert (await customer.say("你好", session_id))["seq"] == 1
    await desk.settle()
    assert desk.rows("SELECT channel, external_user_id, last_seq FROM conversations") == [
        ("web", session_id, 2)
    ]
    assert desk.rows("SELECT external_id FROM channel_identities") == [(session_id,)]
    assert counts(desk)["contacts"] == 1
    await customer.sio.disconnect()
    await again.sio.disconnect()


async def test_new_sessions_are_limited_per_client_address(channel_app):
    desk = await channel_app(
        web_session_burst=3, web_sessions_per_minute=1, trusted_proxies="127.0.0.1"
    )
    script = RawCustomer(desk.base, forwarded_for="198.51.100.7")
    issued = [(await script.request(session_id=None))["session_id"] for _ in range(3)]
    assert len(set(issued)) == 3
    refused = await script.request(session_id=None)
    assert refused == {
        "ok": False,
        "error": {
            "code": "too_many_sessions",
            "message": "Too many new sessions from this address; wait a minute.",
        },
    }
    # told in words too (rasa-webchat reads no acknowledgement), confirmed nothing
    assert script.uttered == [
        {"text": REFUSALS["too_many_sessions"][0], "metadata": {"sender": "system"}}
    ]
    assert script.confirmed == issued
    # a session it was given goes on; another address is not slowed
    assert (await script.request(session_id=issued[0]))["session_id"] == issued[0]
    neighbour = RawCustomer(desk.base, forwarded_for="198.51.100.8")
    assert "session_id" in await neighbour.request(session_id=None)
    assert desk.rows("SELECT count(*) FROM conversations") == [(0,)]
    await script.sio.disconnect()
    await neighbour.sio.disconnect()


async def test_the_bot_is_told_where_each_message_came_from(channel_app, fake_rasa):
    desk = await channel_app(trusted_proxies="127.0.0.1")
    customer = RawCustomer(desk.base, forwarded_for="203.0.113.5")
    session_id = (await customer.request(session_id=None))["session_id"]
    await customer.say("你好", session_id)
    await desk.settle()
    assert fake_rasa.metadata[-1] == {
        "channel": "web",
        "language": "zh",
        "turn": 1,
        "client_address": "203.0.113.5",
    }
    await customer.sio.disconnect()

    # without a trusted proxy in front, the header is the client's own word: the peer
    direct = await channel_app()
    plain = Customer(direct.base)
    await plain.connect()
    await plain.say("你好")
    await direct.settle()
    assert fake_rasa.metadata[-1]["client_address"] == "127.0.0.1"
    await plain.disconnect()


async def test_an_acknowledgement_still_waiting_is_written_on_disconnect(channel_app):
    desk = await channel_app()
    customer = RawCustomer(desk.base)
    session_id = (await customer.request(session_id=None))["session_id"]
    await customer.say("你好", session_id)
    await desk.settle()
    # acknowledged one after the other, as the widget does: the second waits
    await customer.sio.emit("ack", {"seq": 1})
    await customer.sio.call("ack", {"seq": 2}, timeout=10)
    await customer.sio.disconnect()
    deadline = asyncio.get_running_loop().time() + 10
    while desk.rows("SELECT customer_ack_seq FROM conversations") != [(2,)]:
        assert asyncio.get_running_loop().time() < deadline, "the acknowledgement was lost"
        await asyncio.sleep(0.05)


async def test_rasa_webchat_is_known_though_its_first_message_was_refused(channel_app):
    desk = await channel_app()
    widget = RasaWebchat(desk.base)
    session_id = await widget.connect()
    await widget.send("保" * 2001, {"language": "en"})
    assert (await widget.next())["text"] in REFUSALS["too_long"]
    await widget.send("hello", {"language": "en"})
    assert as_rasa_webchat_sees(await widget.next()) == "text"
    await widget.sio.disconnect()
    assert desk.rows("SELECT language FROM conversations") == [("en",)]
    [(profile,)] = desk.rows("SELECT profile FROM channel_identities")
    assert json.loads(profile) == {"client": "rasa-webchat", "language": "en"}
    # reloaded, it gets Rasa's shapes before it says anything
    again = RasaWebchat(desk.base)
    assert await again.connect(session_id) == session_id
    conversation = await desk.service.find("web", session_id)
    await desk.service.system_message(conversation.id, "welcome")
    assert as_rasa_webchat_sees(await again.next()) == "text"
    await again.sio.disconnect()
