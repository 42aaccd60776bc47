"""The composition root: one aiohttp application that mounts the channels (the
customers' side) and the console (the staff's side) on the core (DESIGN §3)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import jinja2
import socketio
from aiohttp import web

import channels
import console
from channels.webchat import origin_check
from desk.conversations import ConversationService
from desk.delivery import PushChannel
from desk.flood import SharedRateLimiter, flood_limiter
from desk.housekeeping import keep_house
from desk.journal import PRESENCE_TTL
from desk.rasa import RasaClient
from desk.settings import ROOT, Settings, get_settings
from desk.sign_in import sync_demo_agents
from desk.training.capture import Thresholds
from store.db import create_engine, migrate_async, session_factory

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
# Every page's assets, found by name under `/static/` (the house style first).
ASSETS: list[Path] = [HERE / "static", *console.ASSETS, *channels.ASSETS]
TEMPLATES: list[Path] = [HERE / "templates", *console.TEMPLATES, *channels.TEMPLATES]
VENDOR = {
    # served from node_modules, installed by `make setup` from package.json
    "socket.io.min.js": ROOT / "node_modules/socket.io-client/dist/socket.io.min.js",
    "echarts.min.js": ROOT / "node_modules/echarts/dist/echarts.min.js",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _protect(response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")


@web.middleware
async def security_headers(request: web.Request, handler):
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        # Raised pages (403s, redirects) need the headers too.
        _protect(exc)
        raise
    _protect(response)
    return response


async def vendor(request: web.Request) -> web.StreamResponse:
    path = VENDOR.get(request.match_info["name"])
    if path is None or not path.exists():
        raise web.HTTPNotFound(text="Run `make setup` to install the front-end packages.")
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if "/" in name or name.startswith("."):
        raise web.HTTPNotFound()
    for folder in ASSETS:
        path = folder / name
        if path.is_file():
            return web.FileResponse(path)
    raise web.HTTPNotFound()


async def init_app(settings: Settings | None = None) -> web.Application:
    settings = settings or get_settings()
    app = web.Application(
        middlewares=[security_headers, *console.MIDDLEWARES], client_max_size=1024**2
    )
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader([str(folder) for folder in TEMPLATES]),
        autoescape=True,
        context_processors=[aiohttp_jinja2.request_processor],
    )

    await migrate_async(settings.database_url)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    await sync_demo_agents(sessions, settings.demo_mode, settings.demo_password)

    http = aiohttp.ClientSession()
    rasa = RasaClient(
        http,
        settings.rasa_url,
        settings.action_server_url,
        settings.rasa_timeout_seconds,
        settings.rasa_token,
    )
    manager = (
        socketio.AsyncRedisManager(
            settings.socketio_message_queue, channel=settings.socketio_channel
        )
        if settings.socketio_message_queue
        else None
    )
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins=origin_check(settings),
        client_manager=manager,
        max_http_buffer_size=256 * 1024,
    )
    # Several processes (a Redis message queue) share one flood limit per identity.
    rate_limiter = flood_limiter(
        settings.socketio_message_queue,
        settings.channel_messages_per_minute,
        settings.channel_burst,
    )
    service = ConversationService(
        sessions,
        rasa,
        default_wait_seconds=settings.default_wait_seconds,
        service_hours=settings.in_service_hours,
        service_hours_text=settings.service_hours.replace("-", "–"),
        auto_assign=settings.auto_assign,
        max_message_chars=settings.max_message_chars,
        rate_limiter=rate_limiter,
        verified_identity_days=settings.verified_identity_days,
        # A console process that stops heart-beating its agents is taken to be gone.
        presence_ttl=max(PRESENCE_TTL, timedelta(seconds=6 * settings.housekeeping_seconds)),
        bot_turn_lease=timedelta(seconds=settings.bot_turn_lease_seconds),
        inbox_thresholds=Thresholds(settings.inbox_low_confidence, settings.inbox_close_call),
        queue_silence_grace=timedelta(seconds=settings.queue_silence_grace_seconds),
        wrap_up_max=timedelta(seconds=settings.wrap_up_max_seconds),
    )
    console.install(app, sio, service, settings)
    channels.install(app, sio, service, settings, http)
    sio.attach(app)
    app.router.add_get("/static/vendor/{name}", vendor, name="vendor")
    app.router.add_get("/static/{name}", asset, name="static")

    if not settings.socketio_message_queue:
        # One console process: nobody is connected before it starts. Agents who come
        # back within the grace period keep their conversations.
        await service.mark_all_offline()

    async def resources(app: web.Application) -> AsyncIterator[None]:
        housekeeping = (
            asyncio.create_task(
                keep_house(
                    service, settings.housekeeping_seconds, settings.agent_reconnect_grace_seconds
                )
            )
            if settings.housekeeping_seconds
            else None
        )
        yield
        if housekeeping is not None:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
        await service.wait_for_bot()
        await service.acks.flush()
        for channel in service.channels.values():
            if isinstance(channel, PushChannel):
                await channel.drain()
        await http.close()
        if isinstance(rate_limiter, SharedRateLimiter):
            await rate_limiter.close()
        await engine.dispose()

    async def close_sockets(app: web.Application) -> None:
        # Otherwise aiohttp waits on open sockets and browsers sit on a dying process;
        # closed, they reconnect at once (to the next process) and replay what they missed.
        if sio.eio.sockets:
            await sio.eio.disconnect()
        await sio.shutdown()

    app.on_shutdown.append(close_sockets)
    app.cleanup_ctx.append(resources)
    return app
