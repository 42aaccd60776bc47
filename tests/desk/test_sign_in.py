"""Sign-in limits on SQLite and PostgreSQL: attempts racing each other cannot get
more password checks than the limit allows, and a blocked try says how long."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from desk import sign_in as signing
from desk.clock import now
from desk.sign_in import MAX_FAILURES_PER_USER, sign_in
from store.models import LoginAttempt
from tests.desk.test_conversations import make_agent


class CountingHasher:
    """The real hasher, counting the passwords it checks."""

    def __init__(self, hasher):
        self.hasher = hasher
        self.checked = 0
        self.hash = hasher.hash

    def verify(self, hash_, password):
        self.checked += 1
        return self.hasher.verify(hash_, password)


@pytest.fixture
def hasher(monkeypatch) -> CountingHasher:
    counting = CountingHasher(signing._hasher)
    monkeypatch.setattr(signing, "_hasher", counting)
    return counting


async def failures(sessions, username: str) -> int:
    async with sessions() as session:
        return await session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.username == username, LoginAttempt.succeeded.is_(False))
        )


async def test_racing_wrong_passwords_get_no_more_checks_than_the_limit(sessions, hasher):
    await make_agent(sessions, "raced")
    tries = await asyncio.gather(
        *(sign_in(sessions, "raced", f"guess {n}", f"198.51.100.{n}") for n in range(20))
    )
    assert hasher.checked == MAX_FAILURES_PER_USER
    assert all(attempt.agent is None for attempt in tries)
    blocked = [attempt for attempt in tries if attempt.retry_after_seconds]
    assert len(blocked) == 20 - MAX_FAILURES_PER_USER
    # only the checked passwords count as failures (blocked tries do not lengthen the block)
    assert await failures(sessions, "raced") == MAX_FAILURES_PER_USER
    # and now even the right password waits
    assert (await sign_in(sessions, "raced", "x", "203.0.113.1")).retry_after_seconds
    assert hasher.checked == MAX_FAILURES_PER_USER


async def test_racing_sign_ins_from_one_address_get_no_more_checks_than_its_limit(sessions, hasher):
    limit = signing.MAX_FAILURES_PER_ADDRESS
    tries = await asyncio.gather(
        *(sign_in(sessions, f"user{n}", "guess", "198.51.100.7") for n in range(limit + 10))
    )
    assert hasher.checked == limit
    assert sum(1 for attempt in tries if attempt.retry_after_seconds) == 10


async def test_a_right_password_signs_in_and_is_not_a_failure(sessions, hasher):
    agent = await make_agent(sessions, "right")
    for _ in range(MAX_FAILURES_PER_USER - 1):
        assert (await sign_in(sessions, "right", "wrong", "203.0.113.2")).agent is None
    attempt = await sign_in(sessions, "right", "x", "203.0.113.2")
    assert attempt.agent is not None and attempt.agent.id == agent.id
    assert attempt.retry_after_seconds == 0
    assert await failures(sessions, "right") == MAX_FAILURES_PER_USER - 1
    # one failure short of the limit still: the next wrong one is checked
    assert (await sign_in(sessions, "right", "wrong", "203.0.113.2")).retry_after_seconds == 0
    assert (await sign_in(sessions, "right", "x", "203.0.113.2")).retry_after_seconds > 0


async def test_a_blocked_try_says_when_enough_failures_leave_the_window(sessions):
    await make_agent(sessions, "waiting")
    start = now() - timedelta(minutes=12)
    for minute in range(MAX_FAILURES_PER_USER):
        at = start + timedelta(minutes=minute)
        await sign_in(sessions, "waiting", "wrong", "203.0.113.3", at=at)
    # the oldest failure (12 minutes ago) leaves the 15-minute window in 3 minutes
    blocked = await sign_in(
        sessions, "waiting", "x", "203.0.113.3", at=start + timedelta(minutes=12)
    )
    assert blocked.agent is None
    assert blocked.retry_after_seconds == 3 * 60 and blocked.blocked_minutes == 3
    # with one failure more than the limit (as a race of processes could leave),
    # the second oldest must leave too
    async with sessions.begin() as session:
        session.add(
            LoginAttempt(
                username="waiting",
                remote="203.0.113.9",
                succeeded=False,
                at=start + timedelta(minutes=1),
            )
        )
    blocked = await sign_in(
        sessions, "waiting", "x", "203.0.113.3", at=start + timedelta(minutes=12)
    )
    assert blocked.retry_after_seconds == 4 * 60
