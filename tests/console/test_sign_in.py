"""Sign-in limits as the routes apply them: the client's address behind a trusted
proxy."""

from __future__ import annotations

import pytest

from desk.sign_in import MAX_FAILURES_PER_ADDRESS
from tests.console.test_api import form_token
from tests.console_app import start_console


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
