"""Agents' credentials: argon2 password hashes and signed, expiring tokens."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import Agent, AgentRole

_hasher = PasswordHasher()
# Verifying against this keeps the time of a login for an unknown user like a known one.
_DUMMY_HASH = _hasher.hash("not a password")
COOKIE = "hd_session"

DEMO_AGENTS = [
    # username, display name, role, team
    ("agent1", "王芳 Wang Fang", AgentRole.AGENT, "general"),
    ("agent2", "刘洋 Liu Yang", AgentRole.AGENT, "claims"),
    ("supervisor1", "陈静 Chen Jing", AgentRole.SUPERVISOR, "general"),
]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


class Tokens:
    def __init__(self, secret_key: str, max_age_seconds: int):
        self._serializer = URLSafeTimedSerializer(secret_key, salt="agent-token")
        self._max_age = max_age_seconds

    def issue(self, agent: Agent) -> str:
        return self._serializer.dumps({"a": agent.id})

    def agent_id(self, token: str | None) -> int | None:
        if not token:
            return None
        try:
            data = self._serializer.loads(token, max_age=self._max_age)
        except BadSignature:
            return None
        return data.get("a") if isinstance(data, dict) else None


async def authenticate(
    sessions: async_sessionmaker[AsyncSession], username: str, password: str
) -> Agent | None:
    async with sessions() as session:
        agent = await session.scalar(
            select(Agent).where(Agent.username == username, Agent.is_active.is_(True))
        )
    try:
        _hasher.verify(agent.password_hash if agent else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return agent


async def agent_by_token(
    sessions: async_sessionmaker[AsyncSession], tokens: Tokens, token: str | None
) -> Agent | None:
    agent_id = tokens.agent_id(token)
    if agent_id is None:
        return None
    async with sessions() as session:
        agent = await session.get(Agent, agent_id)
    return agent if agent is not None and agent.is_active else None


async def sync_demo_agents(
    sessions: async_sessionmaker[AsyncSession], enabled: bool, password: str
) -> None:
    """Demo agents exist only in demo mode: created (or their password reset)
    when it is on, disabled when it is off."""
    async with sessions.begin() as session:
        for username, display_name, role, team in DEMO_AGENTS:
            agent = await session.scalar(select(Agent).where(Agent.username == username))
            if not enabled:
                if agent is not None:
                    agent.is_active = False
                continue
            if agent is None:
                agent = Agent(username=username)
                session.add(agent)
            agent.display_name = display_name
            agent.role = role
            agent.team = team
            agent.is_active = True
            agent.password_hash = hash_password(password)
