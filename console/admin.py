"""People: the admin pages for agents, teams and canned responses, the same over
the JSON API, and each agent's own interface language.

Every change goes through one function per action (`create_agent`, `update_agent`,
`create_team`, `create_canned`, ...), which validates, writes and records an event;
the pages and the API only translate its `Refusal` into a flash or a JSON error."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any, NoReturn
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from console import api, conversations
from console.auth import hash_password
from console.conversations import ConversationError, workloads
from console.i18n import LANGUAGES, language_of, t
from console.keys import sessions_key
from console.pages import check_csrf, render, signed_in
from store.models import (
    Agent,
    AgentRole,
    CannedResponse,
    Event,
    Team,
)

routes = web.RouteTableDef()

Sessions = async_sessionmaker[AsyncSession]

ROLES = tuple(role.value for role in AgentRole)
MANAGERS = (AgentRole.SUPERVISOR, AgentRole.ADMIN)
USERNAME = re.compile(r"[a-z0-9_.-]{2,64}")
TEAM_CODE = re.compile(r"[a-z_]{2,32}")
SHORTCUT = re.compile(r"[a-z0-9_]{1,32}")
MIN_PASSWORD, MAX_PASSWORD = 8, 256
MIN_CAPACITY, MAX_CAPACITY = 1, 20
MAX_CANNED_TEXT = 1000
# The variables the console fills in when an agent uses a canned response.
CANNED_VARIABLES = re.compile(r"\{(?:customer_name|agent_name)\}")
BRACED = re.compile(r"\{[^{}]*\}|[{}]")
DEFAULT_NEXT = "/console"


class Refusal(ConversationError):
    """A change the rules refuse. `code` names the translated message on the pages
    (`admin.error.<code>`); the API middleware turns it into a JSON error."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(code, message, status)


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
    }
)


# ---- who may do what ----------------------------------------------------------------


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


def _api_require_role(agent: Agent, *roles: AgentRole) -> None:
    if agent.role not in roles:
        names = ", ".join(str(role) for role in roles)
        raise Refusal("forbidden", f"Only these roles may do this: {names}.", 403)


# ---- validation ---------------------------------------------------------------------


def _text(value: Any, code: str, message: str, longest: int, shortest: int = 1) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not shortest <= len(text) <= longest:
        raise Refusal(code, message)
    return text


def _username(value: Any) -> str:
    username = value.strip() if isinstance(value, str) else ""
    if not USERNAME.fullmatch(username):
        raise Refusal(
            "bad_username",
            "username must be 2 to 64 lowercase letters, digits, dots, dashes or underscores.",
        )
    return username


def _display_name(value: Any) -> str:
    return _text(value, "bad_display_name", "display_name of 1 to 64 characters is required.", 64)


def _role(value: Any) -> AgentRole:
    if value not in ROLES:
        raise Refusal("bad_role", f"role must be one of {', '.join(ROLES)}.")
    return AgentRole(value)


def _capacity(value: Any) -> int:
    # A form sends text, JSON a number; `True` is an int in Python but not a capacity.
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        value = None
    if value is None or not MIN_CAPACITY <= value <= MAX_CAPACITY:
        raise Refusal(
            "bad_capacity",
            f"capacity must be a whole number from {MIN_CAPACITY} to {MAX_CAPACITY}.",
        )
    return value


def _active(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Refusal("bad_active", "active must be true or false.")
    return value


def _password(value: Any) -> str:
    if not isinstance(value, str) or not MIN_PASSWORD <= len(value) <= MAX_PASSWORD:
        raise Refusal(
            "short_password", f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters."
        )
    return value


def _language(value: Any) -> str:
    if value not in LANGUAGES:
        raise Refusal("bad_language", f"language must be one of {', '.join(LANGUAGES)}.")
    return value


def unknown_variables(text: str) -> list[str]:
    """The `{…}` pieces of a canned response other than the variables the console
    fills in (stray braces count too, since they would break the filling)."""
    return BRACED.findall(CANNED_VARIABLES.sub("", text))


async def _team(session: AsyncSession, code: Any) -> str:
    if not isinstance(code, str) or not await session.scalar(
        select(Team.code).where(Team.code == code)
    ):
        raise Refusal("unknown_team", "team must be the code of an existing team.")
    return code


def _event(kind: str, actor: Agent, **data: Any) -> Event:
    """An audit row: who changed which person, team or canned response."""
    return Event(kind=kind, agent_id=actor.id, data=data)


# ---- agents -------------------------------------------------------------------------


# What other agents may see of an agent (no presence, capacity or workload).
PUBLIC_AGENT_FIELDS = ("id", "username", "display_name", "role", "team", "supervisor")


def agent_view(agent: Agent, active_conversations: int = 0, details: bool = True) -> dict:
    """An agent for the API and the console; without `details`, for other agents' eyes."""
    view = conversations.agent_view(agent, active_conversations)
    return view if details else {key: view[key] for key in PUBLIC_AGENT_FIELDS}


async def list_agents(sessions: Sessions) -> list[tuple[Agent, int]]:
    """Every agent with the number of conversations assigned to them right now."""
    async with sessions() as session:
        agents = (await session.scalars(select(Agent).order_by(Agent.id))).all()
        load = await workloads(session)
    return [(agent, load.get(agent.id, 0)) for agent in agents]


async def create_agent(sessions: Sessions, actor: Agent, fields: dict[str, Any]) -> Agent:
    """A new agent with an argon2-hashed initial password; usernames are unique."""
    username = _username(fields.get("username"))
    display_name = _display_name(fields.get("display_name"))
    role = _role(fields.get("role", AgentRole.AGENT.value))
    capacity = _capacity(fields.get("capacity", 3))
    password = _password(fields.get("password"))
    password_hash = hash_password(password)
    taken = Refusal("username_taken", f"The username {username} is taken.", 409)
    try:
        async with sessions.begin() as session:
            team = await _team(session, fields.get("team", "general"))
            # Checked first for a clear answer; the unique index settles a race.
            if await session.scalar(select(Agent.id).where(Agent.username == username)):
                raise taken
            agent = Agent(
                username=username,
                display_name=display_name,
                role=role,
                team=team,
                capacity=capacity,
                password_hash=password_hash,
                is_active=True,
            )
            session.add(agent)
            await session.flush()
            session.add(_event("agent_created", actor, target_agent_id=agent.id, role=role.value))
    except IntegrityError as exc:
        raise taken from exc
    return agent


async def update_agent(
    sessions: Sessions, actor: Agent, agent_id: int, changes: dict[str, Any]
) -> Agent:
    """Change an agent's display name, role, team, capacity or active flag (and,
    over the API, password). Admins cannot demote or deactivate themselves, so
    there is always an admin left who can undo a mistake."""
    values: dict[str, Any] = {}
    if "display_name" in changes:
        values["display_name"] = _display_name(changes["display_name"])
    if "role" in changes:
        values["role"] = _role(changes["role"])
    if "capacity" in changes:
        values["capacity"] = _capacity(changes["capacity"])
    if "active" in changes:
        values["is_active"] = _active(changes["active"])
    if "password" in changes:
        values["password_hash"] = hash_password(_password(changes["password"]))
    if agent_id == actor.id:
        if values.get("role", actor.role) != actor.role:
            raise Refusal("self_demotion", "You cannot change your own role.", 409)
        if values.get("is_active") is False:
            raise Refusal("self_deactivation", "You cannot deactivate yourself.", 409)
    async with sessions.begin() as session:
        agent = await session.get(Agent, agent_id)
        if agent is None:
            raise Refusal("not_found", "No such agent.", 404)
        if "team" in changes:
            values["team"] = await _team(session, changes["team"])
        if values.get("is_active") is False:
            # Nobody should be offered conversations they can no longer sign in to take.
            values["presence"] = "offline"
        for name, value in values.items():
            setattr(agent, name, value)
        changed = sorted("password" if name == "password_hash" else name for name in values)
        session.add(_event("agent_updated", actor, target_agent_id=agent.id, changed=changed))
    return agent


# ---- teams --------------------------------------------------------------------------


def team_view(team: Team) -> dict:
    return {"code": team.code, "name_zh": team.name_zh, "name_en": team.name_en}


async def list_teams(sessions: Sessions) -> list[Team]:
    async with sessions() as session:
        return list((await session.scalars(select(Team).order_by(Team.id))).all())


async def create_team(sessions: Sessions, actor: Agent, fields: dict[str, Any]) -> Team:
    """A team agents can belong to and conversations can be routed to."""
    code = fields.get("code").strip() if isinstance(fields.get("code"), str) else ""
    if not TEAM_CODE.fullmatch(code):
        raise Refusal("bad_team_code", "code must be 2 to 32 lowercase letters or underscores.")
    message = "name_zh and name_en of 1 to 64 characters are required."
    name_zh = _text(fields.get("name_zh"), "bad_team_name", message, 64)
    name_en = _text(fields.get("name_en"), "bad_team_name", message, 64)
    taken = Refusal("team_taken", f"There is already a team {code}.", 409)
    try:
        async with sessions.begin() as session:
            if await session.scalar(select(Team.id).where(Team.code == code)):
                raise taken
            team = Team(code=code, name_zh=name_zh, name_en=name_en)
            session.add(team)
            session.add(_event("team_created", actor, team=code))
    except IntegrityError as exc:
        raise taken from exc
    return team


# ---- canned responses ---------------------------------------------------------------


def canned_view(canned: CannedResponse) -> dict:
    return {
        "id": canned.id,
        "shortcut": canned.shortcut,
        "language": canned.language,
        "text": canned.text,
    }


async def list_canned(sessions: Sessions, language: str | None = None) -> list[CannedResponse]:
    query = select(CannedResponse).order_by(CannedResponse.shortcut, CannedResponse.language)
    if language:
        query = query.where(CannedResponse.language == language)
    async with sessions() as session:
        return list((await session.scalars(query)).all())


async def create_canned(sessions: Sessions, actor: Agent, fields: dict[str, Any]) -> CannedResponse:
    """A prepared reply in one language; only the variables the console fills in
    may appear in braces."""
    shortcut = fields.get("shortcut").strip() if isinstance(fields.get("shortcut"), str) else ""
    if not SHORTCUT.fullmatch(shortcut):
        raise Refusal(
            "bad_shortcut", "shortcut must be 1 to 32 lowercase letters, digits or underscores."
        )
    language = _language(fields.get("language"))
    text = _text(
        fields.get("text"),
        "bad_text",
        f"text of 1 to {MAX_CANNED_TEXT} characters is required.",
        MAX_CANNED_TEXT,
    )
    unknown = unknown_variables(text)
    if unknown:
        raise Refusal(
            "unknown_variable",
            f"Unknown variables {' '.join(unknown)}: only {{customer_name}} and {{agent_name}} "
            "may appear in braces.",
        )
    taken = Refusal("shortcut_taken", f"There is already a {language} response {shortcut}.", 409)
    try:
        async with sessions.begin() as session:
            existing = select(CannedResponse.id).where(
                CannedResponse.shortcut == shortcut, CannedResponse.language == language
            )
            if await session.scalar(existing):
                raise taken
            canned = CannedResponse(shortcut=shortcut, language=language, text=text)
            session.add(canned)
            await session.flush()
            session.add(_event("canned_created", actor, canned_id=canned.id, shortcut=shortcut))
    except IntegrityError as exc:
        raise taken from exc
    return canned


async def delete_canned(sessions: Sessions, actor: Agent, canned_id: int) -> None:
    async with sessions.begin() as session:
        canned = await session.get(CannedResponse, canned_id)
        if canned is None:
            raise Refusal("not_found", "No such canned response.", 404)
        await session.delete(canned)
        session.add(_event("canned_deleted", actor, canned_id=canned_id, shortcut=canned.shortcut))


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
    except Refusal as refusal:
        raise web.HTTPSeeOther(location=f"{back}?error={refusal.code}") from None
    raise web.HTTPSeeOther(location=f"{back}?saved=1")


def _id(request: web.Request) -> int:
    return int(request.match_info["id"])  # the routes match digits only


@routes.get("/admin", name="admin")
async def admin_page(request: web.Request) -> web.StreamResponse:
    agent = await signed_in(request)
    require_role(agent, AgentRole.ADMIN, request=request)
    sessions = request.app[sessions_key]
    context = {
        "request": request,
        "agents": await list_agents(sessions),
        "teams": await list_teams(sessions),
        "roles": ROLES,
        "min_password": MIN_PASSWORD,
        "min_capacity": MIN_CAPACITY,
        "max_capacity": MAX_CAPACITY,
        **_flash(request),
    }
    return render(request, "admin.html", context, agent=agent)


@routes.post("/admin/agents", name="admin_create_agent")
async def admin_create_agent(request: web.Request) -> NoReturn:
    actor, form = await _form(request, AgentRole.ADMIN)
    await _submit("/admin", create_agent(request.app[sessions_key], actor, form))


@routes.post(r"/admin/agents/{id:\d+}", name="admin_update_agent")
async def admin_update_agent(request: web.Request) -> NoReturn:
    actor, form = await _form(request, AgentRole.ADMIN)
    # The form always carries every field; an unticked box is simply absent.
    changes = {name: form.get(name, "") for name in ("display_name", "role", "team", "capacity")}
    changes["active"] = "active" in form
    await _submit("/admin", update_agent(request.app[sessions_key], actor, _id(request), changes))


@routes.post(r"/admin/agents/{id:\d+}/password", name="admin_reset_password")
async def admin_reset_password(request: web.Request) -> NoReturn:
    actor, form = await _form(request, AgentRole.ADMIN)
    changes = {"password": form.get("password", "")}
    await _submit("/admin", update_agent(request.app[sessions_key], actor, _id(request), changes))


@routes.post("/admin/teams", name="admin_create_team")
async def admin_create_team(request: web.Request) -> NoReturn:
    actor, form = await _form(request, AgentRole.ADMIN)
    await _submit("/admin", create_team(request.app[sessions_key], actor, form))


@routes.get("/admin/canned", name="admin_canned")
async def canned_page(request: web.Request) -> web.StreamResponse:
    agent = await signed_in(request)
    require_role(agent, *MANAGERS, request=request)
    context = {
        "request": request,
        "canned": await list_canned(request.app[sessions_key]),
        "languages": LANGUAGES,
        "max_text": MAX_CANNED_TEXT,
        **_flash(request),
    }
    return render(request, "admin_canned.html", context, agent=agent)


@routes.post("/admin/canned", name="admin_create_canned")
async def admin_create_canned(request: web.Request) -> NoReturn:
    actor, form = await _form(request, *MANAGERS)
    await _submit("/admin/canned", create_canned(request.app[sessions_key], actor, form))


@routes.post(r"/admin/canned/{id:\d+}/delete", name="admin_delete_canned")
async def admin_delete_canned(request: web.Request) -> NoReturn:
    actor, _ = await _form(request, *MANAGERS)
    await _submit("/admin/canned", delete_canned(request.app[sessions_key], actor, _id(request)))


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


async def set_language(sessions: Sessions, agent: Agent, language: Any) -> str:
    """Remember the agent's interface language for every page they open."""
    language = _language(language)
    async with sessions.begin() as session:
        found = await session.get(Agent, agent.id)
        found.ui_language = language
    return language


@routes.post("/me/language", name="me_language")
async def me_language(request: web.Request) -> NoReturn:
    agent = await signed_in(request)
    form = await check_csrf(request)
    back = local_path(form.get("next"))
    try:
        await set_language(request.app[sessions_key], agent, form.get("language"))
    except Refusal:
        pass  # an unknown language leaves the setting as it was
    raise web.HTTPSeeOther(location=back)


# ---- the JSON API -------------------------------------------------------------------


@routes.put("/api/v1/me/language", name="api_me_language")
async def api_me_language(request: web.Request) -> web.Response:
    body = await api.json_body(request)
    language = await set_language(
        request.app[sessions_key], api.current_agent(request), body.get("language")
    )
    return web.json_response({"language": language})


@routes.get("/api/v1/agents", name="api_agents")
async def api_agents(request: web.Request) -> web.Response:
    """Supervisors and admins see everyone with presence and workload; others see
    their active colleagues (for transfers), without those details."""
    me = api.current_agent(request)
    details = me.role in MANAGERS
    rows = await list_agents(request.app[sessions_key])
    agents = [
        agent_view(agent, count, details) for agent, count in rows if details or agent.is_active
    ]
    return web.json_response({"agents": agents})


@routes.post("/api/v1/agents", name="api_create_agent")
async def api_create_agent(request: web.Request) -> web.Response:
    actor = api.current_agent(request)
    _api_require_role(actor, AgentRole.ADMIN)
    agent = await create_agent(request.app[sessions_key], actor, await api.json_body(request))
    return web.json_response(agent_view(agent), status=201)


@routes.patch(r"/api/v1/agents/{id:\d+}", name="api_update_agent")
async def api_update_agent(request: web.Request) -> web.Response:
    actor = api.current_agent(request)
    _api_require_role(actor, AgentRole.ADMIN)
    body = await api.json_body(request)
    sessions = request.app[sessions_key]
    agent = await update_agent(sessions, actor, _id(request), body)
    async with sessions() as session:
        workload = (await workloads(session, agent.id)).get(agent.id, 0)
    return web.json_response(agent_view(agent, workload))


@routes.get("/api/v1/teams", name="api_teams")
async def api_teams(request: web.Request) -> web.Response:
    teams = await list_teams(request.app[sessions_key])
    return web.json_response({"teams": [team_view(team) for team in teams]})


@routes.post("/api/v1/teams", name="api_create_team")
async def api_create_team(request: web.Request) -> web.Response:
    actor = api.current_agent(request)
    _api_require_role(actor, AgentRole.ADMIN)
    team = await create_team(request.app[sessions_key], actor, await api.json_body(request))
    return web.json_response(team_view(team), status=201)


@routes.get("/api/v1/canned", name="api_canned")
async def api_canned(request: web.Request) -> web.Response:
    _api_require_role(api.current_agent(request), AgentRole.AGENT, *MANAGERS)
    language = request.query.get("language")
    if language is not None:
        _language(language)
    rows = await list_canned(request.app[sessions_key], language)
    return web.json_response({"canned": [canned_view(canned) for canned in rows]})


@routes.post("/api/v1/canned", name="api_create_canned")
async def api_create_canned(request: web.Request) -> web.Response:
    actor = api.current_agent(request)
    _api_require_role(actor, *MANAGERS)
    canned = await create_canned(request.app[sessions_key], actor, await api.json_body(request))
    return web.json_response(canned_view(canned), status=201)


@routes.delete(r"/api/v1/canned/{id:\d+}", name="api_delete_canned")
async def api_delete_canned(request: web.Request) -> web.Response:
    actor = api.current_agent(request)
    _api_require_role(actor, *MANAGERS)
    canned_id = _id(request)
    await delete_canned(request.app[sessions_key], actor, canned_id)
    return web.json_response({"deleted": canned_id})
