"""Channel adapters: each turns its provider's traffic into the core's `Inbound`
items and delivers the core's outbound messages (DESIGN §2). They stand on
`desk` alone and never on the console."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import socketio
from aiohttp import web

from channels import app_api, telegram, webchat, wechat
from desk.conversations import ConversationService
from desk.settings import Settings

ASSETS: list[Path] = [webchat.STATIC]
TEMPLATES: list[Path] = [webchat.TEMPLATES]


def install(
    app: web.Application,
    sio: socketio.AsyncServer,
    service: ConversationService,
    settings: Settings,
    http: aiohttp.ClientSession,
) -> None:
    """The web chat always; WeChat, Telegram and the app's API when configured."""
    webchat.install(app, sio, service, settings)
    wechat.install(app, service, settings, http)
    telegram.install(app, service, settings, http)
    app_api.install(app, service, settings, http)
