"""The web chat channel at the protocol level, against the real app in-process: the
rasa-webchat widget gets Rasa's own message shapes (it ignores messages with any
other key), our widget gets its extra fields and the history of a reloaded page;
and the widget's own routes (/widget frameable by the allowed sites only, /widget.js)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import socketio

from channels.webchat import WebChat
from desk.errors import CONNECTION_EVENTS, UNEXPECTED, UNKNOWN_EVENT
from desk.texts import REFUSALS
from web.stack import Customer

BUTTONS = [{"title": "理赔进度", "payload": "/ask_claim_status"}]


class RasaWebchat:
    """What rasa-webchat 1.0.1 does on the wire (read from its lib/index.js): on
    connect `session_request {session_id}` (stored id or null), reads `session_id`
    from an object or a plain string, then `user_uttered {message, customData,
    session_id}` without asking for an acknowledgement."""

    def __init__(self, base: str):
        self.base = base
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.session_id: str | None = None
        self.confirmed = asyncio.Event()
        self.sio.on("bot_uttered", self.inbox.put)
        self.sio.on("session_confirm", self._confirm)

    async def _confirm(self, data: Any) -> None:
        self.session_id = data["session_id"] if isinstance(data, dict) else data
        self.confirmed.set()

    async def connect(self, session_id: str | None = None) -> str:
        self.confirmed.clear()
        # Long-polling first, as its socket.io client does; a browser sends the page's origin.
        await self.sio.connect(
            self.base,
            transports=["polling", "websocket"],
            headers={"Origin": "http://localhost:8080"},
        )
        await self.sio.emit("session_request", {"session_id": session_id})
        await asyncio.wait_for(self.confirmed.wait(), 10)
        return self.session_id

    async def send(self, text: str, custom_data: dict | None = None) -> None:
        await self.sio.emit(
            "user_uttered",
            {"message": text, "customData": custom_data or {}, "session_id": self.session_id},
        )

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        return await asyncio.wait_for(self.inbox.get(), timeout)


def as_rasa_webchat_sees(message: dict[str, Any]) -> str:
    """rasa-webchat's own dispatch (handleBotUtterance/dispatchMessage): `metadata`
    is set aside, then the remaining keys decide the kind of message."""
    rest = {k: v for k, v in message.items() if k not in ("metadata", "customCss")}
    keys = set(rest)
    if keys == {"text"}:
        return "text"
    if len(keys) == 2 and "text" in keys and keys & {"quick_replies", "buttons"}:
        return "buttons"
    attachment = rest.get("attachment") or {}
    if attachment.get("type") == "image" and "src" in (attachment.get("payload") or {}):
        return "image"
    return "ignored"


async def test_rasa_webchat_gets_rasas_message_shapes(channel_app, fake_rasa):
    desk = await channel_app()
    fake_rasa.replies["greet"] = [{"text": "Hello!"}, {"text": "Pick one", "buttons": BUTTONS}]
    widget = RasaWebchat(desk.base)
    session_id = await widget.connect()
    assert len(session_id) >= 16
    await widget.send("/greet", {"language": "en"})  # its initPayload
    first, second = await widget.next(), await widget.next()
    assert first == {"text": "Hello!", "metadata": {"seq": 2, "sender": "bot"}}
    assert as_rasa_webchat_sees(first) == "text"
    assert as_rasa_webchat_sees(second) == "buttons"
    assert second["quick_replies"] == [
        {"content_type": "text", "title": "理赔进度", "payload": "/ask_claim_status"}
    ]
    # a click sends the payload, which the bot receives as offered
    await widget.send("/ask_claim_status")
    assert as_rasa_webchat_sees(await widget.next()) == "text"
    assert fake_rasa.received[-1][1] == "/ask_claim_status"

    # too long: told in a message, since it asks for no acknowledgement; nothing stored
    before = desk.rows("SELECT count(*) FROM messages")
    await widget.send("保" * 2001)
    refusal = await widget.next()
    assert as_rasa_webchat_sees(refusal) == "text"
    assert refusal["text"] in REFUSALS["too_long"]
    assert desk.rows("SELECT count(*) FROM messages") == before

    # a reloaded page gets Rasa's shapes at once, before it says anything
    await widget.sio.disconnect()
    again = RasaWebchat(desk.base)
    assert await again.connect(session_id) == session_id
    conversation = await desk.service.find("web", session_id)
    await desk.service.system_message(conversation.id, "welcome")
    welcome = await again.next()
    assert as_rasa_webchat_sees(welcome) == "text" and welcome["metadata"]["sender"] == "system"
    await again.sio.disconnect()


async def test_our_widget_keeps_its_fields_and_a_reloaded_page_gets_the_history(
    channel_app, fake_rasa
):
    desk = await channel_app()
    fake_rasa.replies["理赔材料"] = [{"text": "哪一类?", "buttons": BUTTONS}]
    customer = Customer(desk.base)
    session_id = await customer.connect()
    await customer.say("理赔材料")
    offered = await customer.next()
    assert offered["seq"] == 2 and offered["sender"] == "bot" and "quick_replies" in offered
    await customer.say("/ask_claim_status")
    await customer.next()
    await customer.disconnect()

    # reloaded: the whole conversation, both ways, in order
    reloaded = socketio.AsyncClient(reconnection=False)
    history: list[dict[str, Any]] = []
    reloaded.on("bot_uttered", history.append)
    await reloaded.connect(desk.base, transports=["websocket"])
    answer = await reloaded.call(
        "session_request", {"session_id": session_id, "last_seq": 0, "history": True}
    )
    assert answer == {"session_id": session_id, "last_seq": 4}
    for _ in range(50):
        if len(history) == 4:
            break
        await asyncio.sleep(0.05)
    assert [(m["seq"], m["sender"], m.get("text")) for m in history] == [
        (1, "customer", "理赔材料"),
        (2, "bot", "哪一类?"),
        (3, "customer", "/ask_claim_status"),
        (4, "bot", "echo: /ask_claim_status"),
    ]
    # after a dropped connection, only what was missed, and only the desk's side
    await reloaded.disconnect()
    missed = socketio.AsyncClient(reconnection=False)
    replayed: list[dict[str, Any]] = []
    missed.on("bot_uttered", replayed.append)
    await missed.connect(desk.base, transports=["websocket"])
    # answered after what it replays, so all of that has arrived by then
    answer = await missed.call("session_request", {"session_id": session_id, "last_seq": 2})
    assert answer == {"session_id": session_id, "last_seq": 4}
    assert [m["seq"] for m in replayed] == [4]
    await missed.disconnect()


def csp_directive(headers, name: str) -> str:
    match = re.search(rf"{name} ([^;]*)", headers["Content-Security-Policy"])
    return match.group(1) if match else ""


async def test_the_widget_page_is_frameable_by_the_allowed_sites_only(channel_app):
    desk = await channel_app(widget_origins="https://www.insurer.example, not an origin")
    async with desk.client.get("/widget?lang=en") as response:
        assert response.status == 200
        page = await response.text()
        ancestors = csp_directive(response.headers, "frame-ancestors")
    assert ancestors.split() == [
        "'self'",
        "https://www.insurer.example",
        "http://localhost:*",
        "http://127.0.0.1:*",
    ]
    config = json.loads(re.search(r'id="chat-config">(.*?)</script>', page).group(1))
    assert config["embed"] is True and config["lang"] == "en"
    assert config["strings"]["widget.attach"] == "Send claim documents"
    assert config["upload_types"] == ["image/jpeg", "image/png", "application/pdf"]
    assert 'lang="en"' in page and 'id="close"' in page

    # the customer chat page itself stays unframeable, and speaks the browser's language
    async with desk.client.get("/", headers={"Accept-Language": "en-GB,en;q=0.8"}) as response:
        page = await response.text()
        assert csp_directive(response.headers, "frame-ancestors") == "'none'"
    assert "Health insurance service" in page and 'id="close"' not in page

    # outside demo mode, only the configured sites
    production = await channel_app(demo_mode=False, widget_origins="https://www.insurer.example")
    async with production.client.get("/widget") as response:
        ancestors = csp_directive(response.headers, "frame-ancestors")
        assert "健康险在线客服" in await response.text()
    assert ancestors == "'self' https://www.insurer.example"


async def test_widget_js_carries_the_launchers_strings(channel_app):
    desk = await channel_app()
    async with desk.client.get("/widget.js") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/javascript")
        source = await response.text()
    assert "/*STRINGS*/" not in source
    assert '"widget.launcher_open": "Open the online service chat"' in source
    assert '"widget.launcher_open": "打开在线客服"' in source


async def test_a_flood_from_one_web_session_is_refused_and_not_stored(channel_app, fake_rasa):
    desk = await channel_app(channel_burst=3, channel_messages_per_minute=1)
    flooder, other = Customer(desk.base), Customer(desk.base)
    session_id = await flooder.connect()
    await other.connect()
    try:
        acks = [await flooder.say(f"第{n}条") for n in range(5)]
        assert [a["ok"] for a in acks] == [True, True, True, False, False]
        assert acks[3]["error"]["code"] == "rate_limited"
        assert (await other.say("你好"))["ok"]  # one session's flood slows no one else
        [(stored,)] = desk.rows(
            "SELECT count(*) FROM messages m JOIN conversations c ON c.id=m.conversation_id "
            "WHERE c.external_user_id=? AND m.sender='customer'",
            session_id,
        )
        assert stored == 3
    finally:
        await flooder.disconnect()
        await other.disconnect()


async def test_a_message_that_fails_unexpectedly_is_still_answered(channel_app, monkeypatch):
    desk = await channel_app()
    customer = Customer(desk.base)
    await customer.connect()

    async def broken(*args, **kwargs):
        raise RuntimeError("the store went away")

    monkeypatch.setattr(desk.service, "receive", broken)
    answer = await customer.say("你好")
    assert answer["ok"] is False and answer["error"]["code"] == "internal"
    monkeypatch.undo()
    assert (await customer.say("你好"))["ok"]
    await customer.disconnect()


WEB_EVENTS = sorted(
    name[3:]
    for name in dir(WebChat)
    if name.startswith("on_") and name[3:] not in CONNECTION_EVENTS
)


@pytest.mark.parametrize("event", WEB_EVENTS)
async def test_every_event_that_fails_answers_without_telling_why(channel_app, monkeypatch, event):
    desk = await channel_app()
    customer = Customer(desk.base)
    await customer.connect()

    async def broken(*args, **kwargs):
        raise KeyError("postgresql://desk:secret@db/desk")

    monkeypatch.setattr(desk.service.channels["web"], f"on_{event}", broken)
    answer = await customer.sio.call(event, {"message": "你好"}, timeout=10)
    assert answer == {"ok": False, **UNEXPECTED}
    assert "secret" not in str(answer)
    monkeypatch.undo()
    assert (await customer.say("你好"))["ok"]
    await customer.disconnect()


@pytest.mark.parametrize("event", ["connect", "disconnect", "no such thing"])
async def test_a_customer_cannot_send_the_connections_own_events(channel_app, event):
    desk = await channel_app()
    customer = Customer(desk.base)
    await customer.connect()
    # as a connection, this origin would be refused
    answer = await customer.sio.call(event, {"HTTP_ORIGIN": "https://evil.example"}, timeout=10)
    assert answer == {"ok": False, **UNKNOWN_EVENT}
    assert (await customer.say("你好"))["ok"]
    await customer.disconnect()


async def test_a_queued_customer_whose_page_closed_leaves_the_queue_after_the_grace(
    channel_app, fake_rasa
):
    """Housekeeping marks the customers connected to its process as seen; once the page
    is closed and the grace has passed, the customer has left the queue (silent)."""
    desk = await channel_app()
    fake_rasa.replies["转人工"] = [
        {"custom": {"handoff": {"reason": "request_human", "summary": "客户要求人工"}}}
    ]
    async with desk.client.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": "pw"}
    ) as response:
        assert response.status == 200  # an agent online: the handoff queues
    customer = Customer(desk.base)
    await customer.connect()
    try:
        await customer.say("转人工")
        await customer.until(lambda m: m.get("sender") == "system")
        assert desk.rows("SELECT state FROM conversations") == [("queued",)]
        grace = timedelta(seconds=desk.settings.queue_silence_grace_seconds)
        now = datetime.now(UTC)
        await desk.housekeeping(now)
        # still connected: seen again, never gone
        await desk.housekeeping(now + grace + timedelta(seconds=1))
        assert desk.rows("SELECT state FROM conversations") == [("queued",)]
    finally:
        await customer.disconnect()
    later = now + grace + timedelta(seconds=1)
    await desk.housekeeping(later + grace - timedelta(seconds=2))
    assert desk.rows("SELECT state FROM conversations") == [("queued",)]
    await desk.housekeeping(later + grace + timedelta(seconds=1))
    assert desk.rows("SELECT state, resolution_reason FROM conversations") == [
        ("resolved", "abandoned")
    ]
    [(data,)] = desk.rows("SELECT data FROM events WHERE kind = 'abandoned'")
    assert json.loads(data)["how"] == "silent"
