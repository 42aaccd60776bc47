"""The admin pages: agents and teams (`/admin`, admins), canned replies
(`/admin/canned`, supervisors and admins), and each agent's interface language.

Server-rendered forms that post back and redirect (303) to the page they came
from, saying whether the change worked; the rules are `desk.people` and
`desk.canned`, whose refusal codes name the translated message
(`admin.error.<code>`). The same operations over JSON are in `console.people_api`."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, NoReturn
from urllib.parse import urlsplit

from aiohttp import web

from console.keys import service_key, sessions_key
from console.pages import check_csrf, render, require_role, signed_in
from desk import canned, people
from desk.errors import DeskError
from desk.inputs import path_id, read
from desk.texts import LANGUAGES
from store.models import Agent, AgentRole

routes = web.RouteTableDef()

DEFAULT_NEXT = "/console"
# Codes a page may show from `?error=`; anything else in the query is ignored.
ERROR_CODES = frozenset(
    {
        "bad_username",
        "username_taken",
        "bad_display_name",
        "bad_role",
        "unknown_team",
        "bad_capacity",
        "bad_active",
        "short_password",
        "self_demotion",
        "self_deactivation",
        "not_found",
        "bad_team_code",
        "team_taken",
        "bad_team_name",
        "bad_shortcut",
        "bad_language",
        "bad_text",
        "unknown_variable",
        "shortcut_taken",
        "malformed",
    }
)


# ---- the admin pages ----------------------------------------------------------------


def _flash(request: web.Request) -> dict[str, Any]:
    code = request.query.get("error")
    return {
        "saved": request.query.get("saved") == "1",
        "error": f"admin.error.{code}" if code in ERROR_CODES else None,
    }


async def _form(request: web.Request, *roles: AgentRole) -> tuple[Agent, dict[str, Any]]:
    """The signed-in agent and the posted form, once the CSRF token and role pass."""
    agent = await signed_in(request)
    form = await check_csrf(request)
    require_role(agent, *roles, request=request)
    return agent, form


async def _submit(back: str, change: Awaitable[Any]) -> NoReturn:
    """Make the change and go back to the page, saying whether it worked."""
    try:
        await change
    except DeskError as refusal:
        raise web.HTTPSeeOther(location=f"{back}?error={refusal.code}") from None
    raise web.HTTPSeeOther(location=f"{back}?saved=1")


def _id(request: web.Request) -> int:
    return path_id(request.match_info["id"], "record")


@routes.get("/admin", name="admin")
async def admin_page(request: web.Request) -> web.StreamResponse:
    agent = await signed_in(request)
    require_role(agent, AgentRole.ADMIN, request=request)
    sessions = request.app[sessions_key]
    context = {
        "request": request,
        "agents": await people.list_agents(sessions),
        "teams": await people.list_teams(sessions),
        "roles": people.ROLES,
        "min_password": people.MIN_PASSWORD,
        "min_capacity": people.MIN_CAPACITY,
        "max_capacity": people.MAX_CAPACITY,
        **_flash(request),
    }
    return render(request, "admin.html", context, agent=agent)


@routes.post("/admin/agents", name="admin_create_agent")
async def admin_create_agent(request: web.Request) -> NoReturn:
    actor, form = await _form(request, AgentRole.ADMIN)
    await _submit("/admin", _create_agent(request, actor, form))


@routes.post(r"/admin/agents/{id:\d+}", name="admin_update_agent")
async def admin_update_agent(request: web.Request) -> NoReturn:
    actor, form = await _form(request, AgentRole.ADMIN)
    # The form always carries every field; an unticked box is simply absent.
    changes = {name: form.get(name, "") for name in ("display_name", "role", "team", "capacity")}
    changes["active"] = "active" in form
    await _submit("/admin", _update_agent(request, actor, changes))


@routes.post(r"/admin/agents/{id:\d+}/password", name="admin_reset_password")
async def admin_reset_password(request: web.Request) -> NoReturn:
    actor, form = await _form(request, AgentRole.ADMIN)
    changes = {"password": form.get("password", "")}
    await _submit("/admin", _update_agent(request, actor, changes))


@routes.post("/admin/teams", name="admin_create_team")
async def admin_create_team(request: web.Request) -> NoReturn:
    actor, form = await _form(request, AgentRole.ADMIN)
    await _submit("/admin", _create_team(request, actor, form))


@routes.get("/admin/canned", name="admin_canned")
async def canned_page(request: web.Request) -> web.StreamResponse:
    agent = await signed_in(request)
    require_role(agent, *people.MANAGERS, request=request)
    context = {
        "request": request,
        "canned": await canned.list_canned(request.app[sessions_key]),
        "languages": LANGUAGES,
        "max_text": canned.MAX_CANNED_TEXT,
        **_flash(request),
    }
    return render(request, "admin_canned.html", context, agent=agent)


@routes.post("/admin/canned", name="admin_create_canned")
async def admin_create_canned(request: web.Request) -> NoReturn:
    actor, form = await _form(request, *people.MANAGERS)
    await _submit("/admin/canned", _create_canned(request, actor, form))


@routes.post(r"/admin/canned/{id:\d+}/delete", name="admin_delete_canned")
async def admin_delete_canned(request: web.Request) -> NoReturn:
    actor, _ = await _form(request, *people.MANAGERS)
    await _submit(
        "/admin/canned", canned.delete_canned(request.app[sessions_key], actor, _id(request))
    )


# ---- each agent's interface language ------------------------------------------------


def local_path(value: Any, default: str = DEFAULT_NEXT) -> str:
    """`value` if it is a path on this site, else `default`: a `next` field must
    never send anyone to another site (`//evil.example`, `/\\evil.example`, `https:…`)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return default
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else default


@routes.post("/me/language", name="me_language")
async def me_language(request: web.Request) -> NoReturn:
    agent = await signed_in(request)
    form = await check_csrf(request)
    back = local_path(form.get("next"))
    try:
        choice = read(people.LanguageChoice, {"language": form.get("language")})
        await people.set_language(request.app[sessions_key], agent, choice)
    except DeskError:
        pass  # an unknown language leaves the setting as it was
    raise web.HTTPSeeOther(location=back)


# The forms post text; the rules read it as they read JSON.


async def _create_agent(request: web.Request, actor: Agent, form: dict[str, Any]) -> None:
    await people.create_agent(request.app[sessions_key], actor, read(people.NewAgent, form))


async def _update_agent(request: web.Request, actor: Agent, changes: dict[str, Any]) -> None:
    body = read(people.AgentChanges, changes)
    await people.update_agent(request.app[sessions_key], actor, _id(request), body)
    await request.app[service_key].hub.recheck([_id(request)])


async def _create_team(request: web.Request, actor: Agent, form: dict[str, Any]) -> None:
    await people.create_team(request.app[sessions_key], actor, read(people.NewTeam, form))


async def _create_canned(request: web.Request, actor: Agent, form: dict[str, Any]) -> None:
    await canned.create_canned(request.app[sessions_key], actor, read(canned.NewCanned, form))
