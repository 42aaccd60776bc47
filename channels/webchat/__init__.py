"""The web channel: the customer chat page and the embeddable widget, on Rasa's
socket.io protocol (so rasa-webchat works too), with claim-document uploads."""

from __future__ import annotations

import socketio
from aiohttp import web

from channels.webchat import uploads
from channels.webchat.chat import SessionIds, WebChat
from channels.webchat.widget import STATIC, TEMPLATES, install_pages, origin_check
from desk.addresses import trusted_networks
from desk.conversations import ConversationService
from desk.flood import SharedRateLimiter, flood_limiter
from desk.settings import Settings

__all__ = ["STATIC", "TEMPLATES", "WebChat", "install", "origin_check"]


def install(
    app: web.Application,
    sio: socketio.AsyncServer,
    service: ConversationService,
    settings: Settings,
) -> WebChat:
    """The customers' namespace, their pages and the upload routes."""
    session_ids = SessionIds(settings.secret_key)
    trusted = trusted_networks(settings.trusted_proxies)
    # Shared by the processes on one Redis, as the flood limit per identity is.
    new_sessions = flood_limiter(
        settings.socketio_message_queue,
        settings.web_sessions_per_minute,
        settings.web_session_burst,
        prefix="hd:web-sessions:",
    )
    if isinstance(new_sessions, SharedRateLimiter):

        async def close(app: web.Application) -> None:
            await new_sessions.close()

        app.on_cleanup.append(close)
    webchat = WebChat(service, session_ids, new_sessions, trusted, origin_check(settings))
    service.add_channel(webchat)
    sio.register_namespace(webchat)
    uploads.install(app, service, settings, session_ids, trusted)
    install_pages(app, settings)
    return webchat
