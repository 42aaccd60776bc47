"""The HTTP API and pages for casework: customer 360, callbacks, follow-ups, complaints.

The API answers JSON (refusals through `api_errors`, since `CaseworkError` is a
`ConversationError`); the pages are server-rendered forms that post back and
redirect (303) to the list they came from, with a message of what happened."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from console import api, casework, pages
from console.casework import CaseworkError
from console.i18n import t
from console.keys import sessions_key, settings_key
from store.models import Agent, AgentRole, TaskStatus

routes = web.RouteTableDef()


def _now() -> datetime:
    return datetime.now(UTC)


def _zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[settings_key].service_timezone)


def _id(request: web.Request) -> int:
    return int(request.match_info["id"])  # the routes only match digits


def _fields(body: dict[str, Any], *names: str) -> dict[str, Any]:
    """The named fields the body has; absent ones stay absent (unlike null ones)."""
    return {name: body[name] for name in names if name in body}


# ---- REST ------------------------------------------------------------------------------


@routes.get(r"/api/v1/customers/{id:\d+}", name="api_customer")
async def customer(request: web.Request) -> web.Response:
    async with request.app[sessions_key]() as session:
        view = await casework.customer_360(
            session, api.current_agent(request), _id(request), _now(), _zone(request)
        )
    return web.json_response(view)


@routes.get("/api/v1/callbacks", name="api_callbacks")
async def callbacks(request: web.Request) -> web.Response:
    async with request.app[sessions_key]() as session:
        rows = await casework.list_callbacks(
            session,
            api.current_agent(request),
            request.query.get("scope", "open"),
            _now(),
            _zone(request),
        )
    return web.json_response({"callbacks": rows})


@routes.post("/api/v1/callbacks", name="api_schedule_callback")
async def schedule_callback(request: web.Request) -> web.Response:
    body = await api.json_body(request)
    fields = _fields(
        body,
        "conversation_id",
        "complaint_id",
        "phone",
        "window_start",
        "window_end",
        "reason",
        "assigned_agent_id",
    )
    async with request.app[sessions_key].begin() as session:
        view = await casework.schedule_callback(
            session,
            api.current_agent(request),
            **fields,
            now=_now(),
            tz=_zone(request),
        )
    return web.json_response(view, status=201)


@routes.post(r"/api/v1/callbacks/{id:\d+}/attempts", name="api_callback_attempt")
async def callback_attempt(request: web.Request) -> web.Response:
    body = await api.json_body(request)
    async with request.app[sessions_key].begin() as session:
        view = await casework.log_attempt(
            session,
            api.current_agent(request),
            _id(request),
            outcome=body.get("outcome"),
            **_fields(body, "note", "window_start", "window_end"),
            now=_now(),
            tz=_zone(request),
        )
    return web.json_response(view)


@routes.get("/api/v1/follow-ups", name="api_follow_ups")
async def follow_ups(request: web.Request) -> web.Response:
    async with request.app[sessions_key]() as session:
        rows = await casework.list_follow_ups(
            session,
            api.current_agent(request),
            request.query.get("scope", "all"),
            _status_query(request),
            _now(),
        )
    return web.json_response({"follow_ups": rows})


@routes.post("/api/v1/follow-ups", name="api_create_follow_up")
async def create_follow_up(request: web.Request) -> web.Response:
    body = await api.json_body(request)
    fields = _fields(
        body,
        "team",
        "assignee_agent_id",
        "conversation_id",
        "complaint_id",
        "claim_number",
        "advance_payment_number",
    )
    async with request.app[sessions_key].begin() as session:
        view = await casework.create_follow_up(
            session,
            api.current_agent(request),
            title=body.get("title"),
            due_at=body.get("due_at"),
            **fields,
            now=_now(),
            tz=_zone(request),
        )
    return web.json_response(view, status=201)


@routes.patch(r"/api/v1/follow-ups/{id:\d+}", name="api_update_follow_up")
async def update_follow_up(request: web.Request) -> web.Response:
    body = await api.json_body(request)
    async with request.app[sessions_key].begin() as session:
        view = await casework.update_follow_up(
            session,
            api.current_agent(request),
            _id(request),
            **_fields(body, "status", "assignee_agent_id", "due_at", "note"),
            now=_now(),
            tz=_zone(request),
        )
    return web.json_response(view)


@routes.get("/api/v1/complaints", name="api_complaints")
async def complaints(request: web.Request) -> web.Response:
    async with request.app[sessions_key]() as session:
        rows = await casework.list_complaints(
            session, api.current_agent(request), _status_query(request), _now()
        )
    return web.json_response({"complaints": rows})


@routes.patch(r"/api/v1/complaints/{id:\d+}", name="api_update_complaint")
async def update_complaint(request: web.Request) -> web.Response:
    body = await api.json_body(request)
    async with request.app[sessions_key].begin() as session:
        view = await casework.update_complaint(
            session,
            api.current_agent(request),
            _id(request),
            **_fields(body, "status", "owner_agent_id", "note"),
            now=_now(),
        )
    return web.json_response(view)


def _status_query(request: web.Request) -> str | None:
    status = request.query.get("status")
    if status and status not in casework.STATUS_FILTERS:
        raise CaseworkError(
            "bad_status", f"status must be one of {', '.join(casework.STATUS_FILTERS)}."
        )
    return status


# ---- pages -----------------------------------------------------------------------------

FOLLOW_UP_STATUSES = ("active", *(s.value for s in TaskStatus), "all")
COMPLAINT_STATUSES = FOLLOW_UP_STATUSES


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


async def _form_action(
    request: web.Request,
    back: str,
    action: Callable[[AsyncSession, Agent, dict[str, Any], datetime, ZoneInfo], Awaitable[Any]],
) -> web.StreamResponse:
    """Run a page form's change and go back to the list, saying how it went."""
    agent = await _caseworker(request)
    form = await pages.check_csrf(request)
    separator = "&" if "?" in back else "?"
    try:
        async with request.app[sessions_key].begin() as session:
            await action(session, agent, form, _now(), _zone(request))
    except CaseworkError as exc:
        raise web.HTTPSeeOther(f"{back}{separator}{urlencode({'error': exc.code})}") from None
    raise web.HTTPSeeOther(f"{back}{separator}saved=1")


def _form_id(form: dict[str, Any], name: str) -> Any:
    """A form's select: empty means none (unassigned)."""
    return form.get(name) or None


@routes.get("/console/callbacks", name="work_callbacks")
async def callbacks_page(request: web.Request) -> web.StreamResponse:
    agent = await _caseworker(request)
    default = "mine" if agent.role == AgentRole.AGENT else "open"
    tab = _chosen(request.query.get("tab"), ("mine", "due_today", "overdue", "open"), default)
    async with request.app[sessions_key]() as session:
        rows = await casework.list_callbacks(session, agent, tab, _now(), _zone(request))
    context = {
        **_page_helpers(request, agent),
        "tab": tab,
        "tabs": ("mine", "due_today", "overdue", "open"),
        "callbacks": rows,
        "outcomes": casework.OUTCOMES,
    }
    return pages.render(request, "work_callbacks.html", context, agent=agent)


@routes.post(r"/console/callbacks/{id:\d+}/attempts", name="work_callback_attempt")
async def callback_attempt_form(request: web.Request) -> web.StreamResponse:
    async def attempt(session, agent, form, now, zone):
        await casework.log_attempt(
            session,
            agent,
            _id(request),
            outcome=form.get("outcome"),
            note=form.get("note"),
            window_start=form.get("window_start"),
            window_end=form.get("window_end"),
            now=now,
            tz=zone,
        )

    tab = _chosen(request.query.get("tab"), casework.CALLBACK_SCOPES, "mine")
    return await _form_action(request, f"/console/callbacks?tab={tab}", attempt)


@routes.post("/console/callbacks", name="work_schedule_callback")
async def schedule_callback_form(request: web.Request) -> web.StreamResponse:
    async def schedule(session, agent, form, now, zone):
        await casework.schedule_callback(
            session,
            agent,
            complaint_id=form.get("complaint_id"),
            conversation_id=form.get("conversation_id"),
            phone=form.get("phone"),
            window_start=form.get("window_start"),
            window_end=form.get("window_end"),
            reason=form.get("reason"),
            now=now,
            tz=zone,
        )

    return await _form_action(request, "/console/complaints", schedule)


@routes.get("/console/follow-ups", name="work_follow_ups")
async def follow_ups_page(request: web.Request) -> web.StreamResponse:
    agent = await _caseworker(request)
    scope = _chosen(request.query.get("scope"), casework.FOLLOW_UP_SCOPES, "mine")
    status = _chosen(request.query.get("status"), FOLLOW_UP_STATUSES, "active")
    async with request.app[sessions_key]() as session:
        rows = await casework.list_follow_ups(session, agent, scope, status, _now())
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
async def follow_up_form(request: web.Request) -> web.StreamResponse:
    async def update(session, agent, form, now, zone):
        # The form shows every field; only what was changed is sent on.
        due = form.get("due_at")
        await casework.update_follow_up(
            session,
            agent,
            _id(request),
            status=form.get("status"),
            assignee_agent_id=_form_id(form, "assignee_agent_id"),
            due_at=due if due != form.get("due_was") else None,
            note=form.get("note"),
            now=now,
            tz=zone,
        )

    scope = _chosen(request.query.get("scope"), casework.FOLLOW_UP_SCOPES, "mine")
    status = _chosen(request.query.get("status"), FOLLOW_UP_STATUSES, "active")
    back = f"/console/follow-ups?{urlencode({'scope': scope, 'status': status})}"
    return await _form_action(request, back, update)


@routes.get("/console/complaints", name="work_complaints")
async def complaints_page(request: web.Request) -> web.StreamResponse:
    agent = await _caseworker(request)
    status = _chosen(request.query.get("status"), COMPLAINT_STATUSES, "active")
    async with request.app[sessions_key]() as session:
        rows = await casework.list_complaints(session, agent, status, _now())
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
async def complaint_form(request: web.Request) -> web.StreamResponse:
    async def update(session, agent, form, now, zone):
        await casework.update_complaint(
            session,
            agent,
            _id(request),
            status=form.get("status"),
            owner_agent_id=_form_id(form, "owner_agent_id"),
            note=form.get("note"),
            now=now,
        )

    status = _chosen(request.query.get("status"), COMPLAINT_STATUSES, "active")
    return await _form_action(request, f"/console/complaints?status={status}", update)
