"""Agents' credentials: argon2 password hashes and signed, expiring tokens."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.clock import aware, now
from store.models import Agent, AgentRole, LoginAttempt

_hasher = PasswordHasher()
# argon2 is slow on purpose: it runs off the event loop (so sockets are not stalled),
# at most two at once (so a burst of sign-ins cannot take every core).
_hashing = asyncio.Semaphore(2)
# Verifying against this keeps the time of a login for an unknown user like a known one.
_DUMMY_HASH = _hasher.hash("not a password")
COOKIE = "hd_session"


class DemoAgent(NamedTuple):
    username: str
    display_name: str
    role: AgentRole
    team: str
    capacity: int = 3


# One of each role, so every page can be tried by hand after `make run`.
DEMO_AGENTS = [
    DemoAgent("agent1", "王芳 Wang Fang", AgentRole.AGENT, "general"),
    DemoAgent("agent2", "刘洋 Liu Yang", AgentRole.AGENT, "claims"),
    DemoAgent("agent3", "赵磊 Zhao Lei", AgentRole.AGENT, "complaints"),
    DemoAgent("supervisor1", "陈静 Chen Jing", AgentRole.SUPERVISOR, "general"),
    DemoAgent("admin1", "孙伟 Sun Wei", AgentRole.ADMIN, "general"),
    DemoAgent("trainer1", "李娜 Li Na", AgentRole.TRAINER, "general"),
]


def hash_password(password: str) -> str:
    """An argon2id hash (with its own salt and parameters) for `Agent.password_hash`."""
    return _hasher.hash(password)


class Tokens:
    def __init__(self, secret_key: str, max_age_seconds: int):
        self._serializer = URLSafeTimedSerializer(secret_key, salt="agent-token")
        self._secret = secret_key.encode()
        self._max_age = max_age_seconds

    def csrf_for(self, session_token: str) -> str:
        """The form token of a signed-in session: derived from it with the server's
        secret, so a cookie planted by another site cannot be matched by its forms."""
        mac = hmac.new(self._secret, b"csrf|" + session_token.encode(), hashlib.sha256)
        return mac.hexdigest()

    def issue(self, agent: Agent) -> str:
        return self._serializer.dumps({"a": agent.id, "v": agent.session_version or 0})

    def read(self, token: str | None) -> tuple[int, int] | None:
        """The agent id and session version a token was issued for, if it is ours and fresh."""
        if not token:
            return None
        try:
            data = self._serializer.loads(token, max_age=self._max_age)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("a"), int):
            return None
        version = data.get("v", 0)
        return data["a"], version if isinstance(version, int) else -1


async def authenticate(
    sessions: async_sessionmaker[AsyncSession], username: str, password: str
) -> Agent | None:
    async with sessions() as session:
        agent = await session.scalar(
            select(Agent).where(Agent.username == username, Agent.is_active.is_(True))
        )
    try:
        async with _hashing:
            await asyncio.to_thread(
                _hasher.verify, agent.password_hash if agent else _DUMMY_HASH, password
            )
    except (VerificationError, InvalidHashError):
        return None
    return agent


# Guessing passwords: five wrong ones for a username, or twenty from one address,
# within a quarter of an hour block further tries until the window has passed.
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20


@dataclass
class SignIn:
    agent: Agent | None = None
    # Seconds until another try may be let through, when blocked (0: not blocked).
    retry_after_seconds: int = 0

    @property
    def blocked_minutes(self) -> int:
        return math.ceil(self.retry_after_seconds / 60)


async def sign_in(
    sessions: async_sessionmaker[AsyncSession],
    username: str,
    password: str,
    remote: str,
    at: datetime | None = None,
) -> SignIn:
    """Check a password, unless too many recent failures block the attempt.

    Counting and recording are one step, taken by one attempt at a time per username
    and per address (in every process: the store serialises them), so no more tries
    than the limit reach the password check however many race: the attempt is stored
    as a failure first, counted with the others, and kept only if it may go on; it is
    marked succeeded once the password is right. `at`: its time, the clock's by default."""
    at = at or now()
    username, remote = username[:64], remote[:64]
    async with sessions() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            # Held until the commit. (SQLite lets one writer at a time anyway, and the
            # attempt's INSERT below is its first statement, so it waits its turn.)
            for space, key in ((_USER_LOCKS, username), (_ADDRESS_LOCKS, remote)):
                await session.execute(select(func.pg_advisory_xact_lock(space, func.hashtext(key))))
        attempt = LoginAttempt(username=username, remote=remote, succeeded=False, at=at)
        session.add(attempt)
        await session.flush()
        retry_after = await _blocked_for(session, attempt, at)
        if retry_after:
            # It checked nothing, so it does not count (nor lengthen the block).
            await session.delete(attempt)
    if retry_after:
        return SignIn(retry_after_seconds=retry_after)
    agent = await authenticate(sessions, username, password)
    if agent is not None:
        async with sessions.begin() as session:
            await session.execute(
                update(LoginAttempt).where(LoginAttempt.id == attempt.id).values(succeeded=True)
            )
    return SignIn(agent=agent)


# PostgreSQL advisory lock spaces of sign-in attempts: one lock per username, one per address.
_USER_LOCKS, _ADDRESS_LOCKS = 4101, 4102


async def _blocked_for(session: AsyncSession, attempt: LoginAttempt, at: datetime) -> int:
    """Seconds after `at` until a try like `attempt` (stored, not yet committed)
    would be let through; 0 if it is."""
    failures = select(LoginAttempt.at).where(
        LoginAttempt.succeeded.is_(False), LoginAttempt.at > at - FAILURE_WINDOW
    )
    limits = (
        (LoginAttempt.username == attempt.username, MAX_FAILURES_PER_USER),
        (LoginAttempt.remote == attempt.remote, MAX_FAILURES_PER_ADDRESS),
    )
    until = at
    for same, limit in limits:
        counted = select(func.count()).select_from(failures.where(same).subquery())
        # The attempt itself is among them.
        over = (await session.scalar(counted) or 0) - limit
        if over <= 0:
            continue
        # A later try passes once no more than limit - 1 of the other failures are
        # within the window: when the over-th oldest of them leaves it.
        leaving = await session.scalar(
            failures.where(same, LoginAttempt.id != attempt.id)
            .order_by(LoginAttempt.at, LoginAttempt.id)
            .offset(over - 1)
            .limit(1)
        )
        until = max(until, aware(leaving) + FAILURE_WINDOW if leaving else at, at + _SECOND)
    return math.ceil((until - at).total_seconds())


_SECOND = timedelta(seconds=1)


async def agent_by_token(
    sessions: async_sessionmaker[AsyncSession], tokens: Tokens, token: str | None
) -> Agent | None:
    issued = tokens.read(token)
    if issued is None:
        return None
    agent_id, version = issued
    async with sessions() as session:
        agent = await session.get(Agent, agent_id)
    if agent is None or not agent.is_active or agent.session_version != version:
        return None
    return agent


async def agents_by_id(
    sessions: async_sessionmaker[AsyncSession], agent_ids: list[int]
) -> dict[int, Agent]:
    async with sessions() as session:
        found = await session.scalars(select(Agent).where(Agent.id.in_(agent_ids)))
        return {agent.id: agent for agent in found}


async def end_sessions(sessions: async_sessionmaker[AsyncSession], agent_id: int) -> None:
    """Every token of the agent stops working: sign-out, API and console alike."""
    async with sessions.begin() as session:
        await session.execute(
            update(Agent)
            .where(Agent.id == agent_id)
            .values(session_version=Agent.session_version + 1)
        )


@functools.lru_cache(maxsize=2)
def _demo_hash(password: str) -> str:
    """One hash (with its own salt) serves every demo account, once per process:
    argon2 is slow on purpose, and an app start should not pay for it again."""
    return hash_password(password)


async def sync_demo_agents(
    sessions: async_sessionmaker[AsyncSession], enabled: bool, password: str
) -> None:
    """Demo agents exist only in demo mode: created (or their password reset)
    when it is on, disabled when it is off."""
    password_hash = _demo_hash(password) if enabled else ""
    async with sessions.begin() as session:
        for demo in DEMO_AGENTS:
            agent = await session.scalar(select(Agent).where(Agent.username == demo.username))
            if not enabled:
                if agent is not None:
                    agent.is_active = False
                continue
            if agent is None:
                agent = Agent(username=demo.username)
                session.add(agent)
            agent.display_name = demo.display_name
            agent.role = demo.role
            agent.team = demo.team
            agent.capacity = demo.capacity
            agent.is_active = True
            agent.password_hash = password_hash
