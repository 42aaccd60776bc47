"""Sign-in as the routes apply it: the client's address behind a trusted proxy, a
blocked sign-in saying how long (in both languages, on the page and in the API),
and how long an API sign-in alone counts as being online."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sqlalchemy import select

from console.keys import service_key
from desk.clock import now
from desk.housekeeping import run_once
from desk.journal import PRESENCE_TTL
from desk.sign_in import FAILURE_WINDOW, MAX_FAILURES_PER_ADDRESS, MAX_FAILURES_PER_USER
from store.models import Agent
from tests.console.test_agent_socket import Console
from tests.console.test_api import form_token
from tests.console.test_api import token as api_token
from tests.console_app import start_console
from web.stack import Customer


@pytest.fixture
async def console_app(sqlite_url):
    started = []

    async def start(**overrides):
        client = await start_console(sqlite_url, housekeeping=False, auto_assign=False, **overrides)
        started.append(client)
        return client

    yield start
    for client in started:
        await client.close()


async def api_sign_in(client, username, password, forwarded_for=None, **headers):
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    return await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}, headers=headers
    )


async def page_sign_in(client, username, password, forwarded_for=None, lang="zh"):
    csrf = await form_token(client)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await client.post(
        f"/login?lang={lang}",
        data={"username": username, "password": password, "csrf": csrf},
        headers=headers,
        allow_redirects=False,
    )


async def fail_from(client, forwarded_for) -> None:
    """As many wrong passwords from one address as it may send (each for another
    username, so that no username's own limit is reached)."""
    for n in range(MAX_FAILURES_PER_ADDRESS):
        wrong = await api_sign_in(client, f"guessed{n}", "guess", forwarded_for)
        assert wrong.status == 401


async def test_behind_a_trusted_proxy_each_client_is_counted_apart(console_app):
    client = await console_app(trusted_proxies="127.0.0.1")
    await fail_from(client, "198.51.100.1")
    assert (await api_sign_in(client, "agent1", "pw", "198.51.100.1")).status == 429
    assert (await page_sign_in(client, "agent1", "pw", "198.51.100.1")).status == 429
    # another client behind the same proxy is not locked out
    assert (await api_sign_in(client, "agent1", "pw", "198.51.100.2")).status == 200
    assert (await page_sign_in(client, "agent1", "pw", "198.51.100.2")).status == 303


async def test_without_trusted_proxies_the_forwarded_header_is_ignored(console_app):
    client = await console_app()
    for n in range(MAX_FAILURES_PER_ADDRESS):
        # a client naming a new address each time is still the one address it is
        wrong = await api_sign_in(client, f"guessed{n}", "guess", f"198.51.100.{n}")
        assert wrong.status == 401
    assert (await api_sign_in(client, "agent1", "pw", "203.0.113.50")).status == 429
    assert (await page_sign_in(client, "agent1", "pw", "203.0.113.51")).status == 429


async def lock(client, username="agent2") -> None:
    for _ in range(MAX_FAILURES_PER_USER):
        assert (await api_sign_in(client, username, "guess")).status == 401


async def test_a_locked_api_sign_in_says_how_long(console_app):
    client = await console_app()
    await lock(client)
    blocked = await api_sign_in(client, "agent2", "pw")
    assert blocked.status == 429
    error = (await blocked.json())["error"]
    seconds = error["retry_after_seconds"]
    assert 0 < seconds <= FAILURE_WINDOW.total_seconds()
    assert blocked.headers["Retry-After"] == str(seconds)
    assert error["code"] == "too_many_attempts"
    minutes = math.ceil(seconds / 60)
    assert error["message"] == (f"Too many wrong passwords: try again in {minutes} minute(s).")
    chinese = await api_sign_in(client, "agent2", "pw", **{"Accept-Language": "zh-CN,zh"})
    assert chinese.status == 429
    message = (await chinese.json())["error"]["message"]
    assert f"请 {math.ceil(int(chinese.headers['Retry-After']) / 60)} 分钟后再试" in message


@pytest.mark.parametrize(
    ("lang", "says"),
    [("zh", "密码错误次数过多,请 {} 分钟后再试。"), ("en", "try again in {} minute(s).")],
    ids=["zh", "en"],
)
async def test_a_locked_page_sign_in_says_how_long(console_app, lang, says):
    client = await console_app()
    await lock(client)
    page = await page_sign_in(client, "agent2", "pw", lang=lang)
    assert page.status == 429
    seconds = int(page.headers["Retry-After"])
    assert 0 < seconds <= FAILURE_WINDOW.total_seconds()
    assert says.format(math.ceil(seconds / 60)) in await page.text()


async def test_an_api_sign_in_alone_counts_as_online_for_a_minute_at_most(console_app):
    """Only a console that is heard from (each housekeeping round) keeps an agent
    online for handoffs; an API sign-in is a minute's presence, not its token's 12 hours."""
    client = await console_app(service_hours="00:00-24:00")
    service = client.app[service_key]
    assert service.presence_ttl == PRESENCE_TTL == timedelta(minutes=1)
    agent_token = await api_token(client, "agent1")  # online, and no console

    async def handed_over(text: str) -> str:
        customer = Customer(client.base)
        await customer.connect()
        await customer.say(text)  # the bot is unreachable: to a person, if one is online
        await customer.until(lambda m: "队列" in (m.get("text") or "") or m.get("quick_replies"))
        await customer.disconnect()
        conversation = await service.find("web", customer.session_id)
        return conversation.state

    assert await handed_over("我要转人工") == "queued"
    # a minute later, with no console of theirs heard from
    async with service.sessions.begin() as session:
        agent = await session.scalar(select(Agent).where(Agent.username == "agent1"))
        agent.presence_at = now() - PRESENCE_TTL - timedelta(seconds=1)
    assert await handed_over("我要转人工") == "bot"  # nobody online: a callback is offered
    console = await Console(client.base).connect(agent_token)
    await run_once(service, grace_seconds=60)
    assert await handed_over("我要转人工") == "queued"
    await console.disconnect()
