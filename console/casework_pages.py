"""The console's casework pages: callbacks, follow-ups and the complaints board.

Server-rendered lists whose forms post back and redirect (303) to the list they came
from, with a message of what happened (`?saved=1`, or `?error=<code>`, shown as its
translated `work.error.<code>`). A form is read as the same typed body as the JSON
API's (`read(Model, form)`, in `console.casework_api`); the rules are `desk.casework`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, NoReturn
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from console import pages
from console.i18n import t
from console.keys import sessions_key, settings_key
from desk import casework
from desk.clock import now
from desk.errors import DeskError
from desk.inputs import path_id, read
from store.models import Agent, AgentRole, TaskStatus

routes = web.RouteTableDef()

CALLBACK_TABS = ("mine", "due_today", "overdue", "open")
FOLLOW_UP_STATUSES = ("active", *(s.value for s in TaskStatus), "all")
COMPLAINT_STATUSES = FOLLOW_UP_STATUSES

# A form's change, run in one transaction by the signed-in agent on the posted form.
Change = Callable[[AsyncSession, Agent, dict[str, Any]], Awaitable[Any]]


def _zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[settings_key].service_timezone)


def _id(request: web.Request, what: str) -> int:
    return path_id(request.match_info["id"], what)


async def _caseworker(request: web.Request) -> Agent:
    """The signed-in agent, if they work cases (trainers do not: 403)."""
    agent = await pages.signed_in(request)
    if agent.role == AgentRole.TRAINER:
        raise web.HTTPForbidden(text=t(agent.ui_language, "work.error.forbidden"))
    return agent


def _chosen(value: str | None, allowed: tuple[str, ...], default: str) -> str:
    return value if value in allowed else default


def _page_helpers(request: web.Request, agent: Agent) -> dict[str, Any]:
    """What every casework page shows: local times, and the outcome of the last form."""
    zone = _zone(request)

    def local(value: str | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
        return datetime.fromisoformat(value).astimezone(zone).strftime(pattern) if value else ""

    def local_input(value: str | None) -> str:
        return local(value, "%Y-%m-%dT%H:%M")

    lang = pages.page_language(request, agent)
    flash, flash_error = None, False
    if code := request.query.get("error"):
        # Only known codes are shown (as their text); the query never reaches the page raw.
        flash, flash_error = t(lang, f"work.error.{code}"), True
        if flash == f"work.error.{code}":
            flash = t(lang, "work.error.generic")
    elif request.query.get("saved"):
        flash = t(lang, "work.saved")
    return {
        "request": request,
        "local": local,
        "local_input": local_input,
        "flash": flash,
        "flash_error": flash_error,
        "statuses": [s.value for s in TaskStatus],
    }


async def _submit(request: web.Request, back: str, change: Change) -> NoReturn:
    """Run a page form's change and go back to the list, saying how it went."""
    agent = await _caseworker(request)
    form = await pages.check_csrf(request)
    separator = "&" if "?" in back else "?"
    try:
        async with request.app[sessions_key].begin() as session:
            await change(session, agent, form)
    except DeskError as refusal:
        raise web.HTTPSeeOther(f"{back}{separator}{urlencode({'error': refusal.code})}") from None
    raise web.HTTPSeeOther(f"{back}{separator}saved=1")


# ---- callbacks -------------------------------------------------------------------------


@routes.get("/console/callbacks", name="work_callbacks")
async def callbacks_page(request: web.Request) -> web.StreamResponse:
    agent = await _caseworker(request)
    default = "mine" if agent.role == AgentRole.AGENT else "open"
    tab = _chosen(request.query.get("tab"), CALLBACK_TABS, default)
    async with request.app[sessions_key]() as session:
        rows = await casework.list_callbacks(session, agent, tab, now(), _zone(request))
    context = {
        **_page_helpers(request, agent),
        "tab": tab,
        "tabs": CALLBACK_TABS,
        "callbacks": rows,
        "outcomes": casework.OUTCOMES,
    }
    return pages.render(request, "work_callbacks.html", context, agent=agent)


@routes.post(r"/console/callbacks/{id:\d+}/attempts", name="work_callback_attempt")
async def callback_attempt_form(request: web.Request) -> NoReturn:
    async def attempt(session: AsyncSession, agent: Agent, form: dict[str, Any]) -> None:
        callback_id = _id(request, "callback")
        body = read(casework.CallAttempt, form)
        await casework.log_attempt(session, agent, callback_id, body, now=now(), tz=_zone(request))

    tab = _chosen(request.query.get("tab"), casework.CALLBACK_SCOPES, "mine")
    await _submit(request, f"/console/callbacks?tab={tab}", attempt)


@routes.post("/console/callbacks", name="work_schedule_callback")
async def schedule_callback_form(request: web.Request) -> NoReturn:
    async def schedule(session: AsyncSession, agent: Agent, form: dict[str, Any]) -> None:
        new = read(casework.NewCallback, form)
        await casework.schedule_callback(session, agent, new, now=now(), tz=_zone(request))

    await _submit(request, "/console/complaints", schedule)


# ---- follow-ups ------------------------------------------------------------------------


@routes.get("/console/follow-ups", name="work_follow_ups")
async def follow_ups_page(request: web.Request) -> web.StreamResponse:
    agent = await _caseworker(request)
    scope = _chosen(request.query.get("scope"), casework.FOLLOW_UP_SCOPES, "mine")
    status = _chosen(request.query.get("status"), FOLLOW_UP_STATUSES, "active")
    async with request.app[sessions_key]() as session:
        rows = await casework.list_follow_ups(session, agent, scope, status, now())
        colleagues = await casework.assignable_agents(session)
    context = {
        **_page_helpers(request, agent),
        "scope": scope,
        "scopes": casework.FOLLOW_UP_SCOPES,
        "status": status,
        "status_filters": FOLLOW_UP_STATUSES,
        "follow_ups": rows,
        "colleagues": colleagues,
        "agent_names": {a.id: a.display_name for a in colleagues},
    }
    return pages.render(request, "work_follow_ups.html", context, agent=agent)


@routes.post(r"/console/follow-ups/{id:\d+}", name="work_update_follow_up")
async def follow_up_form(request: web.Request) -> NoReturn:
    async def update(session: AsyncSession, agent: Agent, form: dict[str, Any]) -> None:
        follow_up_id = _id(request, "follow-up")
        # The form shows every field; a due date left as it was is not a change.
        if form.get("due_at") == form.get("due_was"):
            form = {**form, "due_at": None}
        changes = read(casework.FollowUpChanges, form)
        await casework.update_follow_up(
            session, agent, follow_up_id, changes, now=now(), tz=_zone(request)
        )

    scope = _chosen(request.query.get("scope"), casework.FOLLOW_UP_SCOPES, "mine")
    status = _chosen(request.query.get("status"), FOLLOW_UP_STATUSES, "active")
    back = f"/console/follow-ups?{urlencode({'scope': scope, 'status': status})}"
    await _submit(request, back, update)


# ---- complaints ------------------------------------------------------------------------


@routes.get("/console/complaints", name="work_complaints")
async def complaints_page(request: web.Request) -> web.StreamResponse:
    agent = await _caseworker(request)
    status = _chosen(request.query.get("status"), COMPLAINT_STATUSES, "active")
    async with request.app[sessions_key]() as session:
        rows = await casework.list_complaints(session, agent, status, now())
        colleagues = await casework.assignable_agents(session)
    context = {
        **_page_helpers(request, agent),
        "status": status,
        "status_filters": COMPLAINT_STATUSES,
        "complaints": rows,
        "colleagues": colleagues,
        "agent_names": {a.id: a.display_name for a in colleagues},
    }
    return pages.render(request, "work_complaints.html", context, agent=agent)


@routes.post(r"/console/complaints/{id:\d+}", name="work_update_complaint")
async def complaint_form(request: web.Request) -> NoReturn:
    async def update(session: AsyncSession, agent: Agent, form: dict[str, Any]) -> None:
        complaint_id = _id(request, "complaint")
        changes = read(casework.ComplaintChanges, form)
        await casework.update_complaint(session, agent, complaint_id, changes, now=now())

    status = _chosen(request.query.get("status"), COMPLAINT_STATUSES, "active")
    await _submit(request, f"/console/complaints?status={status}", update)
