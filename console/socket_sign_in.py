"""Who is connecting to a staff namespace (agents', trainers'): the console's own
origin only, and the agent signed in by the token given in `auth` or by the console's
session cookie. Each namespace then says which roles it takes. A socket keeps the
grant it was let in with, and is closed when that grant changes (sign-out,
deactivation, another role or team)."""

from __future__ import annotations

import logging
from http.cookies import SimpleCookie
from typing import Any

import socketio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.sign_in import COOKIE, Tokens, agent_by_token, agents_by_id
from store.models import Agent

log = logging.getLogger(__name__)


async def connecting_agent(
    sessions: async_sessionmaker[AsyncSession],
    tokens: Tokens,
    console_origins: set[str],
    environ: dict,
    auth: Any,
) -> Agent:
    """The signed-in agent opening a socket; refuses (`ConnectionRefusedError`) a
    foreign origin or a caller who is not signed in."""
    origin = environ.get("HTTP_ORIGIN")
    if origin and origin.rstrip("/") not in console_origins:
        raise ConnectionRefusedError("origin not allowed")
    token = auth.get("token") if isinstance(auth, dict) else None
    if not token:
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        token = cookie[COOKIE].value if COOKIE in cookie else None
    agent = await agent_by_token(sessions, tokens, token)
    if agent is None:
        raise ConnectionRefusedError("not signed in")
    return agent


def grant(agent: Agent) -> list[Any]:
    """What a staff socket was let in with: any change of it closes the socket."""
    return [agent.session_version, agent.is_active, agent.role.value, agent.team]


async def close_changed(
    namespace: socketio.AsyncNamespace,
    sessions: async_sessionmaker[AsyncSession],
    rooms: list[str],
    agent_ids: list[int] | None = None,
) -> None:
    """Closes the sockets in `rooms` (of this process) whose agent's grant changed
    since they connected (of `agent_ids` only, if given); a console that still may
    connects again with its new rights."""
    participants = []
    for room in rooms:
        for sid, _ in list(namespace.server.manager.get_participants(namespace.namespace, room)):
            session = await namespace.get_session(sid)
            agent_id = session.get("agent_id") if session else None
            if agent_id is not None and (agent_ids is None or agent_id in agent_ids):
                participants.append((sid, agent_id, session.get("grant")))
    if not participants:
        return
    found = await agents_by_id(sessions, sorted({agent_id for _, agent_id, _ in participants}))
    for sid, agent_id, granted in participants:
        agent = found.get(agent_id)
        if agent is None or grant(agent) != granted:
            log.info(
                "closing a %s socket of agent %s: their sign-in changed",
                namespace.namespace,
                agent_id,
            )
            await namespace.disconnect(sid)
