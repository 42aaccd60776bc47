"""Channel tests run the real console app in-process against a local fake of
Rasa's REST webhook (scripted replies), and local fakes of each provider's API."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from channels.telegram import Telegram
from console.keys import service_key
from desk.clock import aware
from desk.conversations import ConversationService
from desk.delivery import PushChannel
from desk.housekeeping import run_once
from desk.settings import Settings
from store.demo import generate
from store.models import Conversation
from tests.console_app import start_console


@dataclass
class FakeRasa:
    """Rasa's REST channel, scripted: `replies[text]` is what the bot answers to
    `text` (unknown text is echoed). After `hold()` the bot answers nothing until
    the test calls `release()`: a bot as slow as the test wants, on any machine."""

    base: str = ""
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    received: list[tuple[str, str]] = field(default_factory=list)
    # The metadata each message came with, in the same order.
    metadata: list[dict[str, Any]] = field(default_factory=list)
    answered: int = 0
    _gate: asyncio.Event | None = None

    def hold(self) -> None:
        self._gate = asyncio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
        self._gate = None

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append((body["sender"], body["message"]))
        self.metadata.append(body.get("metadata") or {})
        if self._gate is not None:
            await self._gate.wait()
        self.answered += 1
        replies = self.replies.get(body["message"], [{"text": f"echo: {body['message']}"}])
        return web.json_response([{"recipient_id": body["sender"], **r} for r in replies])

    async def alive(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


@pytest.fixture
async def fake_rasa() -> AsyncIterator[FakeRasa]:
    rasa = FakeRasa()
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", rasa.webhook)
    app.router.add_get("/", rasa.alive)
    app.router.add_get("/health", rasa.alive)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    rasa.base = f"http://127.0.0.1:{server.port}"
    yield rasa
    await server.close()


@dataclass
class ChannelApp:
    base: str
    app: web.Application
    client: TestClient
    settings: Settings
    database: Path

    @property
    def service(self) -> ConversationService:
        return self.app[service_key]

    def rows(self, sql: str, *args) -> list[tuple]:
        """Rows straight from the store, for assertions."""
        with sqlite3.connect(self.database) as db:
            return db.execute(sql, args).fetchall()

    async def settle(self) -> None:
        """Wait for what the requests so far set going in the background: the bot's
        turns, then the deliveries they started (and Telegram's answers and refusals).
        Deliveries start no bot turns, so once both are done nothing is left."""
        await self.service.wait_for_bot()
        for channel in list(self.service.channels.values()):
            if isinstance(channel, PushChannel):
                await channel.drain()
            if isinstance(channel, Telegram):
                await channel.settle()

    async def housekeeping(self, now: datetime) -> None:
        """One housekeeping round (the app runs none of its own here), at `now`."""
        await run_once(self.service, self.settings.agent_reconnect_grace_seconds, now)

    async def delivery_due(self) -> datetime:
        """When the retry of the (one) conversation's delivery falls due."""
        async with self.service.sessions() as session:
            [due] = (await session.scalars(select(Conversation.delivery_due_at))).all()
        assert due is not None, "no retry is scheduled"
        return aware(due)


@pytest.fixture
async def channel_app(tmp_path, fake_rasa):
    """A factory: `await channel_app(seed=False, **settings)` starts the real console
    app on a free port with its own SQLite store (with demo customers when `seed`),
    the fake Rasa, agents around the clock and no auto-assignment. The app runs no
    housekeeping of its own: tests run rounds with `ChannelApp.housekeeping(now)`."""
    started: list[TestClient] = []

    async def start(seed: bool = False, **overrides: Any) -> ChannelApp:
        database = tmp_path / f"desk-{len(started)}.db"
        url = f"sqlite+aiosqlite:///{database}"
        if seed:
            await generate(url, customers=20, progress=lambda *_: None)
        settings = {
            "rasa_url": fake_rasa.base,
            "action_server_url": fake_rasa.base,
            "rasa_timeout_seconds": 5,
            "secret_key": "channel-tests",
            "auto_assign": False,
            "service_hours": "00:00-24:00",
            "upload_dir": str(tmp_path / "uploads"),
        }
        client = await start_console(url, housekeeping=False, **{**settings, **overrides})
        started.append(client)
        return ChannelApp(client.base, client.app, client, client.settings, database)

    yield start
    for client in started:
        await client.close()
