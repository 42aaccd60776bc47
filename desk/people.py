"""People: agents and teams, and each agent's interface language.

Every change goes through one function per action (`create_agent`, `update_agent`,
`create_team`, `set_language`), which takes a validated body, writes, and records
an audit event; the pages and the API only turn its `DeskError` into a flash
message or a JSON error. Admins cannot demote or deactivate themselves, so there
is always an admin left who can undo a mistake."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk import views
from desk.errors import DeskError
from desk.inputs import Body
from desk.routing import workloads
from desk.sign_in import hash_password
from desk.texts import LANGUAGES
from store.models import Agent, AgentRole, Event, Team

Sessions = async_sessionmaker[AsyncSession]

ROLES = tuple(role.value for role in AgentRole)
MANAGERS = (AgentRole.SUPERVISOR, AgentRole.ADMIN)
MIN_PASSWORD, MAX_PASSWORD = 8, 256
MIN_CAPACITY, MAX_CAPACITY = 1, 20
# What other agents may see of an agent (no presence, capacity or workload).
PUBLIC_AGENT_FIELDS = ("id", "username", "display_name", "role", "team", "supervisor")


def _whole_number(value: Any) -> Any:
    # A form sends text, JSON a number; `true` is a number to Python but not a capacity.
    if isinstance(value, bool):
        raise ValueError("not a number")
    return value


def _flag(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


Username = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9_.-]{2,64}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Password = Annotated[str, Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]
Capacity = Annotated[int, BeforeValidator(_whole_number), Field(ge=MIN_CAPACITY, le=MAX_CAPACITY)]
TeamCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z_]{2,32}$")]
Flag = Annotated[bool, BeforeValidator(_flag)]

_REFUSALS = {
    "username": (
        "bad_username",
        "username must be 2 to 64 lowercase letters, digits, dots, dashes or underscores.",
    ),
    "display_name": ("bad_display_name", "display_name of 1 to 64 characters is required."),
    "role": ("bad_role", f"role must be one of {', '.join(ROLES)}."),
    "team": ("unknown_team", "team must be the code of an existing team."),
    "capacity": (
        "bad_capacity",
        f"capacity must be a whole number from {MIN_CAPACITY} to {MAX_CAPACITY}.",
    ),
    "active": ("bad_active", "active must be true or false."),
    "password": (
        "short_password",
        f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters.",
    ),
    "language": ("bad_language", f"language must be one of {', '.join(LANGUAGES)}."),
}


class NewAgent(Body):
    username: Username
    display_name: Name
    password: Password
    role: AgentRole = AgentRole.AGENT
    team: str = "general"
    capacity: Capacity = 3
    refusals = _REFUSALS


class AgentChanges(Body):
    """Only the fields sent are changed (`model_fields_set`)."""

    display_name: Name | None = None
    role: AgentRole | None = None
    team: str | None = None
    capacity: Capacity | None = None
    active: Flag | None = None
    password: Password | None = None
    refusals = _REFUSALS


class NewTeam(Body):
    code: TeamCode
    name_zh: Name
    name_en: Name
    refusals = {
        "code": ("bad_team_code", "code must be 2 to 32 lowercase letters or underscores."),
        "name_zh": ("bad_team_name", "name_zh and name_en of 1 to 64 characters are required."),
        "name_en": ("bad_team_name", "name_zh and name_en of 1 to 64 characters are required."),
    }


class LanguageChoice(Body):
    language: Annotated[str, Field(pattern="^(zh|en)$")]
    refusals = _REFUSALS


def _event(kind: str, actor: Agent, **data: Any) -> Event:
    """An audit row: who changed which person or team."""
    return Event(kind=kind, agent_id=actor.id, data=data)


async def _team(session: AsyncSession, code: str) -> str:
    if not await session.scalar(select(Team.code).where(Team.code == code)):
        raise DeskError(*_REFUSALS["team"], 400)
    return code


# ---- agents ---------------------------------------------------------------------------


def agent_view(agent: Agent, active_conversations: int = 0, details: bool = True) -> dict:
    """An agent for the API and the console; without `details`, for other agents' eyes."""
    view = views.agent_view(agent, active_conversations)
    return view if details else {key: view[key] for key in PUBLIC_AGENT_FIELDS}


async def list_agents(sessions: Sessions) -> list[tuple[Agent, int]]:
    """Every agent with the number of conversations assigned to them right now."""
    async with sessions() as session:
        agents = (await session.scalars(select(Agent).order_by(Agent.id))).all()
        load = await workloads(session)
    return [(agent, load.get(agent.id, 0)) for agent in agents]


async def workload(sessions: Sessions, agent: Agent) -> int:
    async with sessions() as session:
        return (await workloads(session, agent.id)).get(agent.id, 0)


async def create_agent(sessions: Sessions, actor: Agent, new: NewAgent) -> Agent:
    """A new agent with an argon2-hashed initial password; usernames are unique."""
    password_hash = hash_password(new.password)
    taken = DeskError("username_taken", f"The username {new.username} is taken.", 409)
    try:
        async with sessions.begin() as session:
            team = await _team(session, new.team)
            # Checked first for a clear answer; the unique index settles a race.
            if await session.scalar(select(Agent.id).where(Agent.username == new.username)):
                raise taken
            agent = Agent(
                username=new.username,
                display_name=new.display_name,
                role=new.role,
                team=team,
                capacity=new.capacity,
                password_hash=password_hash,
                is_active=True,
            )
            session.add(agent)
            await session.flush()
            session.add(
                _event("agent_created", actor, target_agent_id=agent.id, role=new.role.value)
            )
    except IntegrityError as exc:
        raise taken from exc
    return agent


async def update_agent(
    sessions: Sessions, actor: Agent, agent_id: int, changes: AgentChanges
) -> Agent:
    """Change an agent's display name, role, team, capacity or active flag (and,
    over the API, password)."""
    sent = changes.model_fields_set
    values: dict[str, Any] = {}
    for name, column in (("display_name", "display_name"), ("role", "role")):
        if name in sent:
            values[column] = _required(changes, name)
    if "capacity" in sent:
        values["capacity"] = _required(changes, "capacity")
    if "active" in sent:
        values["is_active"] = _required(changes, "active")
    if "password" in sent:
        values["password_hash"] = hash_password(_required(changes, "password"))
    if agent_id == actor.id:
        if values.get("role", actor.role) != actor.role:
            raise DeskError("self_demotion", "You cannot change your own role.", 409)
        if values.get("is_active") is False:
            raise DeskError("self_deactivation", "You cannot deactivate yourself.", 409)
    async with sessions.begin() as session:
        agent = await session.get(Agent, agent_id)
        if agent is None:
            raise DeskError("not_found", "No such agent.", 404)
        if "team" in sent:
            values["team"] = await _team(session, _required(changes, "team"))
        if values.get("is_active") is False:
            # Nobody should be offered conversations they can no longer sign in to take.
            values["presence"] = "offline"
        if "password_hash" in values or (agent.is_active and values.get("is_active") is False):
            # A new password or a deactivation ends every session the agent has.
            values["session_version"] = agent.session_version + 1
        for name, value in values.items():
            setattr(agent, name, value)
        changed = sorted(
            "password" if name == "password_hash" else name
            for name in values
            if name != "session_version"
        )
        session.add(_event("agent_updated", actor, target_agent_id=agent.id, changed=changed))
    return agent


def _required(changes: AgentChanges, name: str) -> Any:
    """A field that was sent must carry a value: null changes nothing into nothing."""
    value = getattr(changes, name)
    if value is None:
        raise DeskError(*_REFUSALS[name], 400)
    return value


async def set_language(sessions: Sessions, agent: Agent, choice: LanguageChoice) -> str:
    """Remember the agent's interface language for every page they open."""
    async with sessions.begin() as session:
        found = await session.get(Agent, agent.id)
        if found is None:
            raise DeskError("not_found", "No such agent.", 404)
        found.ui_language = choice.language
    return choice.language


# ---- teams ----------------------------------------------------------------------------


def team_view(team: Team) -> dict:
    return {"code": team.code, "name_zh": team.name_zh, "name_en": team.name_en}


async def list_teams(sessions: Sessions) -> list[Team]:
    async with sessions() as session:
        return list((await session.scalars(select(Team).order_by(Team.id))).all())


async def create_team(sessions: Sessions, actor: Agent, new: NewTeam) -> Team:
    """A team agents can belong to and conversations can be routed to."""
    taken = DeskError("team_taken", f"There is already a team {new.code}.", 409)
    try:
        async with sessions.begin() as session:
            if await session.scalar(select(Team.id).where(Team.code == new.code)):
                raise taken
            team = Team(code=new.code, name_zh=new.name_zh, name_en=new.name_en)
            session.add(team)
            session.add(_event("team_created", actor, team=new.code))
    except IntegrityError as exc:
        raise taken from exc
    return team
