"""Pages: the customer chat at `/`, the agents' login and console."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select

from console.auth import COOKIE, agent_by_token, authenticate
from console.keys import sessions_key, settings_key, tokens_key
from store.identifiers import mask_mobile
from store.models import Agent, SmsOutbox

routes = web.RouteTableDef()


@routes.get("/", name="chat")
@aiohttp_jinja2.template("chat.html")
async def chat(request: web.Request) -> dict:
    return {}


@routes.get("/login", name="login")
@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict:
    return {"error": None}


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    agent = await authenticate(request.app[sessions_key], username, password)
    if agent is None:
        return aiohttp_jinja2.render_template(
            "login.html", request, {"error": "bad_credentials", "username": username}, status=401
        )
    redirect = web.HTTPSeeOther(location="/console")
    settings = request.app[settings_key]
    redirect.set_cookie(
        COOKIE,
        request.app[tokens_key].issue(agent),
        max_age=settings.token_max_age_seconds,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
    )
    raise redirect


@routes.post("/logout", name="logout")
async def logout(request: web.Request) -> web.StreamResponse:
    redirect = web.HTTPSeeOther(location="/login")
    redirect.del_cookie(COOKIE, path="/")
    raise redirect


async def signed_in(request: web.Request) -> Agent:
    agent = await agent_by_token(
        request.app[sessions_key], request.app[tokens_key], request.cookies.get(COOKIE)
    )
    if agent is None:
        raise web.HTTPSeeOther(location="/login")
    return agent


@routes.get("/console", name="console")
@aiohttp_jinja2.template("console.html")
async def console(request: web.Request) -> dict:
    return {"agent": await signed_in(request)}


@routes.get("/dev/outbox", name="outbox")
@aiohttp_jinja2.template("outbox.html")
async def outbox(request: web.Request) -> dict:
    """The development SMS gateway's outbox, so that a demo customer's one-time
    code can be read. Demo mode only, and only for signed-in staff."""
    if not request.app[settings_key].demo_mode:
        raise web.HTTPNotFound()
    await signed_in(request)
    async with request.app[sessions_key]() as session:
        rows = (
            await session.scalars(select(SmsOutbox).order_by(SmsOutbox.id.desc()).limit(20))
        ).all()
    return {"messages": [(m.created_at, mask_mobile(m.mobile), m.text) for m in rows]}
