"""Who is connecting to a staff namespace (agents', trainers'): the console's own
origin only, and the agent signed in by the token given in `auth` or by the console's
session cookie. Each namespace then says which roles it takes."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.sign_in import COOKIE, Tokens, agent_by_token
from store.models import Agent


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
