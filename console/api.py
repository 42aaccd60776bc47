"""The HTTP API for integrators and tests: the agents' actions over REST."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from console.i18n import preferred, t
from console.keys import service_key, sessions_key, tokens_key
from console.pages import client_of, csrf_matches
from desk import inputs
from desk.errors import DeskError, error_body
from desk.sign_in import COOKIE, SignIn, agent_by_token, end_sessions, sign_in
from store.models import Agent, AgentRole, ConversationState

routes = web.RouteTableDef()
agent_key = web.RequestKey("agent", Agent)  # set by `api_errors`


def error(status: int, code: str, message: str) -> web.Response:
    """The one JSON error shape (see README, HTTP API)."""
    return web.json_response(error_body(code, message), status=status)


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise DeskError("malformed", "The body must be JSON.", 400) from exc
    if not isinstance(body, dict):
        raise DeskError("malformed", "The body must be a JSON object.", 400)
    return body


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_HEADER = "X-CSRF-Token"


@web.middleware
async def api_errors(request: web.Request, handler):
    """Authentication for /api/v1 (except login), and JSON errors.

    Integrators send a Bearer token. The console's own pages send their session
    cookie, and for anything that changes state also the page's CSRF token in
    `X-CSRF-Token` (derived from the session, see `console.pages.csrf_token`)."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    if request.path != "/api/v1/auth/login":
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token: str | None = header[7:]
        else:
            token = request.cookies.get(COOKIE)
            if token and request.method not in SAFE_METHODS:
                if not csrf_matches(request, request.headers.get(CSRF_HEADER, "")):
                    return error(403, "csrf", "The page's CSRF token is missing or wrong.")
        agent = await agent_by_token(request.app[sessions_key], request.app[tokens_key], token)
        if agent is None:
            return error(401, "unauthorised", "A valid Bearer token is required.")
        request[agent_key] = agent
    try:
        return await handler(request)
    except DeskError as exc:
        return error(exc.status, exc.code, exc.message)


def current_agent(request: web.Request) -> Agent:
    return request[agent_key]


def _conversation_id(request: web.Request) -> int:
    return inputs.path_id(request.match_info["id"])


@routes.post("/api/v1/auth/login", name="api_login")
async def login(request: web.Request) -> web.Response:
    body = inputs.read(inputs.Login, await json_body(request))
    attempt = await sign_in(
        request.app[sessions_key], body.username, body.password, client_of(request)
    )
    if attempt.retry_after_seconds:
        return locked(request, attempt)
    agent = attempt.agent
    if agent is None:
        return error(401, "bad_credentials", "Wrong username or password.")
    # Signing in to work through the API counts as being online, like opening the console.
    await request.app[service_key].set_presence(agent.id, "online")
    return web.json_response(
        {
            "token": request.app[tokens_key].issue(agent),
            "agent": {"id": agent.id, "username": agent.username, "role": agent.role.value},
        }
    )


def locked(request: web.Request, attempt: SignIn) -> web.Response:
    """429 for a blocked sign-in, saying how long (in `Retry-After` too), in the
    language asked for (English by default, like the API's other messages)."""
    asked = request.headers.get("Accept-Language")
    seconds = attempt.retry_after_seconds
    minutes = attempt.blocked_minutes
    message = t(preferred(asked) if asked else "en", "login.blocked", minutes=minutes)
    body: dict[str, Any] = {"error": {"code": "too_many_attempts", "message": message}}
    body["error"]["retry_after_seconds"] = seconds
    return web.json_response(body, status=429, headers={"Retry-After": str(seconds)})


def conversation_worker(request: web.Request) -> Agent:
    """The signed-in agent, if they take conversations (trainers do not: 403)."""
    agent = current_agent(request)
    if agent.role == AgentRole.TRAINER:
        raise DeskError("forbidden", "Trainers do not take conversations.", 403)
    return agent


@routes.post("/api/v1/auth/logout", name="api_logout")
async def logout(request: web.Request) -> web.Response:
    """Ends every session of the agent, the console's included."""
    agent = current_agent(request)
    await end_sessions(request.app[sessions_key], agent.id)
    await request.app[service_key].hub.recheck([agent.id])
    return web.Response(status=204)


@routes.put("/api/v1/me/presence", name="api_presence")
async def presence(request: web.Request) -> web.Response:
    """online, away or offline: handoffs are offered a callback when nobody is online."""
    agent = conversation_worker(request)
    body = inputs.read(inputs.PresenceChoice, await json_body(request))
    await request.app[service_key].set_presence(agent.id, body.presence)
    return web.json_response({"presence": body.presence})


@routes.get("/api/v1/conversations", name="api_conversations")
async def conversations(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state is not None and state not in {s.value for s in ConversationState}:
        return error(400, "bad_state", "state must be one of bot, queued, assigned, resolved.")
    rows = await request.app[service_key].conversations(state, conversation_worker(request))
    return web.json_response({"conversations": rows})


@routes.get("/api/v1/conversations/{id}", name="api_conversation")
async def conversation(request: web.Request) -> web.Response:
    found = await request.app[service_key].conversation_for(
        _conversation_id(request), current_agent(request)
    )
    return web.json_response(await request.app[service_key].view(found))


@routes.get("/api/v1/conversations/{id}/messages", name="api_messages")
async def messages(request: web.Request) -> web.Response:
    service = request.app[service_key]
    conversation_id = _conversation_id(request)
    await service.conversation_for(conversation_id, current_agent(request))
    after = request.query.get("after", "0")
    if not after.isdigit() or int(after) > inputs.MAX_ID:
        return error(400, "bad_after", "after must be a sequence number.")
    return web.json_response(
        {"messages": await service.messages_after(conversation_id, int(after))}
    )


@routes.post("/api/v1/conversations/{id}/assign", name="api_assign")
async def assign(request: web.Request) -> web.Response:
    result = await request.app[service_key].assign(
        _conversation_id(request), current_agent(request)
    )
    return web.json_response(result)


@routes.post("/api/v1/conversations/{id}/messages", name="api_send")
async def send(request: web.Request) -> web.Response:
    conversation_id = _conversation_id(request)
    body = inputs.read(inputs.Reply, await json_body(request))
    message, new = await request.app[service_key].agent_message(
        conversation_id, current_agent(request), body.text, body.client_message_id
    )
    return web.json_response(message, status=201 if new else 200)


@routes.post("/api/v1/conversations/{id}/resolve", name="api_resolve")
async def resolve(request: web.Request) -> web.Response:
    conversation_id = _conversation_id(request)
    data = await json_body(request) if request.can_read_body else {}
    body = inputs.read(inputs.Resolution, data)
    result = await request.app[service_key].resolve(
        conversation_id, current_agent(request), body.reason
    )
    return web.json_response(result)


@routes.post("/api/v1/conversations/{id}/wrap-up", name="api_wrap_up")
async def wrap_up(request: web.Request) -> web.Response:
    """The agent finished wrapping up the conversation they resolved (a supervisor or
    admin: anyone's); 409 `no_wrap_up` when none is open."""
    result = await request.app[service_key].finish_wrap_up(
        _conversation_id(request), conversation_worker(request)
    )
    return web.json_response(result)


@routes.post("/api/v1/conversations/{id}/transfer", name="api_transfer")
async def transfer(request: web.Request) -> web.Response:
    """To a team's queue (`team`) or straight to an agent (`agent_id`), with a `note`."""
    conversation_id = _conversation_id(request)
    body = inputs.read(inputs.Transfer, await json_body(request))
    result = await request.app[service_key].transfer(
        conversation_id,
        current_agent(request),
        body.note,
        team=body.team,
        to_agent_id=body.agent_id,
    )
    return web.json_response(result)


@routes.get("/api/v1/conversations/{id}/notes", name="api_notes")
async def notes(request: web.Request) -> web.Response:
    service = request.app[service_key]
    conversation_id = _conversation_id(request)
    await service.conversation_for(conversation_id, current_agent(request))
    return web.json_response({"notes": await service.notes(conversation_id)})


@routes.post("/api/v1/conversations/{id}/notes", name="api_add_note")
async def add_note(request: web.Request) -> web.Response:
    conversation_id = _conversation_id(request)
    body = inputs.read(inputs.NewNote, await json_body(request))
    note, new = await request.app[service_key].add_note(
        conversation_id, current_agent(request), body.text, body.client_note_id
    )
    return web.json_response(note, status=201 if new else 200)


@routes.put("/api/v1/conversations/{id}/labels", name="api_labels")
async def labels(request: web.Request) -> web.Response:
    conversation_id = _conversation_id(request)
    body = inputs.read(inputs.Labels, await json_body(request))
    result = await request.app[service_key].set_labels(
        conversation_id, current_agent(request), list(body.labels)
    )
    return web.json_response(result)


@routes.get("/healthz", name="healthz")
async def healthz(request: web.Request) -> web.Response:
    checks = await request.app[service_key].bot.health()
    ok = all(checks.values())
    return web.json_response({"ok": ok, **checks}, status=200 if ok else 503)
