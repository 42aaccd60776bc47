"""People over the JSON API: agents and teams (admins), canned replies
(supervisors and admins; agents read them), and each agent's own interface language."""

from __future__ import annotations

from aiohttp import web

from console import api
from console.keys import service_key, sessions_key
from desk import canned, people
from desk.errors import DeskError
from desk.inputs import path_id, read
from store.models import Agent, AgentRole

routes = web.RouteTableDef()


def _require_role(agent: Agent, *roles: AgentRole) -> None:
    if agent.role not in roles:
        names = ", ".join(str(role) for role in roles)
        raise DeskError("forbidden", f"Only these roles may do this: {names}.", 403)


def _id(request: web.Request) -> int:
    return path_id(request.match_info["id"], "record")


@routes.put("/api/v1/me/language", name="api_me_language")
async def api_me_language(request: web.Request) -> web.Response:
    choice = read(people.LanguageChoice, await api.json_body(request))
    language = await people.set_language(
        request.app[sessions_key], api.current_agent(request), choice
    )
    return web.json_response({"language": language})


@routes.get("/api/v1/agents", name="api_agents")
async def api_agents(request: web.Request) -> web.Response:
    """Supervisors and admins see everyone with presence and workload; others see
    their active colleagues (for transfers), without those details."""
    me = api.current_agent(request)
    details = me.role in people.MANAGERS
    rows = await people.list_agents(request.app[sessions_key])
    agents = [
        people.agent_view(agent, count, details)
        for agent, count in rows
        if details or agent.is_active
    ]
    return web.json_response({"agents": agents})


@routes.post("/api/v1/agents", name="api_create_agent")
async def api_create_agent(request: web.Request) -> web.Response:
    actor = api.current_agent(request)
    _require_role(actor, AgentRole.ADMIN)
    new = read(people.NewAgent, await api.json_body(request))
    agent = await people.create_agent(request.app[sessions_key], actor, new)
    return web.json_response(people.agent_view(agent), status=201)


@routes.patch(r"/api/v1/agents/{id:\d+}", name="api_update_agent")
async def api_update_agent(request: web.Request) -> web.Response:
    actor = api.current_agent(request)
    _require_role(actor, AgentRole.ADMIN)
    agent_id = _id(request)
    changes = read(people.AgentChanges, await api.json_body(request))
    sessions = request.app[sessions_key]
    agent = await people.update_agent(sessions, actor, agent_id, changes)
    await request.app[service_key].hub.recheck([agent_id])
    return web.json_response(people.agent_view(agent, await people.workload(sessions, agent)))


@routes.get("/api/v1/teams", name="api_teams")
async def api_teams(request: web.Request) -> web.Response:
    teams = await people.list_teams(request.app[sessions_key])
    return web.json_response({"teams": [people.team_view(team) for team in teams]})


@routes.post("/api/v1/teams", name="api_create_team")
async def api_create_team(request: web.Request) -> web.Response:
    actor = api.current_agent(request)
    _require_role(actor, AgentRole.ADMIN)
    new = read(people.NewTeam, await api.json_body(request))
    team = await people.create_team(request.app[sessions_key], actor, new)
    return web.json_response(people.team_view(team), status=201)


@routes.get("/api/v1/canned", name="api_canned")
async def api_canned(request: web.Request) -> web.Response:
    _require_role(api.current_agent(request), AgentRole.AGENT, *people.MANAGERS)
    language = request.query.get("language")
    if language is not None:
        canned.check_language(language)
    rows = await canned.list_canned(request.app[sessions_key], language)
    return web.json_response({"canned": [canned.canned_view(row) for row in rows]})


@routes.post("/api/v1/canned", name="api_create_canned")
async def api_create_canned(request: web.Request) -> web.Response:
    actor = api.current_agent(request)
    _require_role(actor, *people.MANAGERS)
    new = read(canned.NewCanned, await api.json_body(request))
    created = await canned.create_canned(request.app[sessions_key], actor, new)
    return web.json_response(canned.canned_view(created), status=201)


@routes.delete(r"/api/v1/canned/{id:\d+}", name="api_delete_canned")
async def api_delete_canned(request: web.Request) -> web.Response:
    actor = api.current_agent(request)
    _require_role(actor, *people.MANAGERS)
    canned_id = _id(request)
    await canned.delete_canned(request.app[sessions_key], actor, canned_id)
    return web.json_response({"deleted": canned_id})
