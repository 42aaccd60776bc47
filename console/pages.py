"""Pages: the agents' login and console, and the demo SMS outbox."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from pathlib import Path

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select

from console.i18n import language_of, preferred, strings, t, translator
from console.keys import (
    service_key,
    sessions_key,
    settings_key,
    tokens_key,
    trusted_proxies_key,
)
from desk.addresses import client_address
from desk.analytics.tags import TAGS
from desk.sign_in import COOKIE, agent_by_token, end_sessions, sign_in
from desk.training import examples
from desk.training.project import Project
from store.identifiers import mask_mobile
from store.models import Agent, AgentRole, SmsOutbox

routes = web.RouteTableDef()


CSRF_COOKIE = "hd_csrf"


def csrf_token(request: web.Request) -> str:
    """The form token. Signed in: derived from the session with the server's secret
    (another site, even one that can plant cookies for our host, cannot match it).
    Before signing in: the same random value in a strict cookie and a hidden field."""
    session = request.cookies.get(COOKIE)
    if session:
        return request.app[tokens_key].csrf_for(session)
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


def csrf_matches(request: web.Request, sent: str) -> bool:
    session = request.cookies.get(COOKIE)
    expected = (
        request.app[tokens_key].csrf_for(session)
        if session
        else request.cookies.get(CSRF_COOKIE, "")
    )
    return bool(expected) and hmac.compare_digest(expected, sent)


def client_of(request: web.Request) -> str:
    """The client's address, for the limits kept per address: behind a trusted
    proxy, the one it forwarded for (see `desk.addresses`)."""
    return client_address(
        request.remote, request.headers.get("X-Forwarded-For"), request.app[trusted_proxies_key]
    )


def secure_cookies(request: web.Request) -> bool:
    """Cookies are sent over HTTPS only when the console is served over HTTPS
    (directly, or behind a proxy whose public URL is https)."""
    return request.secure or request.app[settings_key].public_url.startswith("https://")


def page_language(request: web.Request, agent: Agent | None = None) -> str:
    if agent is not None:
        return language_of(agent.ui_language)
    return (
        language_of(request.query.get("lang"))
        if request.query.get("lang")
        else preferred(request.headers.get("Accept-Language"))
    )


def render(
    request: web.Request,
    template: str,
    context: dict,
    status: int = 200,
    agent: Agent | None = None,
    scripts: str | None = None,
):
    """A page in the agent's (or the browser's) language, with its CSRF token;
    `scripts` names the prefix of the strings its script needs."""
    token = csrf_token(request)
    lang = page_language(request, agent)
    context = {**context, "csrf": token, "lang": lang, "_": translator(lang), "agent": agent}
    if scripts:
        context["strings"] = strings(lang, scripts)
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=secure_cookies(request),
        path="/",
    )
    return response


async def check_csrf(request: web.Request) -> dict:
    form = await request.post()
    if not csrf_matches(request, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text="The form has expired; reload the page and try again.")
    return dict(form)


@routes.get("/login", name="login")
async def login_page(request: web.Request) -> web.StreamResponse:
    return render(request, "login.html", {"error": None})


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await check_csrf(request)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    attempt = await sign_in(request.app[sessions_key], username, password, client_of(request))
    if attempt.retry_after_seconds:
        context = {"error": "blocked", "minutes": attempt.blocked_minutes, "username": username}
        page = render(request, "login.html", context, status=429)
        page.headers["Retry-After"] = str(attempt.retry_after_seconds)
        return page
    if attempt.agent is None:
        context = {"error": "bad_credentials", "username": username}
        return render(request, "login.html", context, status=401)
    # Trainers land on their workbench; conversations are not theirs.
    landing = "/console/intents" if attempt.agent.role == AgentRole.TRAINER else "/console"
    redirect = web.HTTPSeeOther(location=landing)
    settings = request.app[settings_key]
    redirect.set_cookie(
        COOKIE,
        request.app[tokens_key].issue(attempt.agent),
        max_age=settings.token_max_age_seconds,
        httponly=True,
        samesite="Strict",
        secure=secure_cookies(request),
        path="/",
    )
    raise redirect


@routes.post("/logout", name="logout")
async def logout(request: web.Request) -> web.StreamResponse:
    """Ends every session of the agent: other tabs, their consoles, their API tokens."""
    await check_csrf(request)
    agent = await agent_by_token(
        request.app[sessions_key], request.app[tokens_key], request.cookies.get(COOKIE)
    )
    if agent is not None:
        await end_sessions(request.app[sessions_key], agent.id)
        await request.app[service_key].hub.recheck([agent.id])
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


def require_role(agent: Agent, *roles: AgentRole | str, request: web.Request | None = None) -> None:
    """Refuse (403) anyone whose role is not one of `roles`, in their own language.

    With `request`, the refusal is a full page with the top bar (so they can go
    elsewhere or sign out); without, a line of text."""
    if agent.role in roles:
        return
    lang = language_of(agent.ui_language)
    allowed = "、" if lang == "zh" else ", "
    message = t(
        lang, "admin.forbidden.text", roles=allowed.join(t(lang, f"role.{r}") for r in roles)
    )
    if agent.role == AgentRole.TRAINER:
        # Trainers have no customer data and no conversations; say so rather than
        # leave them wondering whether something is broken.
        space = "" if lang == "zh" else " "
        message = f"{message}{space}{t(lang, 'admin.forbidden.trainer')}"
    if request is None:
        raise web.HTTPForbidden(text=message)
    page = render(
        request, "admin_forbidden.html", {"message": message, "request": request}, agent=agent
    )
    forbidden = web.HTTPForbidden(text=page.text, content_type="text/html")
    for name, morsel in page.cookies.items():
        forbidden.cookies[name] = morsel
    raise forbidden


@routes.get("/console", name="console")
async def console(request: web.Request) -> web.StreamResponse:
    agent = await signed_in(request)
    # Trainers improve the bot; conversations are for agents and supervisors.
    require_role(agent, AgentRole.AGENT, AgentRole.SUPERVISOR, AgentRole.ADMIN, request=request)
    # The intents an agent may name when flagging a message the bot misunderstood.
    project = Project(Path(request.app[settings_key].training_project_dir))
    intents = [intent.name for intent in await asyncio.to_thread(examples.list_intents, project)]
    context = {"intents": intents, "tags": TAGS}
    return render(request, "console.html", context, agent=agent, scripts="console.")


@routes.get("/dev/outbox", name="outbox")
@aiohttp_jinja2.template("outbox.html")
async def outbox(request: web.Request) -> dict:
    """The development SMS gateway's outbox, so that a demo customer's one-time
    code can be read. Demo mode only, and only for staff who serve customers."""
    if not request.app[settings_key].demo_mode:
        raise web.HTTPNotFound()
    agent = await signed_in(request)
    require_role(agent, AgentRole.AGENT, AgentRole.SUPERVISOR, AgentRole.ADMIN, request=request)
    async with request.app[sessions_key]() as session:
        rows = (
            await session.scalars(select(SmsOutbox).order_by(SmsOutbox.id.desc()).limit(20))
        ).all()
    return {"messages": [(m.created_at, mask_mobile(m.mobile), m.text) for m in rows]}
