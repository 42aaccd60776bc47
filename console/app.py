"""The gateway and console: one aiohttp application (DESIGN §2)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import jinja2
import socketio
from aiohttp import web

from channels import app_api, telegram, uploads, wechat
from channels.base import PushChannel
from channels.limits import RateLimiter, SharedRateLimiter
from channels.webchat import WebChat
from console import admin, api, casework_api, pages
from console.agents import AgentConsole
from console.auth import Tokens, sync_demo_agents
from console.conversations import ConversationService
from console.housekeeping import keep_house
from console.keys import service_key, sessions_key, settings_key, tokens_key
from console.rasa import RasaClient
from console.settings import ROOT, Settings, get_settings
from store.db import create_engine, migrate_async, session_factory

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
VENDOR = {
    # served from node_modules, installed by `make setup` from package.json
    "socket.io.min.js": ROOT / "node_modules/socket.io-client/dist/socket.io.min.js",
}
LOCAL_ORIGIN = re.compile(r"^http://(localhost|127\.0\.0\.1)(:\d+)?$")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def console_origins(settings: Settings) -> set[str]:
    if settings.public_url:
        return {settings.public_url.rstrip("/")}
    hosts = (
        {settings.console_host, "127.0.0.1", "localhost"}
        if settings.console_host in ("127.0.0.1", "localhost", "0.0.0.0")
        else {settings.console_host}
    )
    return {f"http://{host}:{settings.console_port}" for host in hosts}


def widget_origin_check(settings: Settings):
    allowed = set(settings.widget_origin_list()) | console_origins(settings)

    def origin_allowed(origin: str | None) -> bool:
        if not origin:
            return False  # no Origin header: a same-origin request, which engine.io allows
        origin = origin.rstrip("/")
        return origin in allowed or (settings.demo_mode and bool(LOCAL_ORIGIN.match(origin)))

    return origin_allowed


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


async def init_app(settings: Settings | None = None) -> web.Application:
    settings = settings or get_settings()
    app = web.Application(middlewares=[security_headers, api.api_errors], client_max_size=1024**2)
    app[settings_key] = settings
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        context_processors=[aiohttp_jinja2.request_processor],
    )

    await migrate_async(settings.database_url)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    app[sessions_key] = sessions
    app[tokens_key] = Tokens(settings.secret_key, settings.token_max_age_seconds)
    await sync_demo_agents(sessions, settings.demo_mode, settings.demo_password)

    http = aiohttp.ClientSession()
    rasa = RasaClient(
        http,
        settings.rasa_url,
        settings.action_server_url,
        settings.rasa_timeout_seconds,
        settings.rasa_token,
    )

    origin_allowed = widget_origin_check(settings)
    manager = (
        socketio.AsyncRedisManager(settings.socketio_message_queue)
        if settings.socketio_message_queue
        else None
    )
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins=origin_allowed,
        client_manager=manager,
        max_http_buffer_size=256 * 1024,
    )
    # Several processes (a message queue) share one flood limit per identity in Redis.
    rate_limiter = (
        SharedRateLimiter(
            settings.socketio_message_queue,
            settings.channel_messages_per_minute,
            settings.channel_burst,
        )
        if settings.socketio_message_queue.startswith(("redis://", "rediss://"))
        else RateLimiter(settings.channel_messages_per_minute, settings.channel_burst)
    )
    # The agents' hub and the channels need the service, so they are attached after.
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
    )
    agents = AgentConsole(service, app[tokens_key], console_origins(settings))
    webchat = WebChat(service, settings.max_message_chars, origin_allowed)
    service.hub = agents
    service.add_channel(webchat)
    sio.register_namespace(webchat)
    sio.register_namespace(agents)
    sio.attach(app)
    app[service_key] = service
    # Each channel adds its routes and adapter when it is configured.
    for channel in (wechat, telegram, app_api, uploads):
        channel.install(app, service, settings, http)

    app.add_routes(pages.routes)
    app.add_routes(api.routes)
    app.add_routes(casework_api.routes)
    app.add_routes(admin.routes)
    app.router.add_get("/static/vendor/{name}", vendor, name="vendor")
    app.router.add_static("/static/", HERE / "static", name="static")

    if not settings.socketio_message_queue:
        # One console process: nobody is connected before it starts. Agents who come
        # back within the grace period keep their conversations.
        await service.mark_all_offline()

    async def resources(app: web.Application):
        housekeeping = asyncio.create_task(
            keep_house(
                service,
                agents,
                settings.housekeeping_seconds,
                settings.agent_reconnect_grace_seconds,
            )
        )
        yield
        housekeeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await housekeeping
        await service.wait_for_bot()
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
