"""The web channel: the customer chat page and the embeddable widget, on Rasa's
socket.io protocol (so rasa-webchat works too), with claim-document uploads."""

from __future__ import annotations

import socketio
from aiohttp import web

from channels.webchat import uploads
from channels.webchat.chat import WebChat
from channels.webchat.widget import STATIC, TEMPLATES, install_pages, origin_check
from desk.conversations import ConversationService
from desk.settings import Settings

__all__ = ["STATIC", "TEMPLATES", "WebChat", "install", "origin_check"]


def install(
    app: web.Application,
    sio: socketio.AsyncServer,
    service: ConversationService,
    settings: Settings,
) -> WebChat:
    """The customers' namespace, their pages and the upload routes."""
    webchat = WebChat(service, settings.max_message_chars, origin_check(settings))
    service.add_channel(webchat)
    sio.register_namespace(webchat)
    uploads.install(app, service, settings)
    install_pages(app, settings)
    return webchat
