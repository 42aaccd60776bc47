"""The HTTP API for integrators and tests: the agents' actions over REST."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from console.auth import COOKIE, agent_by_token, sign_in
from console.conversations import ConversationError
from console.keys import service_key, sessions_key, tokens_key
from console.pages import CSRF_COOKIE
from store.models import Agent, ConversationState

PRESENCES = ("online", "away", "offline")

routes = web.RouteTableDef()
agent_key = web.RequestKey("agent", Agent)  # set by `api_errors`


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(
            text='{"error": {"code": "malformed", "message": "The body must be JSON."}}',
            content_type="application/json",
        ) from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text='{"error": {"code": "malformed", "message": "The body must be a JSON object."}}',
            content_type="application/json",
        )
    return body


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_HEADER = "X-CSRF-Token"


@web.middleware
async def api_errors(request: web.Request, handler):
    """Authentication for /api/v1 (except login), and JSON errors.

    Integrators send a Bearer token. The console's own pages send their session
    cookie, and for anything that changes state also the page's CSRF token in
    `X-CSRF-Token` (it must equal the CSRF cookie)."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    if request.path != "/api/v1/auth/login":
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header[7:]
        else:
            token = request.cookies.get(COOKIE)
            if token and request.method not in SAFE_METHODS:
                cookie = request.cookies.get(CSRF_COOKIE, "")
                sent = request.headers.get(CSRF_HEADER, "")
                if not cookie or not hmac.compare_digest(cookie, sent):
                    return error(403, "csrf", "The page's CSRF token is missing or wrong.")
        agent = await agent_by_token(request.app[sessions_key], request.app[tokens_key], token)
        if agent is None:
            return error(401, "unauthorised", "A valid Bearer token is required.")
        request[agent_key] = agent
    try:
        return await handler(request)
    except ConversationError as exc:
        return error(exc.status, exc.code, str(exc))


def current_agent(request: web.Request) -> Agent:
    return request[agent_key]


def _conversation_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError as exc:
        raise ConversationError("not_found", "No such conversation.", 404) from exc


@routes.post("/api/v1/auth/login", name="api_login")
async def login(request: web.Request) -> web.Response:
    body = await json_body(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return error(400, "malformed", "username and password are required.")
    attempt = await sign_in(request.app[sessions_key], username, password, request.remote or "")
    if attempt.blocked_minutes:
        return error(
            429,
            "too_many_attempts",
            f"Too many wrong passwords. Try again in {attempt.blocked_minutes} minute(s).",
        )
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


@routes.put("/api/v1/me/presence", name="api_presence")
async def presence(request: web.Request) -> web.Response:
    """online, away or offline: handoffs are offered a callback when nobody is online."""
    body = await json_body(request)
    value = body.get("presence")
    if value not in PRESENCES:
        return error(400, "bad_presence", "presence must be one of online, away, offline.")
    await request.app[service_key].set_presence(current_agent(request).id, value)
    return web.json_response({"presence": value})


@routes.get("/api/v1/conversations", name="api_conversations")
async def conversations(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state is not None and state not in {s.value for s in ConversationState}:
        return error(400, "bad_state", "state must be one of bot, queued, assigned, resolved.")
    rows = await request.app[service_key].list(state, current_agent(request))
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
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        return error(400, "bad_after", "after must be a sequence number.")
    return web.json_response({"messages": await service.messages_after(conversation_id, after)})


@routes.post("/api/v1/conversations/{id}/assign", name="api_assign")
async def assign(request: web.Request) -> web.Response:
    result = await request.app[service_key].assign(
        _conversation_id(request), current_agent(request)
    )
    return web.json_response(result)


@routes.post("/api/v1/conversations/{id}/messages", name="api_send")
async def send(request: web.Request) -> web.Response:
    body = await json_body(request)
    text = body.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 4000:
        return error(400, "malformed", "text of 1 to 4000 characters is required.")
    client_message_id = body.get("client_message_id")
    if client_message_id is not None and not isinstance(client_message_id, str):
        return error(400, "malformed", "client_message_id must be a string.")
    message, new = await request.app[service_key].agent_message(
        _conversation_id(request), current_agent(request), text, client_message_id
    )
    return web.json_response(message, status=201 if new else 200)


@routes.post("/api/v1/conversations/{id}/resolve", name="api_resolve")
async def resolve(request: web.Request) -> web.Response:
    body = await json_body(request) if request.can_read_body else {}
    reason = body.get("reason") if isinstance(body.get("reason"), str) else None
    result = await request.app[service_key].resolve(
        _conversation_id(request), current_agent(request), reason
    )
    return web.json_response(result)


@routes.post("/api/v1/conversations/{id}/transfer", name="api_transfer")
async def transfer(request: web.Request) -> web.Response:
    """To a team's queue (`team`) or straight to an agent (`agent_id`), with a `note`."""
    body = await json_body(request)
    team, to_agent, note = body.get("team"), body.get("agent_id"), body.get("note")
    if (
        not isinstance(note, str)
        or (team is not None and not isinstance(team, str))
        or (to_agent is not None and (not isinstance(to_agent, int) or isinstance(to_agent, bool)))
    ):
        return error(400, "malformed", "note, and team or agent_id, are required.")
    result = await request.app[service_key].transfer(
        _conversation_id(request), current_agent(request), note, team=team, to_agent_id=to_agent
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
    body = await json_body(request)
    text, client_note_id = body.get("text"), body.get("client_note_id")
    if not isinstance(text, str) or (
        client_note_id is not None and not isinstance(client_note_id, str)
    ):
        return error(400, "malformed", "text is required; client_note_id is a string.")
    note, new = await request.app[service_key].add_note(
        _conversation_id(request), current_agent(request), text, client_note_id
    )
    return web.json_response(note, status=201 if new else 200)


@routes.put("/api/v1/conversations/{id}/labels", name="api_labels")
async def labels(request: web.Request) -> web.Response:
    body = await json_body(request)
    if not isinstance(body.get("labels"), list):
        return error(400, "malformed", "labels must be a list of strings.")
    result = await request.app[service_key].set_labels(
        _conversation_id(request), current_agent(request), body["labels"]
    )
    return web.json_response(result)


@routes.get("/healthz", name="healthz")
async def healthz(request: web.Request) -> web.Response:
    checks = await request.app[service_key].bot.health()
    ok = all(checks.values())
    return web.json_response({"ok": ok, **checks}, status=200 if ok else 503)
